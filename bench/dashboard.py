"""How fast the dashboard's overview answers with 500 open incidents, over real HTTP.

Run: python bench/dashboard.py [--incidents 500] [--requests 50] [--postgres postgresql://postgres@127.0.0.1:5432/test]

The incidents are written straight into the tables (bulk inserts, seconds instead of the minutes 500 `open`
commands take), each as a war room looks after a few days: two vendor follow-ups on a three-rung ladder (one
overdue and escalated), a promise that depends on it (every third one at risk), two customer updates (every
fifth incident's next one overdue), a bad news (half of them untold) and a dozen timeline events. Then GET /
is timed over HTTP against the app served on 127.0.0.1, `--requests` times after two warm-up requests, and
the incident page once per request on a different incident. The overview is timed twice: read afresh on every
request (what the first viewer after a change pays), and as served again to the others while nothing changed.
`--postgres ''` skips PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from on_databases import add_postgres_argument, on_each_database
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.web.dashboard import mount  # noqa: E402
from bot.app import load_playbooks  # noqa: E402
from bot.clock import SimClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.store import Database  # noqa: E402
from bot.store.tables import (  # noqa: E402
    BadNewsRow,
    CommitmentRow,
    EventRow,
    FollowUpRow,
    IncidentRow,
    UpdateRow,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=3)
LADDER = json.dumps(
    [
        {"name": "Sam Ortiz", "role": "Account rep", "contact": "sam@vendor.example"},
        {"name": "Priya Raman", "role": "Channel manager", "contact": "priya@vendor.example"},
        {"name": "Dale Whitaker", "role": "VP Sales", "contact": "dale@vendor.example"},
    ]
)
VENDORS = ["Northwind Distribution", "Tailspin Telecom", "Contoso Supply", "Fabrikam Logistics", "Litware"]


def _rows(n: int) -> dict[type, list[dict[str, Any]]]:
    """The rows of ``n`` open incidents, each a few days into its crisis."""
    rows: dict[type, list[dict[str, Any]]] = {t: [] for t in (IncidentRow, FollowUpRow, CommitmentRow, UpdateRow)}
    rows[BadNewsRow], rows[EventRow] = [], []
    for i in range(1, n + 1):
        opened = T0 + timedelta(minutes=i)
        rows[IncidentRow].append(
            dict(
                number=i,
                title=f"Site {i} down at customer {i % 37}",
                severity=1 + i % 4,
                state="open" if i % 7 else "mitigated",
                customer=f"Customer {i % 37}",
                impact="stores on a 4G backup link",
                cost_per_hour=1000 + i,
                revenue_at_risk=250_000,
                playbook="hardware-rma",
                timezone="America/Chicago",
                opened_by_id="dana",
                opened_by_name="dana",
                opened_at=opened,
                room_id=f"C{i:08d}",
                room_name=f"inc-{i}",
            )
        )
        for number, vendor in ((1, VENDORS[i % 5]), (2, VENDORS[(i + 1) % 5])):
            late = number == 1
            rows[FollowUpRow].append(
                dict(
                    incident=i,
                    number=number,
                    vendor=vendor,
                    known_vendor=True,
                    ask="replacement unit tracking number" if late else "engineer on site",
                    reference=f"RMA-{i}-{number}",
                    owner_id="lee",
                    owner_name="lee",
                    due=opened + timedelta(days=1 if late else 5),
                    asked_at=opened,
                    ladder=LADDER,
                    plan_b=None,
                    timezone="America/Chicago",
                    business_hours=None,
                    remind_every_seconds=86400,
                    escalate_after=2,
                    state="escalated" if late else "waiting",
                    chases=2 if late else 0,
                    unanswered=2 if late else 0,
                    rung=1 if late else 0,
                    escalations=1 if late else 0,
                )
            )
        at_risk = i % 3 == 0
        rows[CommitmentRow].append(
            dict(
                incident=i,
                number=1,
                promise="replacement on site",
                due=opened + timedelta(days=4),
                author_id="dana",
                author_name="dana",
                made_at=opened,
                state="at_risk" if at_risk else "open",
                at_risk_at=opened + timedelta(days=1) if at_risk else None,
                needs=json.dumps([1]),
            )
        )
        for number in (1, 2):
            at = opened + timedelta(hours=number * 20)
            overdue = i % 5 == 0 and number == 2
            rows[UpdateRow].append(
                dict(
                    incident=i,
                    number=number,
                    text=f"update {number}: we are chasing the distributor",
                    author_id="lee",
                    author_name="lee",
                    at=at,
                    next_due=(NOW - timedelta(hours=2)) if overdue else NOW + timedelta(hours=20),
                )
            )
        told = i % 2 == 0
        rows[BadNewsRow].append(
            dict(
                incident=i,
                number=1,
                trigger="vendor_escalated",
                what="the vendor is late with the replacement",
                tell="the replacement is late",
                draft="",
                at=opened + timedelta(days=1),
                answered_at=opened + timedelta(days=1, hours=3) if told else None,
                update_number=2 if told else None,
            )
        )
        for k in range(12):
            rows[EventRow].append(
                dict(
                    incident=i,
                    at=opened + timedelta(hours=5 * k),
                    kind="note" if k else "opened",
                    actor_id="dana",
                    actor_name="dana",
                    text=f"event {k} of incident {i}",
                )
            )
    return rows


async def seed(db: Database, n: int) -> None:
    rows = _rows(n)
    async with db.transaction() as store:
        for table in (IncidentRow, FollowUpRow, CommitmentRow, UpdateRow, BadNewsRow, EventRow):
            for chunk in range(0, len(rows[table]), 2000):
                await store.session.execute(insert(table), rows[table][chunk : chunk + 2000])
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")


async def _time(http: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    start = time.perf_counter()
    async with http.get(url) as response:
        body = await response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - start) * 1000, len(body)


async def measure(url: str, n: int, requests: int) -> dict[str, Any]:
    db = Database(url)
    await db.upgrade()
    await seed(db, n)
    playbooks = load_playbooks(Settings(database_url=url, playbooks_dir=ROOT / "playbooks"))
    times: dict[str, list[float]] = {"fresh": [], "kept": [], "detail": []}
    size = 0
    try:
        for keep in (timedelta(0), timedelta(minutes=10)):
            application = web.Application()
            mount(application, db=db, playbooks=playbooks, clock=SimClock(NOW), keep=keep)
            runner = web.AppRunner(application)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            try:
                async with aiohttp.ClientSession() as http:
                    for k in range(requests + 2):
                        overview, size = await _time(http, base + "/")
                        detail, _ = await _time(http, f"{base}/incidents/{1 + k * 7 % n}")
                        if k >= 2:  # the first two warm the database's caches and the templates
                            times["fresh" if not keep else "kept"].append(overview)
                            if not keep:
                                times["detail"].append(detail)
            finally:
                await runner.cleanup()
    finally:
        await db.dispose()
    return {
        "db": db.dialect,
        "incidents": n,
        "requests": requests,
        "p50": statistics.median(times["fresh"]),
        "p95": statistics.quantiles(times["fresh"], n=20)[-1],
        "kept_p50": statistics.median(times["kept"]),
        "kb": size / 1024,
        "detail_p50": statistics.median(times["detail"]),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--requests", type=int, default=50)
    add_postgres_argument(parser)
    args = parser.parse_args()
    results = await on_each_database(args.postgres, lambda url: measure(url, args.incidents, args.requests))
    print("| database | incidents | requests | GET / p50 (ms) | p95 (ms) | unchanged p50 (ms) | KiB | incident (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['db']} | {r['incidents']} | {r['requests']} | {r['p50']:.0f} | {r['p95']:.0f} | {r['kept_p50']:.0f} "
            f"| {r['kb']:.0f} | {r['detail_p50']:.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
