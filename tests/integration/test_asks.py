"""Every ask on its own clock: per-ask cadence, our own teams, the root cause, one vendor ticket for several
incidents — on SQLite and PostgreSQL, through the core as an adapter drives it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import render
from bot.chat import UserRef
from bot.store import Database
from bot.store.tables import EventRow, FollowUpRow, ReminderRow
from tests.harness import Harness

OUTAGE = 'open "Carrier outage at Globex stores" sev:2 customer:Globex playbook:service-provider-outage'
RCA_ASK = 'vendor tailspin "RCA for the 3 Dec outage" due:2d every:1bd ref:TS-5521'
PUSH = 'rca pushed "asked Globex\'s network lead to pull their own router logs"'


def chases(h: Harness, room: str | None = None) -> list[str]:
    posts = h.chat.posts_in(room) if room else h.room_posts
    return [p.text for p in posts if p.text[:1] in "⏰🔺🅱"]


async def chased_at(db: Database, incident: int = 1) -> list[datetime]:
    async with db.transaction() as store:
        return [e.at for e in await store.timeline(incident) if e.kind.value == "chased"]


async def summary(h: Harness, number: int = 1) -> dict[str, Any]:
    async with h.db.transaction() as store:
        stored = await store.summary(number)
    assert stored is not None
    return stored[1]


async def test_an_ask_with_every_1bd_is_chased_once_a_business_day_not_on_the_vendors_2h(db: Database) -> None:
    h = Harness(db)  # Monday 23 Nov 2026 14:00 UTC; London is on UTC in winter
    await h.ok(OUTAGE)
    reply = await h.ok(RCA_ASK)
    assert "V1 asked Tailspin Telecom for RCA for the 3 Dec outage, due Wed 25 Nov 2026 14:00 GMT" in reply
    assert "reminders every 1bd, escalating after 2 unanswered" in h.room_posts[-1].text
    await h.advance(timedelta(days=5))  # to Saturday 28th 14:00
    assert await chased_at(db) == [
        datetime(2026, 11, 25, 14, 0, tzinfo=UTC),  # due Wednesday: first chase
        datetime(2026, 11, 26, 14, 0, tzinfo=UTC),  # Thursday: second
    ]  # Friday the ladder is climbed, and nothing fires on Saturday
    escalated = [p for p in chases(h) if p.startswith("🔺")]
    assert len(escalated) == 1 and "Olivia Brooks" in escalated[0]


async def test_escalate_after_on_the_ask_overrides_the_vendors(db: Database) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    await h.ok('vendor tailspin "restore the Leeds circuit" due:1h escalate-after:1 every:30m')
    await h.advance(timedelta(hours=1, minutes=30))  # one chase, then (30 minutes on) the climb
    assert [p[:2] for p in chases(h)] == ["⏰ ", "🔺 "]
    assert "Next reminder escalates it." in chases(h)[0]


async def test_business_hours_still_apply_to_a_per_ask_cadence(db: Database) -> None:
    h = Harness(db, start=datetime(2026, 11, 27, 20, 0, tzinfo=UTC))  # Friday 14:00 in Chicago
    await h.ok('open "Router dead" sev:2 playbook:hardware-rma')
    await h.ok('vendor northwind "replacement unit" due:1h every:2h')
    await h.advance(timedelta(days=3, hours=1))
    assert await chased_at(db) == [
        datetime(2026, 11, 27, 21, 0, tzinfo=UTC),  # due Friday 15:00 CST: chase 1
        # 17:00 is closing time: the weekend passes in silence, Monday 08:00 CST is chase 2
        datetime(2026, 11, 30, 14, 0, tzinfo=UTC),
        # 10:00 it climbs to rung 2 (not a chase), then every 2 hours again
        datetime(2026, 11, 30, 18, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 20, 0, tzinfo=UTC),
    ]


async def test_a_root_cause_is_chased_on_the_playbooks_root_cause_cadence_and_reaches_the_top_in_time(
    db: Database,
) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    reply = await h.ok("rca tailspin due:1d ref:TS-9")
    assert reply.startswith("INC-1: R: the root cause is owned by Tailspin Telecom, due Tue 24 Nov 2026 14:00 GMT")
    assert "chased every 1bd" in reply
    await h.advance(timedelta(days=4))
    # Chased once a business day; the playbook wants three unanswered chases a rung, but the top rung is due three
    # business days after the due time (Tailspin's NOC has no business hours: every weekday counts, all day), so the
    # two climbs split that time: Thu 02:00 and Fri 14:00.
    assert await chased_at(db) == [datetime(2026, 11, d, h, 0, tzinfo=UTC) for d, h in ((24, 14), (25, 14), (27, 2))]
    assert [p[:2] for p in chases(h)] == ["⏰ ", "⏰ ", "🔺 ", "⏰ ", "🔺 "]
    assert "escalated to rung 3 of 3" in chases(h)[-1] and "Martin Novak (VP Service Delivery)" in chases(h)[-1]


async def test_a_root_cause_whose_date_slips_three_times_reaches_the_vp_instead_of_starting_over(db: Database) -> None:
    h = Harness(db)  # Monday 23 Nov 2026 14:00 GMT
    await h.ok(OUTAGE)
    await h.ok("rca tailspin due:4h ref:TS-9")
    for slip in (1, 2, 3):
        await h.advance(timedelta(hours=4, minutes=30))  # the date passed: chased once
        reply = await h.ok('rca heard "the analysis is in review" due:4h')
        assert f"slip {slip} since it was first due Mon 23 Nov 2026 18:00 GMT" in reply
    posts = [p for p in chases(h) if p[:1] in "🔺🅱"]
    assert "escalated to rung 2 of 3" in posts[0] and "Olivia Brooks" in posts[0]
    assert "escalated to rung 3 of 3" in posts[1] and "Martin Novak (VP Service Delivery)" in posts[1]
    assert posts[2].startswith("🅱") and "moved its date again (slip 3" in posts[2]
    status = render.plain_text((await h.run("status")).messages[0])
    assert "(first due Mon 23 Nov 2026 18:00 GMT, 3 slips)" in status
    await h.ok("resolve carrier restored")
    await h.ok("close")
    data = await summary(h)  # the summary gives the root cause's first due time beside its last, as status does
    assert (data["root_cause"]["first_due"], data["root_cause"]["slips"]) == ("2026-11-23T18:00:00+00:00", 3)
    async with h.db.read() as store:
        stored = await store.summary(1)
    assert stored is not None and "(first due Mon 23 Nov 2026 18:00 GMT, 3 slips)" in stored[0]
    assert any("first due Mon 23 Nov 2026 18:00 GMT, " in f for f in data["findings"] if "never delivered" in f)


async def test_the_root_cause_story_status_summary_finding_and_scorecard(db: Database) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    await h.ok(RCA_ASK)
    owned = await h.ok("rca tailspin due:5bd ref:TS-5521")
    assert "tracked as V1" in owned and "due Mon 30 Nov 2026 14:00 GMT" in owned  # one ask: V1 now tracks R
    pushed = await h.ok(PUSH)
    assert pushed == (
        "INC-1: R: Tailspin Telecom pushed its root-cause analysis onto the customer: asked Globex's network lead"
        " to pull their own router logs"
    )
    post = h.room_posts[-1]
    assert post.text.startswith("⚠ INC-1 · root cause: Tailspin Telecom pushed its root-cause analysis onto")
    assert post.message.mentions == (UserRef("dana", "dana"),)
    status = render.plain_text((await h.run("status")).messages[0])
    assert "Root cause" in status and "Owned by Tailspin Telecom (owner dana), tracked as V1 (TS-5521)" in status
    assert "⚠ pushed onto the customer" in status
    score = render.plain_text((await h.run("scorecard tailspin")).messages[0])
    assert "Tailspin Telecom:" in score and "pushed its root-cause analysis onto others once" in score
    await h.ok("resolve carrier restored")
    await h.ok("close")
    data = await summary(h)
    r = data["root_cause"]
    assert r["owner"] == "Tailspin Telecom" and r["delivered_at"] is None and r["reference"] == "TS-5521"
    assert r["pushed"][0]["onto"] == "customer"
    assert any(
        f.startswith("The root cause was never delivered: Tailspin Telecom owned it (V1") for f in data["findings"]
    )
    assert (
        "Tailspin Telecom pushed its root-cause analysis onto the customer: asked Globex's network lead to pull"
        " their own router logs." in data["findings"]
    )
    async with db.transaction() as store:
        markdown, _ = await store.summary(1)  # type: ignore[misc]
    section = markdown[markdown.index("## Root cause") : markdown.index("## Findings")]
    assert "- Owner: Tailspin Telecom (dana), V1: RCA for the 3 Dec outage (TS-5521)" in section
    assert "delivered: never" in section and "Pushed onto the customer" in section
    head = next(i for i, p in enumerate(h.room_posts) if p.text.startswith("Lessons learned"))
    posted = "\n".join(p.text for p in h.room_posts[head:])  # the head and the thread it continues in
    assert "Root cause" in posted and "Pushed onto the customer" in posted


async def test_rca_heard_and_done_move_the_root_cause_and_close_finds_nothing_left(db: Database) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    reply = await h.ok("rca us due:2d owner:@lee")
    assert reply.startswith("INC-1: R: the root cause is owned by us (owner lee), due Wed 25 Nov 2026 14:00 GMT")
    assert "Next check" in await h.ok("rca heard first draft is in review")
    assert "V1 received from us" in await h.ok("rca done fibre cut at the Leeds exchange")
    data_before = await h.run("status")
    assert "delivered" in render.plain_text(data_before.messages[0])
    await h.ok("resolve")
    await h.ok("close")
    findings = (await summary(h))["findings"]
    assert not [f for f in findings if "root cause" in f.lower()]


async def test_two_incidents_on_one_vendor_ticket_are_chased_once_in_both_rooms(db: Database) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    first = h.room
    await h.ok('vendor tailspin "RCA" due:1d ref:TS-5521')
    await h.ok('open "Voice down at Globex HQ" sev:2 customer:Globex playbook:service-provider-outage')
    second = h.room
    joined = await h.ok('vendor tailspin "RCA" due:1d ref:ts-5521', user="lee")
    assert "INC-2: V1 asked Tailspin Telecom for RCA" in joined
    assert "INC-1 already waits on Tailspin Telecom ticket TS-5521 as V1: one chase for both" in h.room_posts[-1].text
    await h.advance(timedelta(days=1))
    one, two = chases(h, first.name), chases(h, second.name)
    assert len(one) == 1 and len(two) == 1  # one chase, shown in both rooms
    assert one[0].startswith("⏰ V1 Tailspin Telecom: RCA (TS-5521) is overdue")
    async with db.transaction() as store:
        fired = (
            await store.session.execute(
                select(func.count())
                .select_from(ReminderRow)
                .where(ReminderRow.kind == "follow_up", ReminderRow.state == "done")
            )
        ).scalar_one()
    assert fired == 1
    [two_post] = [p for p in h.chat.posts_in(second) if p.text.startswith("⏰")]
    assert two_post.message.mentions == (UserRef("lee", "lee"),)  # each room's own owner
    # answered from the second room: both incidents heard back, one chase moves
    await h.ok('vendor heard V1 report due friday due:"fri 17:00"', room=second)
    heard = [p.text for p in h.chat.posts_in(first) if p.text.startswith("📬")]
    assert heard == [
        "📬 V1 heard back from Tailspin Telecom: report due friday; ETA moved from Tue 24 Nov 2026 14:00 GMT to "
        "Fri 27 Nov 2026 17:00 GMT"
    ]
    async with db.transaction() as store:
        v1, v2 = await store.follow_up(1, 1), await store.follow_up(2, 1)
    assert v1.due == v2.due and v1.heard_at == v2.heard_at and v2.lead == (1, 1)
    score = render.plain_text((await h.run("scorecard tailspin")).messages[0])
    assert "1 ask," in score
    # the first incident closes: the second keeps the chase
    await h.ok("resolve", room=first)
    await h.ok("close", room=first)
    for command in ("vendor done V1 delivered", "vendor snooze V1 3d", "vendor cancel V1 not ours now", "rca done"):
        refused = await h.run(command, room=first)  # the closed room no longer moves the ticket INC-2 waits on
        assert not refused.ok and refused.messages[0].title.startswith("INC-1 is closed; you cannot")
    async with db.transaction() as store:
        assert (await store.follow_up(2, 1)).is_open
    await h.advance(timedelta(days=5))
    assert len(chases(h, second.name)) > 1
    assert len(chases(h, first.name)) == 1
    [listed] = (await summary(h))["follow_ups"]  # the first incident's summary lists the shared ticket
    assert listed["vendor"] == "Tailspin Telecom" and listed["reference"] == "TS-5521"
    await h.ok("vendor done V1 report received", room=second)
    await h.ok("resolve", room=second)
    await h.ok("close", room=second)
    data = await summary(h, 2)
    assert data["follow_ups"][0]["state"] == "received"


async def test_an_ask_of_our_own_team_is_chased_and_climbs_to_the_teams_manager(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "POS registers freeze in 300 stores" sev:1 customer:"Acme Retail" playbook:interop-defect')
    reply = await h.ok('ask @payments-eng "confirm the POS patch is safe for 300 stores" due:4h')
    assert reply.startswith("INC-1: V1 asked our team payments-eng for confirm the POS patch is safe for 300 stores")
    announced = h.room_posts[-1]
    assert UserRef("payments-eng-oncall", "payments-eng-oncall") in announced.message.mentions
    assert "reminders every 2h" in announced.text  # the team's own rhythm from the playbook
    members = {u.id for u in h.chat.room_named(h.room.name).members}
    assert "payments-eng-oncall" in members  # the team's lead is pulled into the war room
    await h.advance(timedelta(hours=8, minutes=1))  # chased at 4h and 6h; at 8h it climbs
    posts = [p for p in h.room_posts if p.text[:1] in "⏰🔺"]
    assert [p.text[:2] for p in posts] == ["⏰ ", "⏰ ", "🔺 "]
    assert posts[0].text.startswith("⏰ V1 our team payments-eng: confirm the POS patch is safe for 300 stores")
    assert "nothing received from our team payments-eng" in posts[0].text
    assert UserRef("payments-eng-manager", "payments-eng-manager") in posts[2].message.mentions
    assert "escalated to rung 2 of 3" in posts[2].text
    drafts = [p.text[p.text.index("Draft: ") :] for p in h.room_posts if "Draft: " in p.text and "🔺" not in p.text]
    assert drafts and all("payments" not in d for d in drafts)  # the customer never hears our team's name
    score = render.plain_text((await h.run("scorecard")).messages[0])
    assert "payments-eng" not in score  # the vendor scorecard is for vendors


async def test_an_ask_of_a_person_climbs_to_the_commander(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow" sev:2 playbook:default')
    await h.ok('ask @sam "query plan of the checkout service" due:1h owner:@lee')
    await h.advance(timedelta(hours=9))  # the default playbook chases our teams every 4h
    climb = next(p for p in h.room_posts if p.text.startswith("🔺"))
    assert UserRef("dana", "dana") in climb.message.mentions and "rung 2 of 2" in climb.text


async def test_an_ask_the_commander_owns_climbs_past_them_to_the_exec_sponsor(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout down everywhere" sev:1 playbook:default')  # sev 1: the VP sponsors it
    await h.ok('ask @sam "query plan of the checkout service" due:1h')  # dana commands, and owns the ask
    await h.advance(timedelta(hours=9))
    climb = next(p for p in h.room_posts if p.text.startswith("🔺"))
    assert (
        "rung 2 of 2" in climb.text and UserRef("vp-customer-success", "vp-customer-success") in climb.message.mentions
    )
    assert "Draft to send to vp-customer-success (Exec sponsor): Hi vp-customer-success" in climb.text
    assert "Can you make sure sam can deliver it" in climb.text and "Hi dana" not in climb.text


async def snapshot(db: Database) -> tuple[int, ...]:
    async with db.transaction() as store:
        return tuple(
            [
                int((await store.session.execute(select(func.count()).select_from(t))).scalar_one())
                for t in (EventRow, FollowUpRow, ReminderRow)
            ]
        )


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("rca tailspin due:2d", "already has its root cause"),
        ('ask payments-engineering "a patch review" due:4h', "no playbook knows the team 'payments-engineering'"),
        ('vendor tailspin "restore" due:1h every:0m', "'0m' is no time at all"),
        ('vendor tailspin "restore" due:1h every:1m', "chase every 15m at the most often"),
        ('vendor tailspin "restore" due:1h escalate-after:0', "escalate-after: must be a number"),
        ('ask @noc "check the router" due:1h escalate-after:0', "escalate-after: must be a number"),
        ("resolve watch:-1d", "watch: '-1d' is negative"),
        ("resolve watch:60d", "watch for 30 days at most"),
        ("rca pushed something onto:partner", "onto: is `us` or `customer`"),
        ("rca", "`rca` needs who owns the root cause"),
        ("action done A9", "has no A9"),
        ("action snooze A1 90d", "30 days at most"),
    ],
)
async def test_bad_input_to_every_new_verb_is_one_line_and_changes_nothing(
    db: Database, command: str, reason: str
) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    await h.ok("rca tailspin due:5bd ref:TS-5521")
    await h.ok('action "add a diverse circuit" owner:@lee due:1w')
    before = await snapshot(db)
    reply = await h.run(command)
    assert not reply.ok and "\n" not in reply.messages[0].title, command
    assert reason in reply.messages[0].title
    assert await snapshot(db) == before, command


async def test_a_private_incident_shares_no_vendor_ticket_so_no_room_learns_its_number(db: Database) -> None:
    """One ticket is one chase — except with a private incident, which does not exist outside its room: each
    chases the ticket on its own, and neither room nor timeline names the other incident."""
    h = Harness(db)
    await h.ok(OUTAGE)
    await h.ok("set private:yes")
    private = h.room
    await h.ok('vendor tailspin "RCA" due:1d ref:TS-5521')
    await h.ok('open "Voice down at Globex HQ" sev:2 customer:Globex playbook:service-provider-outage')
    public = h.room
    joined = await h.ok('vendor tailspin "RCA" due:1d ref:ts-5521', user="lee")
    assert "INC-2: V1 asked Tailspin Telecom for RCA" in joined and "INC-1" not in joined
    assert not any("INC-1" in p.text for p in h.chat.posts_in(public))
    await h.advance(timedelta(days=1))
    assert len(chases(h, private.name)) == 1 and len(chases(h, public.name)) == 1  # each its own chase
    async with db.transaction() as store:
        v1, v2 = await store.follow_up(1, 1), await store.follow_up(2, 1)
        events = [e.text for n in (1, 2) for e in await store.timeline(n)]
    assert v2.lead is None and v1.lead is None
    assert not any("waited on by INC-" in t or "one ticket with INC-" in t for t in events)


async def test_a_cancelled_copy_of_a_shared_ticket_cannot_move_it_and_the_other_keeps_chasing(db: Database) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    first = h.room
    await h.ok('vendor tailspin "RCA" due:1d ref:TS-5521')
    await h.ok('open "Voice down at Globex HQ" sev:2 customer:Globex playbook:service-provider-outage')
    second = h.room
    await h.ok('vendor tailspin "RCA" due:1d ref:TS-5521')
    # the chasing incident cancels its ask: the second one takes the chase over
    cancelled = await h.ok("vendor cancel V1 Globex HQ escalated it themselves", room=first)
    assert "the other incidents waiting on the ticket keep chasing it" in cancelled
    refused = await h.run("vendor heard V1 nothing", room=first)
    assert not refused.ok
    said = refused.messages[0].title
    assert said == "V1 is already cancelled; you cannot record that you heard back — nothing changed"
    await h.advance(timedelta(days=1))
    assert len(chases(h, second.name)) == 1 and chases(h, first.name) == []
    async with db.transaction() as store:
        assert (await store.follow_up(2, 1)).lead is None and (await store.follow_up(1, 1)).lead == (2, 1)
    score = render.plain_text((await h.run("scorecard tailspin")).messages[0])
    assert "1 ask," in score
