"""Reshaping an incident as the crisis turns: the stakes as people say them, a severity change that keeps the
update time promised to the customer — on SQLite and PostgreSQL, as an adapter drives the core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import EventKind
from bot.store import Database
from tests.harness import Harness


def members(h: Harness, room: str) -> set[str]:
    return {u.id for u in h.chat.room_named(room).members}


def prompts(h: Harness) -> list[str]:
    return [
        p.text
        for p in h.room_posts
        if p.text.startswith(("📣 INC-1: customer update due", "📣 INC-1: customer update over"))
    ]


async def roles(db: Database) -> dict[str, str]:
    async with db.transaction() as store:
        return {r.role: r.person.id for r in await store.roles(1)}


# --- the stakes as people type them -----------------------------------------------------------------------


async def test_the_stakes_as_people_say_them_are_the_same_as_set(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Logs for RCA" sev:3 playbook:hardware-rma customer:"Acme Retail"')
    assert "revenue at risk: not stated → $70,000" in await h.ok("at-risk 70k")
    assert "cost per hour: not stated → $2,500/h" in await h.ok("cost 2500/h")
    assert "revenue at risk: $70,000 → $90,000" in await h.ok("at-risk:90k")
    both = await h.ok('at-risk:95k cost:"3k an hour"')
    assert "$95,000" in both and "$3,000/h" in both
    async with db.transaction() as store:
        incident = await store.get_incident(1)
        changed = [e for e in await store.timeline(1) if e.kind is EventKind.CHANGED]
    assert (incident.revenue_at_risk, incident.cost_per_hour) == (95000, 3000)
    assert len(changed) == 4 and all(e.data["stakes"] for e in changed)
    for bad in ("at-risk", "cost lots", "at-risk 5k extra words"):
        reply = await h.run(bad)
        assert not reply.ok and "\n" not in reply.messages[0].title, bad


async def test_a_cost_per_hour_past_the_line_pulls_in_the_sponsor_in_the_same_minute(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "POS registers freeze in 300 stores" sev:2 customer:"Acme Retail"')  # interop-defect
    assert "vp-engineering" not in members(h, "inc-1-pos-registers-freeze-in-300-stores")
    reply = await h.ok("cost 45k/h")
    assert "Exec sponsor pulled in: vp-engineering, vp-customer-success" in reply
    [sponsor] = [p for p in h.room_posts if p.text.startswith("👔")]
    assert "cost per hour $45,000/h is at or past the line ($25,000/h)" in sponsor.text
    assert {"vp-engineering", "vp-customer-success"} <= members(h, "inc-1-pos-registers-freeze-in-300-stores")
    async with db.transaction() as store:
        [pulled] = [e for e in await store.timeline(1) if e.kind is EventKind.EXEC_SPONSOR]
        [changed] = [e for e in await store.timeline(1) if e.kind is EventKind.CHANGED]
    assert pulled.at == changed.at == h.clock.now()
    assert (await roles(db))["exec_sponsor"] == "vp-engineering"


async def test_a_cost_per_hour_past_the_line_at_open_brings_the_sponsor_with_the_room(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "POS registers freeze in 300 stores" sev:2 cost:40k/h')
    assert (await roles(db))["exec_sponsor"] == "vp-engineering"
    assert "vp-engineering" in members(h, "inc-1-pos-registers-freeze-in-300-stores")


# --- severity keeps the promises made to the customer -------------------------------------------------------


async def test_a_lower_severity_keeps_the_next_update_time_promised_to_the_customer(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow" sev:2 customer:"Acme Retail" playbook:default')
    await h.advance(timedelta(minutes=30))
    await h.ok('update "we found the cause; next update tomorrow morning" next:"tomorrow 09:00"')
    reply = await h.ok("sev 3 workaround in place")  # a day's cadence would bring it at 14:30 tomorrow
    assert "next customer update due Tue 24 Nov 2026 09:00 UTC (the time promised to the customer)" in reply
    await h.advance(timedelta(hours=18, minutes=29))
    assert prompts(h) == []
    await h.advance(timedelta(minutes=1))
    assert len(prompts(h)) == 1 and h.clock.now() == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def test_a_higher_severity_brings_the_prompt_sooner_than_a_later_promise(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow" sev:3 customer:"Acme Retail" playbook:default')
    await h.ok('update "next update friday" next:"fri 17:00"')
    await h.ok("sev 2 more stores hit")  # every 4h now: sooner than friday
    await h.advance(timedelta(hours=3, minutes=59))
    assert prompts(h) == []
    await h.advance(timedelta(minutes=1))
    assert len(prompts(h)) == 1


async def test_a_higher_severity_keeps_a_sooner_promise(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow" sev:3 customer:"Acme Retail" playbook:default')
    await h.ok('update "we call you back in two hours" next:2h')
    await h.ok("sev 2 more stores hit")  # its 4h cadence would wait past the promise
    await h.advance(timedelta(hours=2))
    assert len(prompts(h)) == 1


async def test_after_lowering_from_1_to_3_no_prompt_comes_at_the_old_cadence(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "POS freeze" sev:1 customer:"Acme Retail" playbook:default')
    await h.advance(timedelta(hours=1))  # prompt 1, unanswered
    assert len(prompts(h)) == 1
    await h.advance(timedelta(minutes=10))
    reply = await h.ok("sev 3 stores back on a workaround")
    assert "next customer update due Tue 24 Nov 2026 15:00 UTC" in reply  # a day after the unanswered prompt
    await h.advance(timedelta(hours=23, minutes=49))
    assert len(prompts(h)) == 1  # no "prompt 2" an hour later at the severity-1 cadence
    await h.advance(timedelta(minutes=1))
    assert len(prompts(h)) == 2
    assert "customer update overdue — prompt 2" in prompts(h)[-1] and "every 1d" in prompts(h)[-1]
