"""Reshaping an incident as the crisis turns: a severity change that keeps the update time promised to the
customer — on SQLite and PostgreSQL, as an adapter drives the core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store import Database
from tests.harness import Harness


def prompts(h: Harness) -> list[str]:
    return [
        p.text
        for p in h.room_posts
        if p.text.startswith(("📣 INC-1: customer update due", "📣 INC-1: customer update over"))
    ]


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
