"""The customer's voice: customer fields, the guard, honest telling, bad news that follows the facts.

On SQLite and PostgreSQL, through the core as an adapter drives it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.store import Database
from tests.harness import Harness
from tests.integration.test_customer import summary
from tests.integration.test_email import Mail

RMA = 'open "Northwind RMA: core router dead" sev:2 customer:"Acme Retail" playbook:hardware-rma'
ASK = 'vendor northwind "replacement router" due:1d ref:RMA-4471'


def drafts(h: Harness) -> list[str]:
    """The customer's words of every prompt posted so far: the text after "Draft: ", up to its end of line."""
    return [p.text.split("Draft: ", 1)[1].split("\n", 1)[0] for p in h.chat.posts if "\nDraft: " in p.text]


async def rma(db: Database, **kwargs: Any) -> Harness:
    h = Harness(db, **kwargs)
    await h.ok(RMA)
    await h.ok("role comms @lee")
    return h


async def test_an_update_that_tells_bad_news_it_does_not_mention_is_called_out_and_is_a_finding(db: Database) -> None:
    h = await rma(db)
    await h.ok(ASK + ' customer:"the replacement router"')
    await h.ok('commit "a working router on site" due:2d needs:V1')
    await h.advance(timedelta(hours=26))  # V1 overdue in Northwind's business hours: C1 at risk, B1
    vague = await h.ok("update told them it's taking a bit longer tells:B1", user="lee")
    assert "It tells B1. ⚠ U1 does not mention B1" in vague
    assert "record it with `update … tells:B1`" in vague
    # the honest correction: an update that says it tells B1 again, for real
    honest = await h.ok("update told them the replacement router is late tells:B1", user="lee")
    assert "It tells B1." in honest and "does not mention" not in honest
    again = await h.run("update we are on it tells:B1", user="lee")
    assert not again.ok and again.messages[0].title.startswith("B1 was already told in U2")
    await h.ok('close unresolved "the distributor never shipped"')
    [b1] = (await summary(h))["bad_news"]
    assert b1["update"] == "U2" and b1["said"] == "told them the replacement router is late" and b1["mentioned"]


async def test_the_summary_lists_bad_news_marked_told_by_an_update_that_never_said_it(db: Database) -> None:
    h = await rma(db)
    await h.ok(ASK)
    await h.ok('commit "a working router on site" due:2d needs:V1')
    await h.advance(timedelta(hours=26))
    await h.ok("update told them it's taking a bit longer tells:B1", user="lee")
    await h.ok('close unresolved "the distributor never shipped"')
    data = await summary(h)
    [b1] = data["bad_news"]
    assert b1["said"] == "told them it's taking a bit longer" and b1["mentioned"] is False
    assert any(f.startswith("B1 was marked told by U1, which does not mention it") for f in data["findings"])
    async with h.db.read() as store:
        stored = await store.summary(1)
    assert stored is not None
    markdown = stored[0]
    assert '(U1: "told them it\'s taking a bit longer"), which does not mention it' in markdown


async def test_a_promise_kept_before_its_bad_news_was_told_makes_that_news_moot(db: Database) -> None:
    h = await rma(db)
    await h.ok('commit "a working router on site" due:3h')  # inside the 4h at-risk window: at risk at once
    await h.advance(timedelta(minutes=1))
    assert any(
        p.text.startswith("🚨 B1 · Bad news for Acme Retail: our promise of a working router") for p in h.room_posts
    )
    kept = await h.ok("commit kept C1")
    assert "B1 no longer to tell (moot" in kept
    status = "\n".join(m.title for m in (await h.run("status")).messages)
    assert "B1" not in status
    await h.advance(timedelta(hours=5))  # the update prompts go on: none may call C1 at risk
    later = drafts(h)[1:]
    assert later and not any("at risk" in d for d in later)
    await h.ok("resolve")
    assert "We kept our promise: a working router on site, by Monday, November 23, 2026 at 11:00 AM" in drafts(h)[-1]
    await h.ok("close")
    data = await summary(h)
    [b1] = data["bad_news"]
    assert b1["moot_at"] is not None and b1["told_at"] is None
    assert not any("never told" in f for f in data["findings"])
    async with h.db.read() as store:
        stored = await store.summary(1)
    assert stored is not None and "— moot: the promise was kept" in stored[0] and "never told" not in stored[0]


async def test_bad_news_untold_at_resolve_rides_the_final_prompt_and_comes_back_until_told(db: Database) -> None:
    h = await rma(db)
    await h.ok("sev 1 second site down")  # B1
    await h.ok("resolve")
    final = h.room_posts[-1].text
    assert final.startswith("📣 INC-1: send the final customer update")
    assert "The problem became more serious for you before we fixed it." in final  # B1 rides on the final draft
    await h.advance(timedelta(hours=1))  # cadence at sev 1: 1h
    again = [p.text for p in h.room_posts if "service is restored but the customer has not heard" in p.text]
    assert len(again) == 1 and "B1" in again[0]
    await h.ok("update sent as drafted", user="lee")  # the re-prompt's draft tells B1
    await h.advance(timedelta(hours=3))
    assert len([p for p in h.room_posts if "service is restored but the customer has not heard" in p.text]) == 1


async def test_closing_with_bad_news_untold_is_a_finding(db: Database) -> None:
    h = await rma(db)
    await h.ok("sev 1 second site down")
    await h.ok("resolve")
    await h.ok("close")
    findings = (await summary(h))["findings"]
    assert any(f.startswith("1 piece of bad news was never told to the customer: B1") for f in findings)


async def test_customer_fields_reach_the_draft_and_internal_words_do_not(db: Database) -> None:
    h = await rma(db)
    await h.ok('set headline:"the outage of your core router"')
    await h.ok(ASK + ' customer:"the replacement router"')
    await h.ok('commit "a working router on site" due:3d needs:V1')
    await h.ok('set doing:"we are shipping a replacement router"')
    await h.ok("note Sam at Northwind says the warehouse lost RMA-4471")
    await h.advance(timedelta(hours=4))  # the sev 2 cadence
    draft = drafts(h)[-1]
    assert draft.startswith("Here is our latest update on the outage of your core router.")
    assert "What we are doing: we are shipping a replacement router." in draft
    assert "The replacement router is expected by Tuesday, November 24, 2026 at 8:00 AM (Chicago time)." in draft
    assert "Our promise stands: a working router on site, by Thursday, November 26, 2026" in draft
    for internal in ("Northwind", "RMA-4471", "Sam", "core router dead", "major", "severity"):
        assert internal not in draft
    cleared = await h.ok("vendor customer V1 none")
    assert cleared == "INC-1: V1: the customer hears of it as a neutral phrase (no customer text)"
    await h.ok('commit reword C1 "a working router at your Dallas site"')
    await h.advance(timedelta(hours=4))
    draft = drafts(h)[-1]
    assert "What we need from a supplier is expected by" in draft
    assert "Our promise stands: a working router at your Dallas site, by" in draft


async def test_a_field_that_names_the_vendor_makes_the_draft_the_safe_skeleton_and_says_how_to_fix_it(
    db: Database,
) -> None:
    h = await rma(db)
    await h.ok(ASK)
    named = await h.ok('vendor customer V1 "the Northwind replacement"')
    assert "⚠ It names 'Northwind' (an alias of Northwind Distribution)" in named
    await h.ok('commit "a working router on site" due:3d needs:V1')
    await h.advance(timedelta(hours=4))
    prompt = [p.text for p in h.room_posts if p.text.startswith("📣 INC-1: customer update due")][-1]
    assert "Draft: Here is our latest update. We are still working on the problem, and we will update you " in prompt
    assert "Northwind replacement" not in prompt.split("Draft: ", 1)[1].split("\n")[0]
    assert (
        "⚠ Draft check: this draft is the safe skeleton, because V1's customer text names 'Northwind' (an alias of "
        'Northwind Distribution): fix it with `vendor customer V1 "…"`.'
    ) in prompt
    headline = await h.ok('set headline:"the Northwind delay"')
    assert "⚠ The headline names 'Northwind'" in headline
    await h.ok('set headline:"the outage of your core router"')
    await h.ok('vendor customer V1 "the replacement router"')
    await h.advance(timedelta(hours=4))
    assert drafts(h)[-1].startswith("Here is our latest update on the outage of your core router.")


async def test_update_send_refuses_an_internal_name_until_confirmed_and_records_nothing(db: Database) -> None:
    mail = Mail()
    h = await rma(db, mail=mail.out, mailbox=mail.box)
    await h.ok(ASK)
    await h.ok("set customer-contacts:it-ops@acme-retail.example")
    refused = await h.run('update send "Northwind has not shipped the router yet"', user="lee")
    assert not refused.ok
    assert refused.messages[0].title.startswith(
        "nothing was sent: the text names 'Northwind' (an alias of Northwind Distribution), which is internal; "
        "reword it, or send it as written with confirm:yes"
    )
    assert mail.out.sent == []
    async with h.db.read() as store:
        assert await store.updates(1) == []
    sent = await h.ok('update send "Northwind has not shipped the router yet" confirm:yes', user="lee")
    assert sent.startswith("INC-1: customer update emailed to it-ops@acme-retail.example")
    [email] = mail.out.sent
    assert email.text == "Northwind has not shipped the router yet"
    assert email.subject == "[INC-1] Update: The disruption at Acme Retail since Monday, November 23, 2026"
    bad = await h.run("update told them confirm:yes")
    assert not bad.ok and bad.messages[0].title.startswith("confirm: goes with `update send`")


async def test_bad_input_to_the_customer_fields_is_refused_and_changes_nothing(db: Database) -> None:
    h = await rma(db)
    await h.ok(ASK)
    for command, reason in (
        ("vendor customer V1", "say what the customer hears of it (or `none`)"),
        ("vendor customer V9 the router", "INC-1 has no V9"),
        ('vendor customer V1 "tell @channel"', "customer: is what the customer hears of it, in plain words"),
        ("rca customer the analysis", "INC-1 has no root cause yet"),
        ("commit reword C1", "say the promise as the customer should read it"),
        ("commit reword", "`commit reword` needs a commitment number like C1 and the new words"),
        ("commit reword C3 a router", "INC-1 has no C3"),
        ('set headline:"@here look"', "headline: must be plain words for the customer"),
        ('vendor acme "x" due:1d customer:""', "customer: is what the customer hears of it"),
        ("update send hello confirm:maybe", "confirm: is `yes`"),
    ):
        reply = await h.run(command)
        assert not reply.ok and reply.messages[0].title.startswith(reason), (command, reply.messages[0].title)
    async with h.db.read() as store:
        [f] = await store.follow_ups(1)
        assert f.customer_text is None and (await store.get_incident(1)).headline is None


async def test_telling_moot_bad_news_is_refused_and_records_nothing(db: Database) -> None:
    h = await rma(db)
    await h.ok(ASK)
    await h.ok('commit "a working router on site" due:2d needs:V1')
    await h.advance(timedelta(hours=26))  # V1 overdue: B1
    arrived = await h.ok("vendor done V1 on the dock")
    assert "B1 no longer to tell (moot: it arrived before the customer heard it was late)" in arrived
    refused = await h.run("update told them the router is late tells:B1", user="lee")
    assert not refused.ok and refused.messages[0].title.startswith("B1 is moot: what it was about was settled")
    async with h.db.read() as store:
        assert await store.updates(1) == []


async def test_the_overview_shows_untold_bad_news_in_the_incidents_zone_of_now(db: Database) -> None:
    h = await rma(db)
    await h.ok(ASK)
    await h.ok('commit "a working router on site" due:2d needs:V1')
    await h.advance(timedelta(hours=26))  # B1's line names V1's due time in Chicago's zone
    await h.ok("set tz:Paris")
    async with h.db.read() as store:
        [b1] = await store.untold_bad_news_of_open_incidents()
    assert "(due Tue 24 Nov 2026 15:00 CET)" in b1.what and "CST" not in b1.what
