"""The customer's private page over real HTTP: `share` in the war room, /c/<token> in a client without cookies.

Incidents are made through real commands; the page, its live part, its feed and its form are read back as the
customer would, and the war room's posts and timeline checked for what the team is told.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.email.local import LocalMailbox, LocalOutbox
from bot.chat import Invocation, UserRef
from bot.domain import EventKind
from bot.playbooks import PlaybookLibrary
from bot.render import plain_text
from bot.share import MAX_QUESTION, QUESTIONS_PER_HOUR, new_token
from bot.sharing import CustomerPages
from bot.store import Database
from bot.store.tables import CustomerLinkRow
from bot.summary import build_summary, to_markdown
from tests.conftest import PLAYBOOKS
from tests.harness import Harness
from tests.integration.test_dashboard import HOSTILE, Board, board_on, rma, text_of

INTERNAL = ("Edge router failed", "northwind", "Northwind", "RMA-4471", "lee", "sev 2", "dana", "4G backup link")


@pytest.fixture
async def board(database_url: str):  # type: ignore[no-untyped-def]
    async with board_on(database_url) as b:
        yield b


async def share(board: Board, text: str = "share", *, user: str = "dana") -> str:
    """Run `share` in the war room; the token of the link it printed."""
    reply = await board.app.warroom.handle(Invocation(text, UserRef(user, user), board.room))
    said = "\n".join(plain_text(m) for m in reply.messages)
    assert reply.ok, said
    found = re.search(r"/c/([A-Za-z0-9_-]+)", said)
    assert found is not None, said
    return found.group(1)


async def say(board: Board, text: str) -> str:
    reply = await board.app.warroom.handle(Invocation(text, UserRef("dana", "dana"), board.room))
    return "\n".join(plain_text(m) for m in reply.messages)


def posts(board: Board) -> list[str]:
    return [p.text for p in board.app.warroom.core.chat.posts]  # type: ignore[attr-defined]


async def test_share_prints_a_link_whose_page_shows_the_customer_words_only(board: Board) -> None:
    await rma(board)
    await board.run('set headline:"the outage of your DC-3 network" doing:"replacing the failed router"')
    token = await share(board)
    assert len(token) >= 43  # 32 random bytes: 256 bits
    async with board.http.get(f"{board.base}/c/{token}") as response:
        assert response.status == 200
        html = await response.text()
        headers = response.headers
    page = text_of(html)
    assert "About the outage of your DC-3 network" in page
    assert "What we are doing: Replacing the failed router." in page or "replacing the failed router" in page
    assert "at risk" in page and "replacement router on site at DC-3" in page  # C1 needs the late V1
    # The next update time in the incident's zone (the playbook's America/Chicago), in customer words.
    assert "Central Time" in page or "Chicago" in page, page
    for word in INTERNAL:
        assert word not in page, f"the page names {word!r}"
    # Safe by construction: strict CSP, no referrer, not indexed, no cookie, nothing from elsewhere.
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in headers["X-Robots-Tag"] and '<meta name="robots" content="noindex' in html
    assert "Set-Cookie" not in headers
    assert not re.search(r"""(src|href)=["']https?://""", html)


async def test_the_page_shows_each_update_sent_newest_first_and_its_feed(board: Board) -> None:
    await rma(board)
    token = await share(board)
    before = text_of(await board.page(f"/c/{token}/live"))
    assert "We have not sent you an update yet." in before  # `update told …` is the team's record, not a text sent
    async with board.app.db.read() as store:
        untold = [b.ref for b in await store.bad_news(1) if b.pending]
        drafts = {b.ref: b.draft for b in await store.bad_news(1)}
    await board.run(f"update sent {untold[0]}")
    after = text_of(await board.page(f"/c/{token}/live"))
    assert "<html" not in await board.page(f"/c/{token}/live")  # the part the script swaps in
    first_sentence = drafts[untold[0]].split("\n")[0].strip()
    assert first_sentence and first_sentence in after
    feed = ET.fromstring(await board.page(f"/c/{token}/feed.atom"))
    atom = "{http://www.w3.org/2005/Atom}"
    entries = feed.findall(f"{atom}entry")
    assert len(entries) == 1 and first_sentence in (entries[0].findtext(f"{atom}content") or "")
    for word in INTERNAL:
        assert word not in ET.tostring(feed, encoding="unicode")


async def test_revoked_unknown_and_ended_links_are_the_same_404_everywhere(board: Board) -> None:
    await rma(board)
    token = await share(board)
    other = await share(board)
    _, unknown_body = await board.get(f"/c/{new_token()}")
    assert "There is no page at this address" in unknown_body
    assert "revoked link 1" in await say(board, "share revoke 1")
    for path in ("", "/live", "/feed.atom", "/events"):
        status, body = await board.get(f"/c/{token}{path}")
        assert (status, body) == (404, unknown_body), path
        status, body = await board.get(f"/c/{new_token()}{path}")
        assert (status, body) == (404, unknown_body), path
    async with board.http.post(f"{board.base}/c/{token}/ask", data={"question": "hello"}) as response:
        assert response.status == 404 and await response.text() == unknown_body
    assert (await board.get(f"/c/{other}"))[0] == 200  # the other link lives on
    listed = await say(board, "share list")
    assert "link 1: revoked" in listed and "link 2: live" in listed and "last opened" in listed
    assert "nothing to revoke" in await say(board, "share revoke 1")
    assert "no link 7" in await say(board, "share revoke 7")
    # Closed: the link lives 30 days more, then ends by itself.
    await board.run("resolve")
    await board.run("close")
    await board.later(timedelta(days=29))
    assert (await board.get(f"/c/{other}"))[0] == 200
    await board.later(timedelta(days=1, minutes=1))
    assert await board.get(f"/c/{other}") == (404, unknown_body)
    assert "ended 30 days after close" in await say(board, "share list")
    # Only the hash of a token is kept.
    async with board.app.db.read() as store:
        hashes = list((await store.session.execute(select(CustomerLinkRow.token_hash))).scalars())
    assert token not in hashes and other not in hashes and len(hashes) == 2


async def test_revoke_without_a_number_ends_every_link(board: Board) -> None:
    await rma(board)
    tokens = [await share(board), await share(board)]
    assert "revoked link 1, link 2" in await say(board, "share revoke")
    for token in tokens:
        assert (await board.get(f"/c/{token}"))[0] == 404


async def test_the_customer_asks_from_the_page_and_the_room_reads_it_quoted(board: Board) -> None:
    await rma(board)
    token = await share(board)
    question = f"Is the router still coming on Friday? {HOSTILE} <!channel>"
    async with board.http.post(
        f"{board.base}/c/{token}/ask", data={"question": question}, allow_redirects=False
    ) as response:
        assert response.status == 303 and response.headers["Location"] == f"/c/{token}?sent=1#ask"
    asked = [p for p in posts(board) if "asks, from their page" in p]
    assert len(asked) == 1 and f"> {question}" in asked[0]
    async with board.app.db.read() as store:
        events = [e for e in await store.timeline(1) if e.kind is EventKind.CUSTOMER_ASKED]
    assert len(events) == 1 and question in events[0].text
    page = await board.page(f"/c/{token}?sent=1")
    assert "Thank you: the team has your message." in page
    # Too long: refused with the words kept in the form, nothing posted.
    async with board.http.post(f"{board.base}/c/{token}/ask", data={"question": "x" * (MAX_QUESTION + 1)}) as r:
        assert r.status == 400 and "longer than 2,000 characters" in await r.text()
    async with board.http.post(f"{board.base}/c/{token}/ask", data={"question": "   "}) as r:
        assert r.status == 400
    # A few an hour per link: the next is refused until the hour has passed.
    for n in range(QUESTIONS_PER_HOUR - 1):
        async with board.http.post(f"{board.base}/c/{token}/ask", data={"question": f"q{n}"}) as r:
            assert r.status == 200, n  # followed the 303 back to the page
    async with board.http.post(f"{board.base}/c/{token}/ask", data={"question": "one more"}) as r:
        assert r.status == 429
    assert len([p for p in posts(board) if "asks, from their page" in p]) == QUESTIONS_PER_HOUR
    await board.later(timedelta(hours=1, minutes=1))
    async with board.http.post(f"{board.base}/c/{token}/ask", data={"question": "one more"}) as r:
        assert r.status == 200
    # A form posted from another site is refused.
    async with board.http.post(
        f"{board.base}/c/{token}/ask", data={"question": "x"}, headers={"Origin": "https://evil.example"}
    ) as r:
        assert r.status == 403
    async with board.http.post(
        f"{board.base}/c/{token}/ask", data={"question": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
    ) as r:
        assert r.status == 403


async def test_the_room_is_told_when_the_customer_first_opens_the_page_after_news(board: Board) -> None:
    await rma(board)  # B1 (V1 late) was raised two days in
    token = await share(board)
    await board.page(f"/c/{token}")
    await board.page(f"/c/{token}")  # a second look tells nothing new
    await board.page(f"/c/{token}/live")  # nor does the live part
    opened = [p for p in posts(board) if "opened their page" in p]
    assert len(opened) == 1 and re.search(r"Acme Retail opened their page at \d\d:\d\d, .+ after B\d", opened[0])
    async with board.app.db.read() as store:
        untold = [b.ref for b in await store.bad_news(1) if b.pending]
    await board.later(timedelta(minutes=2))
    await board.run(f"update sent {untold[0]}")
    await board.later(timedelta(minutes=6))
    await board.page(f"/c/{token}")
    opened = [p for p in posts(board) if "opened their page" in p]
    assert len(opened) == 2 and re.search(r"opened their page at \d\d:\d\d, 6m after U\d", opened[1]), opened
    async with board.app.db.read() as store:
        incident = await store.get_incident(1)
        summary = to_markdown(await build_summary(store, incident, {}))
    assert "the customer first saw it on their page" in summary
    assert "never opened" not in await say(board, "share list")


async def test_share_refuses_bad_words(board: Board) -> None:
    await rma(board)
    assert "not an email address" in await say(board, "share to:nobody")
    assert "takes list, revoke" in await say(board, "share everyone")
    assert "not a link number" in await say(board, "share revoke abc")


async def test_share_to_emails_the_link_through_the_customer_email_path(db: Database) -> None:
    outbox = LocalOutbox()
    h = Harness(db, mail=outbox, mailbox=LocalMailbox())
    await h.run('open "Edge router failed at DC-3" sev:2 customer:"Acme Retail" playbook:hardware-rma')
    await h.run('set headline:"the outage of your DC-3 network"')
    reply = await h.run("share to:it-ops@acme-retail.example")
    said = "\n".join(plain_text(m) for m in reply.messages)
    assert reply.ok and "emailed to it-ops@acme-retail.example" in said, said
    [mail] = outbox.sent
    token = re.search(r"/c/([A-Za-z0-9_-]+)", said)
    assert token is not None and f"/c/{token.group(1)}" in mail.text
    assert mail.to == ("it-ops@acme-retail.example",) and mail.subject.startswith("[INC-1] ")
    assert "the outage of your DC-3 network" in mail.text and "Edge router" not in mail.text + mail.subject
    async with db.read() as store:
        events = [e for e in await store.timeline(1) if e.kind is EventKind.EMAIL_SENT]
        updates = await store.updates(1)
        [link] = await store.links(1)
    assert len(events) == 1 and "link 1 to the customer's page emailed to it-ops@acme-retail.example" in events[0].text
    assert not updates  # the link is not an update: the cadence is unchanged
    assert link.emailed_to == ("it-ops@acme-retail.example",)
    assert "emailed to it-ops@acme-retail.example" in plain_text((await h.run("share list")).messages[0])
    # Without email set up, the link is still made and the answer says nothing was emailed.
    h2 = Harness(db)
    h2.room = h.room
    answer = "\n".join(plain_text(m) for m in (await h2.run("share to:cio@acme-retail.example")).messages)
    assert "/c/" in answer and "nothing was emailed" in answer


async def test_a_playbook_sets_how_long_links_live_after_close(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, folder)
    book = folder / "hardware-rma.yaml"
    book.write_text(book.read_text() + "\nshare_days: 2\n")
    h = Harness(db, playbooks=folder)
    await h.run('open "Edge router failed at DC-3" sev:2 customer:"Acme Retail" playbook:hardware-rma')
    said = "\n".join(plain_text(m) for m in (await h.run("share")).messages)
    token = re.search(r"/c/([A-Za-z0-9_-]+)", said)
    assert token is not None and "ends by itself 2 days after close" in said
    pages = CustomerPages(db, h.playbooks, h.clock)
    assert (await h.run("resolve")).ok and (await h.run("close")).ok
    await h.advance(timedelta(days=1, hours=23))
    assert await pages.read(token.group(1)) is not None
    await h.advance(timedelta(hours=1, minutes=1))
    assert await pages.read(token.group(1)) is None
    assert "closed more than 2 days ago" in plain_text((await h.run("share")).messages[0])
    book.write_text(book.read_text().replace("share_days: 2", "share_days: 0"))
    with pytest.raises(Exception, match="share_days"):
        PlaybookLibrary.load(folder)


async def test_a_french_playbook_gives_the_customer_a_french_page(database_url: str, tmp_path: Path) -> None:
    """The page is in the playbook's language, every word of it (labels too), with French dates in the zone."""
    folder = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, folder)
    book = folder / "hardware-rma.yaml"
    book.write_text(book.read_text(encoding="utf-8") + "\nlanguage: fr\n", encoding="utf-8")
    async with board_on(database_url, folder) as board:
        await rma(board)
        await board.run('set tz:Europe/Paris doing:"nous remplaçons le routeur en panne"')
        token = await share(board)
        async with board.http.get(f"{board.base}/c/{token}") as response:
            assert response.status == 200
            html = await response.text()
        page = text_of(html)
        feed = await board.page(f"/c/{token}/feed.atom")
    assert '<html lang="fr"' in html
    assert "À propos de la perturbation chez Acme Retail depuis le lundi 23 novembre 2026" in page
    assert "Ce que nous faisons : nous remplaçons le routeur en panne." in page
    assert "Nos engagements envers vous" in page and "menacé" in page  # C1 needs the late V1
    assert re.search(r"le samedi 28 novembre 2026 à 00:00 \(heure de Paris\)", page), page
    assert "Une question ou une correction pour l’équipe" in page
    for english in ("About ", "What we are doing", "at risk", "Our promises", "updates we sent", " AM", " PM"):
        assert english not in page, f"the French page says {english!r}"
    for word in INTERNAL:
        assert word not in page and word not in feed, f"the page names {word!r}"
