"""Figures that add up, on SQLite and PostgreSQL: the frozen registers replayed, and one vendor answer time shown
the same in the summary, the scorecard, the dashboard and the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot import views
from bot.store import Database
from tests.harness import Harness


async def test_the_frozen_registers_cost_seven_hours_and_the_night_is_judged_at_severity_3(db: Database) -> None:
    h = Harness(db, start=datetime(2026, 3, 2, 8, 30, tzinfo=UTC))
    await h.ok('open "Registers frozen at every checkout" sev:1 playbook:default customer:"Globex Stores"')
    await h.ok("update told them we are on it")  # 08:30
    h.later(timedelta(hours=3))
    await h.ok("cost 45k/h")  # 11:30: it describes the impact since 08:30
    h.later(timedelta(hours=3, minutes=50))
    await h.ok("update told them the rollback has started")  # 15:20
    h.later(timedelta(minutes=10))
    await h.ok("mitigate registers rolled back")  # 15:30: the impact ends here
    async with db.read() as store:
        [brief] = (await views.incident_list(store, playbooks=h.playbooks, now=h.clock.now())).items
    assert brief.cost_so_far == Decimal(315_000)
    h.later(timedelta(hours=3, minutes=30))
    await h.ok("sev 3 stores back to normal")  # 19:00
    h.later(timedelta(hours=15, minutes=30))
    await h.ok("resolve")  # 10:30 the next day
    await h.ok("close")
    async with db.read() as store:
        stored = await store.summary(1)
        [brief] = (await views.incident_list(store, playbooks=h.playbooks, now=h.clock.now(), state="closed")).items
    assert stored is not None
    markdown, data = stored
    assert data["cost_of_impact"] == "315000" and data["impact_minutes"] == 420.0  # 7h, not 26h
    assert brief.cost_so_far == Decimal(315_000)  # the dashboard and the API say the same
    assert "- **Cost of impact:** $315,000 ($45,000/h over 7h of impact)" in markdown
    longest = data["figures"]["longest_silence"]
    assert (longest["minutes"], longest["severity"], longest["cadence_minutes"]) == (1150.0, 3, 1440.0)
    assert [(s["severity"], s["cadence_minutes"], s["over_minutes"]) for s in longest["stretches"]] == [
        (1, 60.0, 160.0),  # 15:20 to 19:00 at severity 1: 3h 40m against 1h
        (3, 1440.0, 0.0),  # 19:00 to 10:30 at severity 3: within its day
    ]
    assert (
        "- Longest silence: 19h 10m: 3h 40m at severity 1 (1h cadence, 2h 40m over), "
        "then 15h 30m at severity 3 (1d cadence, within it)"
    ) in markdown
