"""Vendor follow-ups chased by the reminder engine, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import render
from bot.chat import UserRef
from bot.errors import ChatError
from bot.store import Database
from tests.harness import Harness

RMA = 'open "Router dead on arrival" sev:2 customer:"Acme Retail" playbook:hardware-rma impact:"DC-3 on backup link"'
ASK = 'vendor northwind "tracking number for the replacement unit" due:1h ref:RMA-4471 owner:@lee'


def chases(h: Harness) -> list[str]:
    return [p.text for p in h.room_posts if p.text[:1] in "⏰🔺🅱"]


async def rma(db: Database) -> Harness:
    h = Harness(db)
    await h.ok(RMA, user="dana")
    await h.ok(ASK, user="dana")
    return h


async def test_known_vendor_brings_its_ladder_and_rhythm(db: Database) -> None:
    h = await rma(db)
    announced = h.room_posts[-1].text
    assert announced.startswith("📦 V1 Northwind Distribution: tracking number for the replacement unit (RMA-4471)")
    assert "First contact Sam Ortiz (Account rep), sam.ortiz@northwind.example" in announced
    assert "reminders every 1d in the vendor's business hours, escalating after 2 unanswered" in announced


async def test_unknown_vendor_is_accepted_with_a_warning_and_a_ladder_of_our_own_people(db: Database) -> None:
    h = await rma(db)
    reply = await h.run('vendor "Contoso Supply" "a second unit" due:2d')
    assert reply.ok and reply.messages[0].tone == "reminder"
    # dana asked and commands the incident: she is its first rung, and not its third
    assert (
        "No playbook knows 'Contoso Supply': it climbs a ladder of our own people, dana (owner) → partner-desk "
        "(vendor manager). Add the vendor to a playbook" in h.room_posts[-1].text
    )


async def test_overdue_follow_up_reminds_the_owner_at_the_due_time_with_the_current_contact(db: Database) -> None:
    h = await rma(db)
    await h.advance(timedelta(minutes=59))
    assert chases(h) == []
    await h.advance(timedelta(minutes=1))
    [post] = [p for p in h.room_posts if p.text.startswith("⏰")]
    assert post.message.mentions == (UserRef("lee", "lee"),)
    assert post.text.startswith("⏰ V1 Northwind Distribution: tracking number for the replacement unit (RMA-4471)")
    assert "It was due Mon 23 Nov 2026 09:00 CST, just now; chase 1." in post.text
    assert "Current contact: Sam Ortiz (Account rep), sam.ortiz@northwind.example" in post.text
    assert "[Heard back]  [Received]  [Escalate]  [Snooze 1h]" in post.text


async def test_overdue_follow_up_reaches_its_top_rung_within_three_business_days_then_posts_plan_b(
    db: Database,
) -> None:
    h = await rma(db)  # due Mon 23 Nov 09:00 CST; Northwind answers 08:00-17:00, three rungs, two chases a rung
    await h.advance(timedelta(days=2, hours=1))  # chases on Mon and Tue; halfway to the top by Tue 13:30
    posts = chases(h)
    assert [p[:2] for p in posts] == ["⏰ ", "⏰ ", "🔺 "]
    escalation = next(p for p in h.room_posts if p.text.startswith("🔺"))
    assert escalation.message.mentions == (UserRef("dana", "dana"), UserRef("lee", "lee"))  # commander, owner
    assert (
        "escalated to rung 2 of 3" in escalation.text
        and "Priya Raman (Channel manager), +1 312 555 0142" in escalation.text
    )
    assert "Draft to send to Priya Raman (Channel manager): Hi Priya" in escalation.text
    assert "We have chased twice through Sam Ortiz without an answer" in escalation.text
    assert "Our customer Acme Retail is affected: DC-3 on backup link" in escalation.text
    # the first chase says how long the rung has: two chases, or Tue 13:30 at the latest (halfway to the top)
    assert (
        "It climbs to Priya Raman (Channel manager) after 1 more unanswered reminder, and by Tue 24 Nov 2026 "
        "13:30 CST at the latest." in posts[0]
    )
    await h.advance(timedelta(days=8))
    posts = chases(h)
    # Wed a chase; Thu 09:00 the VP, three business days after the due time; Fri, Mon chases; Tue Plan B
    assert [p[:2] for p in posts] == ["⏰ ", "⏰ ", "🔺 ", "⏰ ", "🔺 ", "⏰ ", "⏰ ", "🅱 "]
    assert "Plan B: Buy the replacement unit from another distributor" in posts[-1]
    async with db.transaction() as store:
        events = await store.timeline(1)
    climbs = [e.at for e in events if e.kind.value == "escalated"]
    assert climbs == [datetime(2026, 11, 24, 19, 30, tzinfo=UTC), datetime(2026, 11, 26, 15, 0, tzinfo=UTC)]
    kinds = [e.kind.value for e in events]
    assert kinds.count("chased") == 5 and kinds.count("escalated") == 2 and kinds.count("plan_b") == 1


async def test_reminders_wait_for_business_hours_across_the_dst_change(db: Database) -> None:
    # Friday 6 March 2026, 16:30 in Chicago; US clocks go forward on Sunday the 8th.
    h = Harness(db, start=datetime(2026, 3, 6, 22, 30, tzinfo=UTC))
    await h.ok(RMA)
    await h.ok('vendor northwind "replacement unit" due:1h')  # due 17:30 CST, after hours
    await h.advance(timedelta(days=3))
    first = next(p for p in h.room_posts if p.text.startswith("⏰"))
    assert "It was due Fri 6 Mar 2026 17:30 CST" in first.text
    async with db.transaction() as store:
        [event] = [e for e in await store.timeline(1) if e.kind.value == "chased"]
    assert event.at == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # Monday 08:00 CDT, not 08:00 CST


async def test_heard_back_stops_the_chase_until_the_new_due_time(db: Database) -> None:
    h = await rma(db)
    await h.advance(timedelta(hours=1))
    reply = await h.ok('vendor heard V1 ships friday due:"fri 17:00"', user="lee")
    assert "ETA moved from Mon 23 Nov 2026 09:00 CST to Fri 27 Nov 2026 17:00 CST" in reply
    # a later ETA no promise needs is a notice for the room, not bad news for the customer
    assert h.room_posts[-1].text.startswith("ℹ INC-1 · internal: V1 Northwind Distribution moved its date")
    await h.advance(timedelta(days=3))
    assert len(chases(h)) == 1
    await h.advance(timedelta(days=1))  # Friday 17:00 passed; next business hour is Monday 08:00
    assert len(chases(h)) == 1
    await h.advance(timedelta(days=3))
    assert len(chases(h)) == 2 and "chase 2" in chases(h)[-1]


async def test_received_and_cancelled_follow_ups_are_never_chased_again(db: Database) -> None:
    h = await rma(db)
    await h.ok('vendor "Contoso Supply" "a second unit" due:1h')
    await h.ok("vendor done V1 tracking 1Z999", user="lee")
    await h.ok("vendor cancel V2 not needed any more")
    await h.advance(timedelta(days=4))  # two reminders and an escalation would have fired by now
    assert chases(h) == []
    again = await h.run("vendor heard V1")
    assert not again.ok
    assert again.messages[0].title == "V1 is already received; you cannot record that you heard back — nothing changed"


async def test_closing_the_incident_stops_every_reminder(db: Database) -> None:
    h = await rma(db)
    await h.ok('close unresolved "bought elsewhere"')
    assert await h.advance(timedelta(days=30)) == 0
    assert chases(h) == []


async def test_snooze_pushes_the_next_chase_back(db: Database) -> None:
    h = await rma(db)
    await h.advance(timedelta(minutes=30))
    assert await h.ok("vendor snooze V1 4h", user="lee") == "INC-1: V1 snoozed until Mon 23 Nov 2026 12:30 CST"
    await h.advance(timedelta(hours=3, minutes=59))
    assert chases(h) == []
    await h.advance(timedelta(minutes=1))
    assert len(chases(h)) == 1


async def test_manual_escalation_climbs_now_and_ends_in_plan_b(db: Database) -> None:
    h = await rma(db)
    await h.ok('commit "replacement on site" due:3d needs:V1')
    for n, expected in enumerate(("rung 2 of 3", "rung 3 of 3", "the ladder is exhausted"), start=1):
        await h.ok("vendor escalate V1 customer is furious")
        climb, bad_news = h.room_posts[-2:]
        assert expected in climb.text and bad_news.text.startswith(
            f"🚨 B{n} · Bad news for Acme Retail: V1 Northwind Distribution"
        )
        draft = bad_news.text[bad_news.text.index("Draft: ") :]
        assert "Northwind" not in draft and "from a supplier" in draft  # the customer hears no vendor names
        assert "RMA-4471" not in draft and "tracking number" not in draft  # nor our refs, nor the ask's words


async def test_a_failed_post_is_retried_after_its_lease_and_lost_never(db: Database) -> None:
    h = await rma(db)
    h.chat.fail["post"] = ChatError("ratelimited")
    await h.advance(timedelta(hours=1))
    assert chases(h) == []  # the post failed; the firing rolled back
    await h.advance(timedelta(minutes=5))  # the lease (2 min) has run out
    assert len(chases(h)) == 1 and "chase 1" in chases(h)[0]


async def test_pending_reminders_survive_a_restart(database_url: str) -> None:
    first = Database(database_url)
    await first.upgrade()
    h = await rma(first)
    await first.dispose()
    second = Database(database_url)
    h2 = Harness(second, chat=h.chat)
    h2.room = h.room
    await h2.advance(timedelta(hours=2))
    assert len(chases(h2)) == 1
    await second.dispose()


async def test_vendors_lists_follow_ups_and_scorecard_ranks_the_slowest_first(db: Database) -> None:
    h = await rma(db)
    await h.ok('vendor "Contoso Supply" "a second unit" due:2h')
    await h.advance(timedelta(hours=1))
    await h.ok("vendor heard V2 on its way")
    await h.advance(timedelta(days=3))
    listing = (await h.run("vendors")).messages[0]
    assert listing.title == "INC-1: 2 follow-ups"
    score = (await h.run("scorecard")).messages[0]
    from bot.render import plain_text

    lines = plain_text(score).splitlines()
    assert lines[1].startswith("  • 1. Northwind Distribution: hears back in —")
    assert lines[2].startswith("  • 2. Contoso Supply: hears back in 1h")
    bad = await h.run("scorecard nobody")
    assert not bad.ok


async def test_summary_has_vendor_figures_and_the_single_contact_path(db: Database) -> None:
    h = await rma(db)
    await h.advance(timedelta(days=2, hours=1))
    await h.ok("vendor heard V1 shipping today", user="lee")
    h.later(timedelta(hours=2))
    await h.ok("vendor done V1 delivered", user="lee")
    await h.ok("resolve")
    await h.ok("close")
    async with db.transaction() as store:
        _, data = await store.summary(1)  # type: ignore[misc]
    [f] = data["follow_ups"]
    assert f["chases"] == 2 and f["escalations"] == 1 and f["rung_reached"] == 2
    assert f["time_to_hear_back_minutes"] == (2 * 24 * 60 + 60) and f["time_to_receive_minutes"] == (2 * 24 * 60 + 180)
    assert any(x.startswith("Northwind Distribution is a single contact path") for x in data["findings"])


async def test_a_vendor_in_no_playbook_reaches_the_exec_sponsor_within_three_business_days_never_via_its_owner(
    db: Database,
) -> None:
    h = Harness(db)  # Monday 23 Nov 2026 14:00 UTC
    # $300k at risk passes the RMA playbook's exec line: the VP of customer success sponsors it
    await h.ok(RMA + " at-risk:300k", user="dana")
    await h.ok('vendor "Contoso Supply" "a second unit" due:1h owner:@lee')
    assert (
        "lee (owner) → partner-desk (vendor manager) → dana (incident commander) → vp-customer-success (exec sponsor)"
        in (h.room_posts[-1].text)
    )
    await h.advance(timedelta(days=3, hours=1))  # due Mon 15:00 UTC; no business hours: weekdays count, all day
    climbs = [p for p in h.room_posts if p.text.startswith("🔺")]
    assert [p.text.split(" escalated to ")[1].split("\n")[0] for p in climbs] == [
        "rung 2 of 4",
        "rung 3 of 4",
        "rung 4 of 4",
    ]
    async with db.transaction() as store:
        at = [e.at for e in await store.timeline(1) if e.kind.value == "escalated"]
    assert at[-1] <= datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # the top rung within 3 business days of the due time
    for post, (who, role) in zip(
        climbs,
        (("partner-desk", "Vendor manager"), ("dana", "Incident commander"), ("vp-customer-success", "Exec sponsor")),
        strict=True,
    ):
        assert f"Draft to send to {who} ({role}): Hi {who}" in post.text
        assert UserRef(who, who) in post.message.mentions and "Hi lee" not in post.text
        assert (
            "lee has chased Contoso Supply" in post.text
            or "through partner-desk" in post.text
            or "through dana" in post.text
        )
        assert "Can you take it up with Contoso Supply's management, or decide our Plan B" in post.text


async def test_each_later_eta_after_the_due_time_is_a_slip_that_climbs_a_rung_and_keeps_the_first_due_time(
    db: Database,
) -> None:
    h = Harness(db)
    await h.ok(RMA + " at-risk:300k", user="dana")
    await h.ok('vendor "Contoso Supply" "a second unit" due:1h owner:@lee')  # due Mon 23 Nov 15:00 UTC
    for slip in (1, 2, 3):
        await h.advance(timedelta(hours=1, minutes=5))  # just past the current due time: chased once
        reply = await h.ok('vendor heard V1 "next week, sorry" due:1d', user="lee")
        assert f"slip {slip} since it was first due Mon 23 Nov 2026 09:00 CST" in reply
        climb = next(p for p in reversed(h.room_posts) if p.text.startswith("🔺"))
        assert f"escalated to rung {slip + 1} of 4" in climb.text
        assert (
            "moved its date again" if slip > 1 else "moved its date, from"
        ) in climb.text and f"slip {slip} since it was first due" in climb.text
        await h.advance(timedelta(days=1) - timedelta(hours=1, minutes=5))  # to the new due time
    assert len([p for p in h.room_posts if p.text.startswith("🔺")]) == 3  # one rung a slip, nothing more
    status = render.plain_text((await h.run("status")).messages[0])
    assert "(first due Mon 23 Nov 2026 09:00 CST, 3 slips)" in status
    assert "Contoso Supply: " in (score := render.plain_text((await h.run("scorecard")).messages[0]))
    assert "slipped its date 3 times" in score
    await h.ok("vendor done V1 arrived", user="lee")
    await h.ok("resolve")
    await h.ok("close")
    async with db.transaction() as store:
        markdown, data = await store.summary(1)  # type: ignore[misc]
    [f] = data["follow_ups"]
    assert f["first_due"] == "2026-11-23T15:00:00+00:00" and f["due"] == "2026-11-26T15:05:00+00:00"
    assert f["slips"] == 3 and f["rung_reached"] == 4
    assert "due Thu 26 Nov 2026 09:05 CST (first due Mon 23 Nov 2026 09:00 CST, 3 slips)" in markdown


async def test_a_later_eta_before_the_due_time_moves_the_date_without_climbing(db: Database) -> None:
    h = await rma(db)
    reply = await h.ok('vendor heard V1 ships wednesday due:"wed 17:00"', user="lee")
    assert "ETA moved from Mon 23 Nov 2026 09:00 CST to Wed 25 Nov 2026 17:00 CST" in reply and "slip" not in reply
    assert chases(h) == []


async def test_a_follow_up_due_on_sunday_evening_puts_its_promise_at_risk_then_the_chase_waits_for_monday(
    db: Database,
) -> None:
    friday = datetime(2026, 2, 27, 15, 0, tzinfo=UTC)  # Fri 27 Feb 2026 09:00 in Chicago
    h = Harness(db, start=friday)
    await h.ok(RMA)
    await h.ok('vendor northwind "replacement unit" due:"sun 20:00" owner:@lee')
    await h.ok('commit "replacement router on site" due:"tue 17:00" needs:V1')
    await h.advance(timedelta(days=2, hours=11))  # to Sunday 20:00 in Chicago
    news = [p for p in h.room_posts if p.text.startswith("🚨")]
    assert len(news) == 1 and "V1 Northwind Distribution is overdue" in news[0].text
    assert chases(h) == []  # Northwind is closed: nobody is chased on a Sunday night
    async with db.transaction() as store:
        [promise] = await store.commitments(1)
        [f] = await store.follow_ups(1)
    assert promise.state.value == "at_risk" and promise.at_risk_at == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert f.state.value == "overdue" and f.chases == 0
    await h.advance(timedelta(hours=12))  # Monday 08:00 in Chicago: the vendor opens, the first chase goes out
    assert len(chases(h)) == 1 and "chase 1" in chases(h)[0]
    assert len([p for p in h.room_posts if p.text.startswith("🚨")]) == 1  # the promise was told once
    # Three business days of Northwind's hours from Monday 08:00 end at Wednesday's closing time: the VP hears then.
    await h.advance(timedelta(days=2, hours=9))  # to Wednesday 17:00 in Chicago
    async with db.transaction() as store:
        climbs = [e.at for e in await store.timeline(1) if e.kind.value == "escalated"]
    assert climbs == [datetime(2026, 3, 3, 18, 30, tzinfo=UTC), datetime(2026, 3, 4, 23, 0, tzinfo=UTC)]
    assert "escalated to rung 3 of 3" in [p for p in chases(h) if p.startswith("🔺")][-1]
