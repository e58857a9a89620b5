"""Private incidents in lists across incidents, on SQLite and PostgreSQL: the dashboard's overview, closed list and
vendor pages, and the chat `scorecard`, leave them out in the database — neither shown nor counted — for anyone
who may not see them, exactly as if they did not exist."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import event, insert

from adapters.web import dashboard
from bot import render, views
from bot.access import Access
from bot.chat import RoomRef
from bot.clock import SimClock
from bot.playbooks import PlaybookLibrary
from bot.store import Database
from bot.store.tables import BadNewsRow, CommitmentRow, FollowUpRow, IncidentRow
from bot.tokens import api_user_id
from tests.conftest import PLAYBOOKS, START
from tests.harness import LOBBY, Harness

NOW = START + timedelta(days=3)
# (playbook, private) of each incident, and whether a viewer the allow list does not name sees it
KINDS = [
    ("default", None, True),
    ("billing-dispute", None, False),  # its playbook says private: true
    ("default", True, False),  # set private:yes
    ("billing-dispute", False, True),  # set private:no
    ("removed-since", None, False),  # a playbook that is gone counts as private
    ("hardware-rma", None, True),
]


@dataclass(frozen=True)
class Viewer:
    name: str
    sees_private: bool
    email: str = ""
    local: bool = False


async def seed(db: Database, *, open_: int, closed: int) -> dict[str, set[int]]:
    """``open_`` open and ``closed`` closed incidents, their kinds in turn; each open one with an overdue follow-up of
    its own vendor, a promise at risk and untold bad news. Returns the numbers a viewer not named may see."""
    rows: dict[Any, list[dict[str, Any]]] = {IncidentRow: [], FollowUpRow: [], CommitmentRow: [], BadNewsRow: []}
    public: dict[str, set[int]] = {"open": set(), "closed": set()}
    for n in range(1, open_ + closed + 1):
        playbook, private, seen = KINDS[n % len(KINDS)]
        state = "open" if n <= open_ else "closed"
        opened = START + timedelta(minutes=n)
        rows[IncidentRow].append(
            dict(
                number=n,
                title=f"{'Public' if seen else 'Secret'} incident {n}",
                severity=2,
                state=state,
                customer=f"Customer {n}",
                playbook=playbook,
                private=private,
                timezone="UTC",
                opened_by_id="dana",
                opened_by_name="dana",
                opened_at=opened,
                closed_at=opened + timedelta(hours=1) if state == "closed" else None,
                room_id=f"C{n:08d}",
                room_name=f"inc-{n}",
                update_prompts=0,
            )
        )
        if seen:
            public[state].add(n)
        if state == "closed":
            continue
        rows[FollowUpRow].append(
            dict(
                incident=n,
                number=1,
                vendor=f"vendor-{n}",
                known_vendor=False,
                ask="a tracking number",
                owner_id="lee",
                owner_name="lee",
                due=opened + timedelta(days=1),
                first_due=opened + timedelta(days=1),
                asked_at=opened,
                ladder="[]",
                timezone="UTC",
                remind_every_seconds=86400,
                escalate_after=2,
                state="waiting",
                chases=0,
                unanswered=0,
                rung=0,
                escalations=0,
            )
        )
        rows[CommitmentRow].append(
            dict(
                incident=n,
                number=1,
                promise="a replacement on site",
                due=opened + timedelta(days=4),
                author_id="dana",
                author_name="dana",
                made_at=opened,
                state="at_risk",
                at_risk_at=opened + timedelta(days=1),
                needs=json.dumps([1]),
            )
        )
        rows[BadNewsRow].append(
            dict(
                incident=n,
                number=1,
                trigger="vendor_escalated",
                what="the vendor is late",
                tell="the replacement is late",
                draft="",
                at=opened + timedelta(days=1),
            )
        )
    async with db.transaction() as store:
        for table, values in rows.items():
            if values:
                await store.session.execute(insert(table), values)
    return public


@asynccontextmanager
async def served(db: Database, viewer: Viewer) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """The dashboard's pages served on port 0 to ``viewer`` (as the sign-in would set them); GET a path's HTML."""

    @web.middleware
    async def as_viewer(request: web.Request, handler: Any) -> web.StreamResponse:
        request["viewer"] = viewer
        return await handler(request)

    application = web.Application(middlewares=[as_viewer])
    playbooks = PlaybookLibrary.load(PLAYBOOKS)
    dashboard.mount(application, db=db, playbooks=playbooks, clock=SimClock(NOW), keep=timedelta(0))
    runner = web.AppRunner(application, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:

            async def get(path: str) -> str:
                async with http.get(base + path) as response:
                    assert response.status == 200, f"{path}: {response.status}"
                    return await response.text()

            yield get
    finally:
        await runner.cleanup()


def numbers_on(html: str) -> set[int]:
    return {int(n) for n in re.findall(r"(?:Public|Secret) incident (\d+)", html)}


def heading(html: str, anchor: str) -> str:
    found = re.search(rf'<h2 id="{anchor}">([^<]*)</h2>', html)
    assert found, anchor
    return found.group(1).strip()


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 2, so that a handful of incidents makes several pages and full lists."""
    for name in ("OVERVIEW_LIMIT", "CLOSED_LIMIT", "LIST_LIMIT"):
        monkeypatch.setattr(dashboard, name, 2)


@pytest.mark.usefixtures("small_pages")
async def test_a_viewer_not_named_sees_no_private_incident_in_any_page_or_total(db: Database) -> None:
    public = await seed(db, open_=12, closed=12)
    async with served(db, Viewer("sam", sees_private=False)) as get:
        overview = await get("/")
        assert heading(overview, "open-h") == f"{len(public['open'])} open incidents"  # 6 of 12
        assert numbers_on(overview) and numbers_on(overview) <= public["open"]
        # each list across incidents: 2 shown, the rest counted without the private ones
        assert overview.count(f"… and {len(public['open']) - 2} more.") == 3
        seen_closed: set[int] = set()
        for page in (1, 2, 3, 4):
            closed = await get(f"/closed?page={page}")
            assert heading(closed, "closed-h") == f"{len(public['closed'])} closed incidents"
            seen_closed |= numbers_on(closed)
        assert seen_closed == public["closed"]  # page 2 and on: the public ones, none skipped
        vendors = await get("/vendors")
        shown = {int(n) for n in re.findall(r"vendor-(\d+)", vendors)}
        assert shown and shown <= public["open"]
    async with served(db, Viewer("sam", sees_private=True)) as get:  # the allow list names them
        overview = await get("/")
        assert heading(overview, "open-h") == "12 open incidents"
        assert overview.count("… and 10 more.") == 3
        assert heading(await get("/closed?page=3"), "closed-h") == "12 closed incidents"
        assert len(numbers_on(await get("/closed?page=6"))) == 2
        assert "vendor-2" in await get("/vendors")


async def test_the_read_models_page_and_count_only_what_the_viewer_may_see(db: Database) -> None:
    public = await seed(db, open_=12, closed=0)
    playbooks = PlaybookLibrary.load(PLAYBOOKS)
    outside = Access(playbooks).public()
    async with db.read() as store:
        pages = [
            await views.incident_list(store, playbooks=playbooks, now=NOW, limit=4, offset=offset, visible=outside)
            for offset in (0, 4)
        ]
        everything = await views.incident_list(store, playbooks=playbooks, now=NOW, limit=4, offset=4)
        late, late_total = await views.overdue_follow_ups(store, now=NOW, limit=2, visible=outside)
        risky, risky_total = await views.commitments_at_risk(store, now=NOW, limit=2, visible=outside)
        untold, untold_total = await views.untold_bad_news_page(store, now=NOW, limit=2, visible=outside)
        card = await views.scorecard(store, now=NOW, visible=outside)
    assert [p.total for p in pages] == [6, 6] and everything.total == 12
    assert {i.number for p in pages for i in p.items} == public["open"]
    assert len(pages[1].items) == 2  # the second page: what is left of the public ones
    assert (late_total, risky_total, untold_total) == (6, 6, 6)
    assert {x.incident for x in [*late, *risky, *untold]} <= public["open"]
    assert {s.vendor for s in card.vendors} == {f"vendor-{n}" for n in public["open"]}


async def test_the_overview_reads_in_the_same_few_statements_however_many_incidents(db: Database) -> None:
    statements: list[str] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    counts = []
    await seed(db, open_=6, closed=0)  # each with an overdue follow-up, a promise at risk and untold bad news
    for size in (6, 60):
        await seed_more(db, size)
        for everything in (True, False):
            statements.clear()
            board = dashboard.Dashboard(db=db, playbooks=PlaybookLibrary.load(PLAYBOOKS), clock=SimClock(NOW))
            await board._read_overview(NOW, everything=everything)
            counts.append(len(statements))
    assert counts[:2] == counts[2:], counts
    assert max(counts) <= 9, counts


async def seed_more(db: Database, size: int) -> None:
    """Open incidents up to ``size`` in all (numbers after those already there)."""
    async with db.read() as store:
        there = (await views.incident_list(store, playbooks=PlaybookLibrary.load(PLAYBOOKS), now=NOW)).total
    if there >= size:
        return
    async with db.transaction() as store:
        await store.session.execute(
            insert(IncidentRow),
            [
                dict(
                    number=n,
                    title=f"Public incident {n}",
                    severity=2,
                    state="open",
                    customer="Acme",
                    playbook=KINDS[n % len(KINDS)][0],
                    private=KINDS[n % len(KINDS)][1],
                    timezone="UTC",
                    opened_by_id="dana",
                    opened_by_name="dana",
                    opened_at=START,
                    update_prompts=0,
                )
                for n in range(there + 1, size + 1)
            ],
        )


PRIVATE_OPEN = 'open "Globex disputes the Q3 invoice" playbook:billing-dispute customer:"Globex" sev:2'
PUBLIC_OPEN = 'open "Router dead on arrival" customer:"Acme Retail" sev:2 playbook:default'


async def test_the_scorecard_counts_a_private_incident_only_in_its_own_war_room(db: Database) -> None:
    h = Harness(db)
    await h.ok(PRIVATE_OPEN)
    secret = h.room
    await h.ok('vendor initech "credit note for the Q3 invoice" due:1d')
    await h.ok('vendor tailspin "RCA" due:1d ref:TS-5521')  # a ticket a public incident will wait on too
    await h.ok(PUBLIC_OPEN)
    public = h.room
    await h.ok('vendor tailspin "RCA" due:1d ref:ts-5521')  # a copy of the private incident's ticket
    await h.ok('vendor northwind "replacement router" due:2d')
    await h.ok('open "Another secret" playbook:billing-dispute customer:"Umbrella" sev:3')
    other_secret = h.room

    async def card(room: RoomRef, user: str = "mallory") -> str:
        reply = await h.run("scorecard", user=user, room=room)
        assert reply.ok
        return render.plain_text(reply.messages[0])

    for room in (LOBBY, public, other_secret):  # as if the Globex incident did not exist
        score = await card(room)
        assert "Initech" not in score and "initech" not in score, score
        assert "Northwind" in score and "Tailspin" in score  # the shared ticket, once, through its public copy
        assert re.search(r"Tailspin Telecom: [^\n]*1 ask,", score), score
    assert "Initech" in await card(secret) or "initech" in await card(secret)
    refused = await h.run("scorecard initech", user="mallory", room=LOBBY)
    assert not refused.ok and "no follow-ups with a vendor matching 'initech'" in refused.messages[0].title
    assert (await h.run("scorecard initech", user="dana", room=secret)).ok


async def test_an_api_tokens_answer_is_never_handed_to_a_person_in_the_same_room(db: Database) -> None:
    h = Harness(db)
    await h.ok(PRIVATE_OPEN)
    await h.ok(PUBLIC_OPEN)
    public = h.room
    token = await h.run("list", user=api_user_id("ci"), room=public)  # a token sees every incident
    assert token.ok and "Globex" in str(token.messages)
    person = await h.run("list", user="mallory", room=public)  # the same words in the same room, moments later
    assert person.ok and "Globex" not in str(person.messages) and "Acme Retail" in str(person.messages)
