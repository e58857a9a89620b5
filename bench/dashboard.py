"""How fast the dashboard's overview answers with many open incidents, over real HTTP, against its floor.

Run: python bench/dashboard.py [--incidents 5000] [--requests 50] [--postgres postgresql://postgres@127.0.0.1:5432/test]

The incidents are written straight into the tables (bulk inserts, seconds instead of the minutes 500 `open`
commands take), each as a war room looks after a few days: two vendor follow-ups on a three-rung ladder (one
overdue and escalated), a promise that depends on it (every third one at risk), two customer updates (every
fifth incident's next one overdue), a bad news (half of them untold) and a dozen timeline events. Then GET /
is timed over HTTP against the app served on 127.0.0.1, `--requests` times after two warm-up requests, and
the incident page once per request on a different incident. The overview is timed twice: read afresh on every
request (what the first viewer after a change pays), and as served again to the others while nothing changed.

The floor: one SQL statement that produces the overview's data as JSON (the first 200 open incidents with their
last update, untold bad news, open follow-ups and pending update prompt; the first 50 overdue follow-ups, promises
at risk and untold bad news with how many there are of each), served by a handler on the same server. The overview
read afresh and the floor are requested alternately, and the ratio of their medians printed. The API's list of
incidents (`bot.views.incident_list`, a page of 50, as JSON) is timed the same way against one statement producing
that page as JSON, in-process. `--postgres ''` skips PostgreSQL.
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
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.web.dashboard import LIST_LIMIT, OVERVIEW_LIMIT, mount  # noqa: E402
from bot import views  # noqa: E402
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
                    first_due=opened + timedelta(days=1 if late else 5),
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


def _json(dialect: str) -> tuple[str, str]:
    """The dialect's JSON object and array-aggregate functions."""
    return ("json_build_object", "json_agg") if dialect == "postgresql" else ("json_object", "json_group_array")


def _page_query(obj: str, agg: str, limit: int) -> str:
    """The first ``limit`` open incidents, worst first, each a JSON object with what its row in a list shows."""
    return f"""
      SELECT {obj}('number', i.number, 'title', i.title, 'severity', i.severity, 'customer', i.customer,
        'state', i.state, 'playbook', i.playbook, 'opened_at', i.opened_at, 'cost_per_hour', i.cost_per_hour,
        'revenue_at_risk', i.revenue_at_risk, 'timezone', i.timezone, 'room_id', i.room_id,
        'last_update_at', (SELECT u.at FROM customer_updates u WHERE u.incident = i.number
                           ORDER BY u.number DESC LIMIT 1),
        'next_due', (SELECT u.next_due FROM customer_updates u WHERE u.incident = i.number
                     ORDER BY u.number DESC LIMIT 1),
        'prompt_due', (SELECT r.due_at FROM reminders r WHERE r.incident = i.number AND r.kind = 'update_due'
                       AND r.subject = 0 AND r.state = 'pending' LIMIT 1),
        'untold', (SELECT count(*) FROM bad_news b WHERE b.incident = i.number AND b.answered_at IS NULL
                   AND b.moot_at IS NULL),
        'waiting', (SELECT count(*) FROM follow_ups f WHERE f.incident = i.number
                    AND f.state IN ('waiting', 'overdue', 'escalated')),
        'impact', (SELECT {agg}(e.at) FROM timeline e WHERE e.incident = i.number
                   AND e.kind IN ('mitigated', 'resolved', 'reopened', 'closed')),
        'chat', (SELECT a.data FROM room_addresses a WHERE a.room_id = i.room_id)) AS j
      FROM incidents i WHERE i.state <> 'closed' ORDER BY i.severity, i.number LIMIT {limit}"""


def floor_sql(dialect: str, *, incidents: int, lists: int) -> str:
    """One statement producing the overview's data as JSON: the page of open incidents and the three lists."""
    obj, agg = _json(dialect)
    open_ = "i.state <> 'closed'"
    page = _page_query(obj, agg, incidents)
    late = f"""
      SELECT {obj}('incident', f.incident, 'number', f.number, 'ask', f.ask, 'vendor', f.vendor, 'rung', f.rung,
        'ladder', f.ladder, 'due', f.due) AS j
      FROM follow_ups f JOIN incidents i ON i.number = f.incident
      WHERE {open_} AND f.state IN ('waiting', 'overdue', 'escalated') AND f.due < :now
      ORDER BY f.due, f.incident, f.number LIMIT {lists}"""
    late_n = f"""SELECT count(*) FROM follow_ups f JOIN incidents i ON i.number = f.incident
      WHERE {open_} AND f.state IN ('waiting', 'overdue', 'escalated') AND f.due < :now"""
    risky = "(c.state = 'at_risk' OR (c.state = 'open' AND c.due < :now))"
    risk = f"""
      SELECT {obj}('incident', c.incident, 'number', c.number, 'promise', c.promise, 'state', c.state,
        'due', c.due) AS j
      FROM commitments c JOIN incidents i ON i.number = c.incident WHERE {open_} AND {risky}
      ORDER BY c.due, c.incident, c.number LIMIT {lists}"""
    risk_n = f"SELECT count(*) FROM commitments c JOIN incidents i ON i.number = c.incident WHERE {open_} AND {risky}"
    untold = "b.answered_at IS NULL AND b.moot_at IS NULL"
    news = f"""
      SELECT {obj}('incident', b.incident, 'number', b.number, 'what', b.what, 'at', b.at) AS j
      FROM bad_news b JOIN incidents i ON i.number = b.incident WHERE {open_} AND {untold}
      ORDER BY b.at, b.incident, b.number LIMIT {lists}"""
    news_n = f"SELECT count(*) FROM bad_news b JOIN incidents i ON i.number = b.incident WHERE {open_} AND {untold}"
    total = f"SELECT count(*) FROM incidents i WHERE {open_}"

    def listed(query: str) -> str:
        return f"(SELECT {agg}(q.j) FROM ({query}) q)"

    return f"""SELECT {obj}('total', ({total}), 'incidents', {listed(page)},
      'late', {listed(late)}, 'late_total', ({late_n}), 'at_risk', {listed(risk)}, 'at_risk_total', ({risk_n}),
      'untold', {listed(news)}, 'untold_total', ({news_n}))"""


def page_floor_sql(dialect: str, *, limit: int) -> str:
    """One statement producing the API's first page of open incidents (`GET /incidents?limit=…`) as JSON."""
    obj, agg = _json(dialect)
    return (
        f"SELECT {obj}('total', (SELECT count(*) FROM incidents i WHERE i.state <> 'closed'), "
        f"'items', (SELECT {agg}(q.j) FROM ({_page_query(obj, agg, limit)}) q))"
    )


async def _time(http: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    start = time.perf_counter()
    async with http.get(url) as response:
        body = await response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - start) * 1000, len(body)


def _spread(times: list[float]) -> str:
    q = statistics.quantiles(times, n=10)
    return f"{q[0]:.0f}–{q[-1]:.0f}"


async def measure(url: str, n: int, requests: int) -> dict[str, Any]:
    db = Database(url)
    await db.upgrade()
    await seed(db, n)
    playbooks = load_playbooks(Settings(database_url=url, playbooks_dir=ROOT / "playbooks"))
    times: dict[str, list[float]] = {"fresh": [], "floor": [], "kept": [], "detail": [], "api": [], "api_floor": []}
    size = floor_size = 0
    overview_floor = text(floor_sql(db.dialect, incidents=OVERVIEW_LIMIT, lists=LIST_LIMIT))
    api_floor = text(page_floor_sql(db.dialect, limit=50))

    async def floor(_request: web.Request) -> web.Response:
        async with db.read() as store:
            data = (await store.session.execute(overview_floor, {"now": NOW})).scalar_one()
        return web.Response(text=data if isinstance(data, str) else json.dumps(data), content_type="application/json")

    try:
        for keep in (timedelta(0), timedelta(minutes=10)):
            application = web.Application()
            mount(application, db=db, playbooks=playbooks, clock=SimClock(NOW), keep=keep)
            application.router.add_get("/floor", floor)
            runner = web.AppRunner(application)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            try:
                async with aiohttp.ClientSession() as http:
                    for k in range(requests + 2):
                        overview, size = await _time(http, base + "/")
                        if not keep:
                            below, floor_size = await _time(http, base + "/floor")
                        detail, _ = await _time(http, f"{base}/incidents/{1 + k * 7 % n}")
                        if k >= 2:  # the first two warm the database's caches and the templates
                            times["fresh" if not keep else "kept"].append(overview)
                            if not keep:
                                times["floor"].append(below)
                                times["detail"].append(detail)
            finally:
                await runner.cleanup()
        for k in range(requests + 2):  # the API's page of 50, in-process, alternating with its floor
            start = time.perf_counter()
            async with db.read() as store:
                page = await views.incident_list(store, playbooks=playbooks, now=NOW, limit=50)
            page.model_dump_json()
            api = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            async with db.read() as store:
                data = (await store.session.execute(api_floor)).scalar_one()
            json.loads(data) if isinstance(data, str) else data
            below = (time.perf_counter() - start) * 1000
            if k >= 2:
                times["api"].append(api)
                times["api_floor"].append(below)
    finally:
        await db.dispose()
    return {
        "db": db.dialect,
        "incidents": n,
        "requests": requests,
        "p50": statistics.median(times["fresh"]),
        "spread": _spread(times["fresh"]),
        "floor_p50": statistics.median(times["floor"]),
        "floor_spread": _spread(times["floor"]),
        "kept_p50": statistics.median(times["kept"]),
        "kb": size / 1024,
        "floor_kb": floor_size / 1024,
        "detail_p50": statistics.median(times["detail"]),
        "api_p50": statistics.median(times["api"]),
        "api_spread": _spread(times["api"]),
        "api_floor_p50": statistics.median(times["api_floor"]),
        "api_floor_spread": _spread(times["api_floor"]),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=50)
    add_postgres_argument(parser)
    args = parser.parse_args()
    results = await on_each_database(args.postgres, lambda url: measure(url, args.incidents, args.requests))
    print(
        "| database | incidents | GET / p50 (ms) | p10–p90 | floor p50 (ms) | p10–p90 | ratio | unchanged p50 (ms) "
        "| KiB (floor KiB) | incident (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['db']} | {r['incidents']:,} | {r['p50']:.1f} | {r['spread']} | {r['floor_p50']:.1f} "
            f"| {r['floor_spread']} | {r['p50'] / r['floor_p50']:.2f}× | {r['kept_p50']:.1f} "
            f"| {r['kb']:.0f} ({r['floor_kb']:.0f}) | {r['detail_p50']:.0f} |"
        )
    print()
    print("| database | incidents | API page of 50 p50 (ms) | p10–p90 | floor p50 (ms) | p10–p90 | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['db']} | {r['incidents']:,} | {r['api_p50']:.1f} | {r['api_spread']} | {r['api_floor_p50']:.1f} "
            f"| {r['api_floor_spread']} | {r['api_p50'] / r['api_floor_p50']:.2f}× |"
        )


if __name__ == "__main__":
    asyncio.run(main())
