"""How long the overview's read model takes: one page of up to 500 open incidents with what belongs to them.

Run: python bench/incident_list.py [--sizes 50,500] [--postgres postgresql://postgres@127.0.0.1:5432/test]
Each incident has two follow-ups, a commitment, a customer update, a piece of untold bad news and its pending update
prompt; `bot.views.incident_list` must load them in a few queries per page, whatever the page's length.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from on_databases import add_postgres_argument, on_each_database
from sqlalchemy import event

from bot import views
from bot.customer import BadNews, Commitment, Trigger
from bot.domain import Incident, IncidentState, Person
from bot.followups import FollowUp
from bot.playbooks import LadderRung, PlaybookLibrary
from bot.store import Database

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ROUNDS = 5
DANA = Person("dana", "dana")


async def seed(db: Database, count: int) -> None:
    ladder = (LadderRung("Sam Ortiz", "Account rep", "sam@example.com"),)
    async with db.transaction() as store:
        for i in range(count):
            draft = Incident(
                0, f"Store {i} offline", 1 + i % 4, IncidentState.OPEN, "Acme Retail", "no sales",
                Decimal(40000), Decimal(2000000), "default", "UTC", DANA, T0, room_id=f"R{i}", room_name=f"inc-{i}",
            )  # fmt: skip
            n = (await store.add_incident(draft)).number
            await store.schedule(n, "update_due", 0, T0 + timedelta(hours=1), now=T0)
            for v in range(2):
                await store.add_follow_up(
                    FollowUp(
                        n,
                        0,
                        f"Vendor {v}",
                        True,
                        "a replacement",
                        None,
                        DANA,
                        T0 + timedelta(hours=v + 1),
                        T0,
                        ladder,
                        None,
                        "UTC",
                        None,
                        timedelta(hours=4),
                        2,
                    )  # fmt: skip
                )
            await store.add_commitment(Commitment(n, 0, "a workaround", T0 + timedelta(hours=2), DANA, T0))
            await store.add_update(n, "we are on it", DANA, T0 + timedelta(minutes=30), None)
            await store.add_bad_news(BadNews(n, 0, Trigger.ETA_SLIPPED, "the ETA slipped", "the ETA slipped", T0))


async def measure(url: str, count: int) -> dict[str, Any]:
    db = Database(url)
    await db.upgrade()
    try:
        await seed(db, count)
        playbooks = PlaybookLibrary.load(ROOT / "playbooks")
        statements: list[str] = []
        event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        times = []
        for _ in range(ROUNDS):
            statements.clear()
            start = time.perf_counter()
            async with db.read() as store:
                page = await views.incident_list(store, playbooks=playbooks, now=T0 + timedelta(hours=3), limit=500)
            times.append((time.perf_counter() - start) * 1000)
        assert len(page.items) == min(count, 500)
        return {
            "db": db.dialect,
            "incidents": count,
            "ms": round(statistics.median(times), 1),
            "queries": len(statements),
        }
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="50,500")
    add_postgres_argument(parser)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows += await on_each_database(args.postgres, lambda url, size=size: measure(url, size))
    print("| database | open incidents listed | incident_list (ms, median of 5) | queries |")
    print("|---|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["db"], r["incidents"])):
        print(f"| {r['db']} | {r['incidents']:,} | {r['ms']} | {r['queries']} |")


if __name__ == "__main__":
    asyncio.run(main())
