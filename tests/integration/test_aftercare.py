"""Action items on a clock, what close leaves behind, and the watch after resolve — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.chat import UserRef
from bot.store import Database
from tests.harness import Harness

RMA = 'open "Router dead" sev:2 customer:"Acme Retail" playbook:hardware-rma cost:2500/h'


async def summary(h: Harness) -> tuple[str, dict[str, Any]]:
    async with h.db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None
    return stored


def due_posts(h: Harness) -> list[str]:
    return [p.text for p in h.room_posts if p.text.startswith("⏳")]


async def test_an_action_with_a_due_date_reminds_its_owner_then_daily_until_done(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok('action "qualify a second distributor" owner:@lee due:1d')
    await h.advance(timedelta(hours=23, minutes=59))
    assert due_posts(h) == []
    await h.advance(timedelta(minutes=1))
    [post] = [p for p in h.room_posts if p.text.startswith("⏳")]
    assert post.text.startswith("⏳ A1 qualify a second distributor is due")
    assert post.message.mentions == (UserRef("lee", "lee"),)
    assert "[Done]  [Snooze 1d]" in post.text
    await h.advance(timedelta(days=1))
    assert len(due_posts(h)) == 2  # again a day later while it is open
    assert await h.ok("action snooze A1 3d", user="lee") == "INC-1: A1 snoozed until Sat 28 Nov 2026 08:00 CST"
    await h.advance(timedelta(days=2, hours=23))
    assert len(due_posts(h)) == 2
    await h.advance(timedelta(hours=1))
    assert len(due_posts(h)) == 3
    assert await h.ok("action done A1 Contoso Supply signed", user="lee") == (
        "INC-1: A1 done: qualify a second distributor (Contoso Supply signed)"
    )
    await h.advance(timedelta(days=5))
    assert len(due_posts(h)) == 3
    again = await h.run("action done A1")
    assert not again.ok and again.messages[0].title == "A1 is already done"


async def test_an_action_without_an_owner_reminds_the_commander(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok('action "keep a spare router per site" due:2h')
    await h.advance(timedelta(hours=2))
    [post] = [p for p in h.room_posts if p.text.startswith("⏳")]
    assert post.message.mentions == (UserRef("dana", "dana"),) and "(it has no owner)" in post.text


async def test_close_leaves_behind_findings_and_open_actions_carry_into_the_summary(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok('vendor northwind "tracking number" due:2d ref:RMA-4471')
    await h.ok('commit "router on site" due:3d')
    await h.ok('action "qualify a second distributor" owner:@lee due:2w')
    await h.ok('action "write the runbook"')
    await h.ok('action "spare router per site" owner:@sam due:30d')
    await h.ok("action done A3 ordered")
    await h.ok("resolve")
    await h.ok("close")
    markdown, data = await summary(h)
    findings = data["findings"]
    assert (
        "V1 Northwind Distribution: tracking number was still waiting at close: nobody received or cancelled it."
        in findings
    )
    assert (
        "C1 (router on site) was neither kept nor missed at close: the customer may still be waiting on it." in findings
    )
    assert any(f.startswith("Nobody was named to own the root cause") for f in findings)
    assert "A2 (write the runbook) has no owner and no due date: it may never be done." in findings
    assert not [f for f in findings if f.startswith(("A1 ", "A3 "))]
    actions = {a["ref"]: a for a in data["action_items"]}
    assert actions["A1"]["state"] == "open" and actions["A3"]["state"] == "done"
    assert "- A1: qualify a second distributor — owner lee, due Mon 7 Dec 2026 08:00 CST; open" in markdown
    head = next(i for i, p in enumerate(h.room_posts) if p.text.startswith("Lessons learned"))
    posted = "\n".join(p.text for p in h.room_posts[head:])  # the head and the thread it continues in
    # the posted summary shows the due dates as the export does
    assert "A1: qualify a second distributor — owner lee, due Mon 7 Dec 2026 08:00 CST; open" in posted
    assert "A3: spare router per site — owner sam, due" in posted and "; done " in posted
    assert "Nobody was named to own it." in posted  # the Root cause section


async def test_resolve_with_a_watch_prompts_comms_to_confirm_with_the_customer(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok("role comms @lee")
    reply = await h.ok("resolve new router racked watch:3d")
    assert reply == (
        "INC-1: Resolved: new router racked; watching for 3d: comms confirms with the customer "
        "Thu 26 Nov 2026 08:00 CST"
    )
    await h.advance(timedelta(days=2, hours=23))
    assert not [p for p in h.room_posts if p.text.startswith("🔭")]
    await h.advance(timedelta(hours=1))
    [post] = [p for p in h.room_posts if p.text.startswith("🔭")]
    assert post.text.startswith("🔭 INC-1: the watch is over — confirm with the customer that all is well")
    assert post.message.mentions == (UserRef("lee", "lee"),)
    assert (
        "Draft: Service was restored on Monday, November 23, 2026 at 8:00 AM (Chicago time), and the fix has held "
        "for 3 days. Is everything working as it should on your side?"
    ) in post.text
    recorded = await h.ok("update sent as drafted", user="lee")
    assert "U1 recorded: Service was restored on Monday" in recorded
    await h.ok("close")


async def test_a_reopen_during_the_watch_is_bad_news_and_ends_the_watch(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok("resolve watch:1d")
    await h.advance(timedelta(hours=5))
    await h.ok("reopen the router dropped again")
    assert any(p.text.startswith("🚨 B1 · Bad news for Acme Retail: the fix did not hold") for p in h.room_posts)
    await h.advance(timedelta(days=2))
    assert not [p for p in h.room_posts if p.text.startswith("🔭")]
