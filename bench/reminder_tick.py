"""What firing due reminders costs on PostgreSQL as what is pending grows, against the floor: the bare claim query
and one set-based statement doing the same firings' writes.

Run: python bench/reminder_tick.py [--sizes 10000,100000,1000000] [--due 100] [--replicas 2000]
         [--postgres postgresql://postgres@127.0.0.1:5432/test]
For each size, rounds of ``--due`` reminders fall due one minute apart; the product (a tick of the engine, the
posts delivered to an in-memory chat) and the floor take turns, round by round, and the ratio of their medians per
due reminder is printed. With ``--replicas N`` it then fires rounds of N due reminders with one replica process and
with two (each its own process and connection pool), taking turns, and prints the reminders fired per second.
Seeding is set-based (generate_series), so a million pending is written in a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import case, func, insert, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.memory import InMemoryChat, Room
from bot.chat import RoomRef
from bot.clock import SimClock
from bot.desk import Core
from bot.playbooks import PlaybookLibrary
from bot.reminders import ReminderEngine
from bot.service import Warroom
from bot.store import Database
from bot.store.tables import FollowUpRow, IncidentRow, ReminderRow, UTCDateTime
from bot.vendors import CHASE

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
INCIDENTS = 100
ROUNDS = 3  # of the product, and as many of the floor, taking turns
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
HERE = str(Path(__file__).resolve())


def at(bucket: int) -> datetime:
    return T0 + timedelta(minutes=bucket + 1)


class Sink(InMemoryChat):
    """Accepts posts to any room, like a workspace where every war room exists."""

    def _room(self, room: RoomRef) -> Room:
        return self.rooms.setdefault(room.id, Room(room, "", False))


async def seed(db: Database, pending: int, buckets: list[int]) -> None:
    """``pending`` follow-ups with one reminder each, written set-based (generate_series: a million in a minute or
    two): ``buckets[b]`` of them due at minute b + 1, the rest next year; the due ones spread over every incident."""
    k = func.generate_series(0, pending - 1).table_valued("value").render_derived(name="k").c.value
    incident, number = k % INCIDENTS + 1, k // INCIDENTS + 1

    def const(table: Any, name: str, value: Any) -> Any:
        return literal(value, table.__table__.c[name].type)

    ladder = json.dumps([{"name": "Sam", "role": "Rep", "contact": "sam@vendor.example"}])
    follow_up = {
        "incident": incident,
        "number": number,
        **{
            name: const(FollowUpRow, name, value)
            for name, value in dict(
                vendor="Vendor", known_vendor=True, ask="a unit", owner_id="lee", owner_name="lee", due=T0,
                asked_at=T0, first_due=T0, ladder=ladder, timezone="UTC", remind_every_seconds=86400,
                escalate_after=50, state="waiting", chases=0, unanswered=0, rung=0, escalations=0, kind="vendor",
                every_business_days=0, pushes="[]", slips=0, reach_top_seconds=86400 * 365,
                reach_top_business_days=0,
            ).items()
        },
    }  # fmt: skip
    ends = [sum(buckets[: b + 1]) for b in range(len(buckets))]
    due_at = case(
        *((k < end, literal(at(b), UTCDateTime())) for b, end in enumerate(ends)),
        else_=literal(T0 + timedelta(days=365), UTCDateTime()),
    )
    reminder = {
        "incident": incident,
        "kind": const(ReminderRow, "kind", CHASE),
        "subject": number,
        "due_at": due_at,
        "state": const(ReminderRow, "state", "pending"),
        "attempts": const(ReminderRow, "attempts", 0),
        "created_at": const(ReminderRow, "created_at", T0),
    }
    # Writing a million rows takes longer than the product lets one statement take: an engine without the limit.
    seeder = create_async_engine(db.url, poolclass=NullPool)
    async with AsyncSession(seeder) as s, s.begin():
        await s.execute(
            insert(IncidentRow),
            [
                dict(
                    number=i, title=f"Site {i} down", severity=2, state="open", customer="Acme", playbook="default",
                    timezone="UTC", opened_by_id="dana", opened_by_name="dana", opened_at=T0, room_id=f"R{i}",
                    room_name=f"inc-{i}", update_prompts=0,
                )
                for i in range(1, INCIDENTS + 1)
            ],
        )  # fmt: skip
        await s.execute(insert(FollowUpRow).from_select(list(follow_up), select(*follow_up.values())))
        await s.execute(insert(ReminderRow).from_select(list(reminder), select(*reminder.values())))
    async with seeder.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE")
    await seeder.dispose()


CLAIM = text(
    """UPDATE reminders SET lease_owner = 'floor', lease_until = CAST(:now AS timestamptz) + interval '2 minutes',
         attempts = attempts + 1
       WHERE id IN (SELECT id FROM reminders WHERE state = 'pending' AND due_at <= CAST(:now AS timestamptz)
                      AND (lease_until IS NULL OR lease_until < CAST(:now AS timestamptz))
                    ORDER BY due_at LIMIT CAST(:limit AS integer) FOR UPDATE SKIP LOCKED)
       RETURNING id"""
)
# What a plain chase writes, for every claimed reminder at once: the reminder fired, its follow-up chased (overdue),
# the next reminder, the timeline event, the post (delivered).
FIRE = text(
    """WITH fired AS (
         UPDATE reminders SET state = 'done', fired_at = CAST(:now AS timestamptz)
         WHERE id = ANY(CAST(:ids AS integer[])) RETURNING incident, subject),
       chased AS (
         UPDATE follow_ups f SET chases = f.chases + 1, unanswered = f.unanswered + 1, state = 'overdue'
         FROM fired WHERE f.incident = fired.incident AND f.number = fired.subject RETURNING f.incident, f.number),
       next AS (
         INSERT INTO reminders (incident, kind, subject, due_at, state, attempts, created_at)
         SELECT incident, 'follow_up', number, CAST(:now AS timestamptz) + interval '1 day', 'pending', 0,
                CAST(:now AS timestamptz) FROM chased),
       events AS (
         INSERT INTO timeline (incident, at, kind, text, data)
         SELECT incident, CAST(:now AS timestamptz), 'chased', 'V' || number || ' chased', '{}' FROM chased)
       INSERT INTO outbox (key, incident, room_id, room_name, message, state, attempts, next_attempt_at,
                           created_at, sent_at, maybe_posted, form)
       SELECT 'floor-' || CAST(:now AS text) || '-' || incident || '-' || number, incident, 'R' || incident,
              'inc-' || incident, '{"title": "chase"}', 'sent', 1, CAST(:now AS timestamptz),
              CAST(:now AS timestamptz), CAST(:now AS timestamptz), false, 'full'
       FROM chased"""
)


async def floor(db: Database, now: datetime, limit: int) -> int:
    """The bare claim, then one statement doing every write of the firings it claimed."""
    async with db.engine.begin() as conn:
        ids = list((await conn.execute(CLAIM, {"now": now, "limit": limit})).scalars())
    async with db.engine.begin() as conn:
        await conn.execute(FIRE, {"now": now, "ids": ids})
    return len(ids)


def product(db: Database, clock: SimClock) -> tuple[ReminderEngine, Warroom]:
    core = Core(db=db, chat=Sink(), playbooks=PlaybookLibrary.load(ROOT / "playbooks"), clock=clock, default_tz="UTC")
    warroom = Warroom(core)
    return ReminderEngine(db, clock, warroom.reminder_handlers, deliver=warroom.deliver), warroom


async def measure(url: str, pending: int, due: int) -> dict[str, Any]:
    """Product and floor taking turns over 2 × ROUNDS rounds of ``due`` reminders."""
    db = Database(url)
    await db.upgrade()
    began = time.perf_counter()
    await seed(db, pending, [due] * (2 * ROUNDS))
    seeded = time.perf_counter() - began
    clock = SimClock(T0)
    engine, warroom = product(db, clock)
    ours, theirs = [], []
    for bucket in range(2 * ROUNDS):
        clock.set(at(bucket) + timedelta(seconds=30))
        start = time.perf_counter()
        fired = await engine.tick() if bucket % 2 == 0 else await floor(db, clock.now(), due)
        took = (time.perf_counter() - start) * 1000 / max(fired, 1)
        assert fired == due, (bucket, fired)
        (ours if bucket % 2 == 0 else theirs).append(took)
    await warroom.desk.outbox.flush()  # the last delivery marks (a running replica's next write carries them)
    await db.dispose()
    return {
        "pending": pending,
        "due": due,
        "seed_s": round(seeded),
        "ours": statistics.median(ours),
        "ours_spread": max(ours) - min(ours),
        "floor": statistics.median(theirs),
        "floor_spread": max(theirs) - min(theirs),
    }


async def replica(url: str, bucket: int, start_at: float) -> None:
    """One replica process: ready, it waits for the agreed moment, ticks once, and says what it fired and when."""
    db = Database(url)
    clock = SimClock(at(bucket) + timedelta(seconds=30))
    engine, warroom = product(db, clock)
    async with db.transaction() as store:  # connect before the start, as a running replica has
        await store.latest_event_at()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    began = time.time()
    fired = await engine.tick()
    print(json.dumps({"fired": fired, "began": began, "ended": time.time()}))
    await warroom.desk.outbox.flush()
    await db.dispose()


async def replicas(url: str, count: int, bucket: int) -> tuple[float, list[int]]:
    """Reminders fired per second by ``count`` replica processes ticking together over one round."""
    start_at = time.time() + 8  # every process imported and connected by then
    here = HERE
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, here, "--replica", url, str(bucket), str(start_at), stdout=subprocess.PIPE
        )
        for _ in range(count)
    ]
    outs = [json.loads((await p.communicate())[0]) for p in procs]
    span = max(o["ended"] for o in outs) - min(o["began"] for o in outs)
    return sum(o["fired"] for o in outs) / span, [o["fired"] for o in outs]


async def measure_replicas(url: str, due: int, pending: int) -> dict[str, Any]:
    db = Database(url)
    await db.upgrade()
    await seed(db, pending, [due] * (2 * ROUNDS))
    await db.dispose()
    one, two, shares = [], [], []
    for bucket in range(2 * ROUNDS):
        rate, fired = await replicas(url, 1 if bucket % 2 == 0 else 2, bucket)
        assert sum(fired) == due, (bucket, fired)
        (one if bucket % 2 == 0 else two).append(rate)
        if bucket % 2:
            shares.append(fired)
    return {"one": statistics.median(one), "two": statistics.median(two), "shares": shares}


async def scratch(server: str, work: Any) -> Any:
    """``work(url)`` in a throwaway database on that server, dropped after."""
    name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return await work(server.rsplit("/", 1)[0] + f"/{name}")
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--due", type=int, default=100, help="reminders due in each round")
    parser.add_argument("--replicas", type=int, default=0, help="also compare 1 and 2 replicas on rounds of N due")
    parser.add_argument("--postgres", default=POSTGRES, help="server to make a scratch database on")
    parser.add_argument("--replica", nargs=3, help=argparse.SUPPRESS)  # url bucket start: one replica process
    args = parser.parse_args()
    if args.replica:
        url, bucket, start_at = args.replica
        await replica(url, int(bucket), float(start_at))
        return
    print("| pending | due per round | seeding (s) | product ms per due (spread) | floor ms per due (spread) | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        r = await scratch(args.postgres, lambda url, size=size: measure(url, size, args.due))
        rows.append(r)
        print(
            f"| {r['pending']:,} | {r['due']} | {r['seed_s']} | {r['ours']:.2f} (±{r['ours_spread'] / 2:.2f}) "
            f"| {r['floor']:.3f} (±{r['floor_spread'] / 2:.3f}) | {r['ours'] / r['floor']:.1f}× |",
            flush=True,
        )
    if len(rows) > 1:
        print(f"\nproduct per due at {rows[-1]['pending']:,} / at {rows[0]['pending']:,} pending: "
              f"{rows[-1]['ours'] / rows[0]['ours']:.2f}×")  # fmt: skip
    if args.replicas:
        r = await scratch(args.postgres, lambda url: measure_replicas(url, args.replicas, 100_000))
        print(
            f"\nreplicas over rounds of {args.replicas} due (100,000 pending): one fires {r['one']:.0f}/s, two fire "
            f"{r['two']:.0f}/s together: {r['two'] / r['one']:.2f}×; each one's share of a round: {r['shares']}"
        )


if __name__ == "__main__":
    asyncio.run(main())
