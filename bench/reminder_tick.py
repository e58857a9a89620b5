"""How much one reminder-engine tick costs as pending reminders grow, with 1% of them due.

Run: python bench/reminder_tick.py [--sizes 1000,10000,100000] [--postgres postgresql://postgres@127.0.0.1:5432/test]
A tick must cost in proportion to what is due, not to what is pending: compare `ms per due reminder` and
`empty tick` across sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from on_databases import add_postgres_argument, on_each_database
from sqlalchemy import insert

from adapters.memory import InMemoryChat, Room
from bot.chat import RoomRef
from bot.clock import SimClock
from bot.desk import Core
from bot.playbooks import PlaybookLibrary
from bot.reminders import ReminderEngine
from bot.service import Warroom
from bot.store import Database
from bot.store.tables import FollowUpRow, IncidentRow, ReminderRow

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
INCIDENTS = 100
ROUNDS = 3


class Sink(InMemoryChat):
    """Accepts posts to any room, like a workspace where every war room exists."""

    def _room(self, room: RoomRef) -> Room:
        return self.rooms.setdefault(room.id, Room(room, "", False))


async def seed(db: Database, pending: int) -> None:
    """``pending`` follow-ups with one reminder each: 1% due in each of ROUNDS minutes, the rest next year."""
    due_each = max(pending // 100, 1)
    async with db.transaction() as store:
        s = store.session
        await s.execute(
            insert(IncidentRow),
            [
                dict(
                    number=i,
                    title=f"Site {i} down",
                    severity=2,
                    state="open",
                    customer="Acme",
                    impact=None,
                    cost_per_hour=None,
                    revenue_at_risk=None,
                    playbook="default",
                    timezone="UTC",
                    opened_by_id="dana",
                    opened_by_name="dana",
                    opened_at=T0,
                    room_id=f"R{i}",
                    room_name=f"inc-{i}",
                )
                for i in range(1, INCIDENTS + 1)
            ],
        )
        ladder = json.dumps([{"name": "Sam", "role": "Rep", "contact": "sam@vendor.example"}])
        follow_ups, reminders = [], []
        for k in range(pending):
            incident, number = k % INCIDENTS + 1, k // INCIDENTS + 1
            bucket = k // due_each
            due = T0 + timedelta(minutes=bucket + 1) if bucket < ROUNDS else T0 + timedelta(days=365)
            follow_ups.append(
                dict(
                    incident=incident,
                    number=number,
                    vendor="Vendor",
                    known_vendor=True,
                    ask="a unit",
                    reference=None,
                    owner_id="lee",
                    owner_name="lee",
                    due=T0,
                    asked_at=T0,
                    ladder=ladder,
                    plan_b=None,
                    timezone="UTC",
                    business_hours=None,
                    remind_every_seconds=86400,
                    escalate_after=50,
                    state="waiting",
                    chases=0,
                    unanswered=0,
                    rung=0,
                    escalations=0,
                )
            )
            reminders.append(
                dict(
                    incident=incident,
                    kind="follow_up",
                    subject=number,
                    due_at=due,
                    state="pending",
                    attempts=0,
                    created_at=T0,
                )
            )
        for chunk in range(0, pending, 5000):
            await s.execute(insert(FollowUpRow), follow_ups[chunk : chunk + 5000])
            await s.execute(insert(ReminderRow), reminders[chunk : chunk + 5000])
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")


async def measure(url: str, pending: int) -> dict[str, float | int | str]:
    db = Database(url)
    await db.upgrade()
    await seed(db, pending)
    clock = SimClock(T0)
    core = Core(db=db, chat=Sink(), playbooks=PlaybookLibrary.load(ROOT / "playbooks"), clock=clock, default_tz="UTC")
    engine = ReminderEngine(db, clock, Warroom(core).reminder_handlers)
    empty = []
    for _ in range(5):
        start = time.perf_counter()
        assert await engine.tick() == 0
        empty.append((time.perf_counter() - start) * 1000)
    ticks, fired = [], []
    for round_ in range(ROUNDS):
        clock.set(T0 + timedelta(minutes=round_ + 1, seconds=30))
        start = time.perf_counter()
        fired.append(await engine.tick())
        ticks.append((time.perf_counter() - start) * 1000)
    await db.dispose()
    tick = statistics.median(ticks)
    return {
        "db": db.dialect,
        "pending": pending,
        "due": fired[0],
        "tick_ms": round(tick, 1),
        "ms_per_due": round(tick / fired[0], 2),
        "empty_tick_ms": round(statistics.median(empty), 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    add_postgres_argument(parser)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows += await on_each_database(args.postgres, lambda url, size=size: measure(url, size))
    print("| database | pending | due (1%) | tick (ms) | ms per due reminder | empty tick (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["db"], r["pending"])):
        print(
            f"| {r['db']} | {r['pending']:,} | {r['due']:,} | {r['tick_ms']} | {r['ms_per_due']} "
            f"| {r['empty_tick_ms']} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
