"""A busy incident left alone for a simulated year: how long it takes, and how many posts it makes.

Run: python bench/simulated_year.py [--days 365] [--postgres postgresql://postgres@127.0.0.1:5432/test]
Prompts never flood: one update prompt per cadence, then one a day after three unanswered repeats; a follow-up
past Plan B is chased once a day. The target is "a year runs in seconds".

Its floor is one commit per post: the year's commits (every COMMIT the database is sent while the clock moves,
claims and deliveries included) are divided by its posts. The year's posts are shown by kind, so a flood is seen at
once, and its commits by what they close (the function that opened the transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import io
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import event

from bot.app import console
from bot.clock import SimClock
from bot.config import Settings
from bot.store import Database

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/Chicago"))
BUSY = [
    '/incident open "Registers freeze in 300 stores" sev:1 customer:"Acme Retail" playbook:interop-defect'
    " cost:40k/h at-risk:2M",
    "/incident role comms @lee",
    '/incident vendor fabrikam "terminal firmware logs" due:2h',
    '/incident vendor "Contoso Payments" "gateway trace" due:4h',
    '/incident vendor northwind "spare terminals" due:1d ref:RMA-1',
    '/incident commit "workaround in every store" due:1d needs:V1',
    '/incident commit "root cause report" due:3d needs:V2',
]


KINDS = {
    "⏰": "chase",
    "🔺": "escalation",
    "📣": "update prompt",
    "🅱": "Plan B",
    "⚠": "at risk / warning",
    "⏳": "promise due",
    "📌": "action item due",
}


opened_by: contextvars.ContextVar[str] = contextvars.ContextVar("opened_by", default="(outside any transaction)")


def labelled(open_: Callable[[], Any]) -> Callable[[], Any]:
    """Database.transaction or .read, noting which function of bot/ opened it (what its COMMIT closes)."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Any]:
        frame = sys._getframe(2)
        while frame is not None and (
            "/bot/store/" in frame.f_code.co_filename or "contextlib" in frame.f_code.co_filename
        ):
            frame = frame.f_back  # type: ignore[assignment]
        name = f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}" if frame is not None else "?"
        token = opened_by.set(name)
        try:
            async with open_() as store:
                yield store
        finally:
            opened_by.reset(token)

    return opened


def kind(title: str) -> str:
    """A post's kind, by the mark its title starts with."""
    mark = title.split(" ", 1)[0] if title else ""
    return next((name for m, name in KINDS.items() if mark.startswith(m)), mark or "(untitled)")


Result = tuple[float, int, int, list[int], Counter[str], Counter[str]]


async def run(days: int, database_url: str) -> Result:
    settings = replace(
        Settings(), database_url=database_url, playbooks_dir=ROOT / "playbooks", timezone="America/Chicago"
    )
    out = io.StringIO()
    clock = SimClock(START)
    async with console(settings, out, clock, user="dana", echo=False) as (app, session):
        await session.run(BUSY)
        posts_before = len(session.chat.posts)
        commits = [0, 0]  # every COMMIT; those of transactions that changed a row
        closing: Counter[str] = Counter()  # COMMITs by the function that opened their transaction
        app.db.transaction = labelled(app.db.transaction)  # type: ignore[method-assign]
        app.db.read = labelled(app.db.read)  # type: ignore[method-assign]

        def wrote(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE") and cursor.rowcount:
                conn.info["wrote"] = True

        def committed(conn: Any) -> None:
            commits[0] += 1
            commits[1] += bool(conn.info.pop("wrote", False))
            closing[opened_by.get()] += 1

        event.listen(app.db.engine.sync_engine, "after_cursor_execute", wrote)
        event.listen(app.db.engine.sync_engine, "commit", committed)
        began = time.perf_counter()
        for _ in range(days // 365):
            await session.run(["/clock +365d"])
        if days % 365:
            await session.run([f"/clock +{days % 365}d"])
        took = time.perf_counter() - began
        event.remove(app.db.engine.sync_engine, "commit", committed)
        event.remove(app.db.engine.sync_engine, "after_cursor_execute", wrote)
        year = session.chat.posts[posts_before:]
        posts = len(year)
        prompts = sum(1 for p in year if p.message.title.startswith("📣 INC-1: customer update"))
        kinds = Counter(kind(p.message.title) for p in year)
    return took, posts, prompts, commits, kinds, closing


async def on_postgres(days: int, admin_url: str) -> Result:
    """The same run in a throwaway database on that server, migrated first and dropped after."""
    name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        db = Database(url)
        await db.upgrade()
        await db.dispose()
        return await run(days, url)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--postgres", help="also run on this PostgreSQL server (in a throwaway database)")
    args = parser.parse_args()
    print(
        "| database | simulated days | wall time | posts | update prompts | commits (that wrote) "
        "| commits per post (floor 1) | writing commits per post |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        results.append(("sqlite", asyncio.run(run(args.days, f"sqlite:///{Path(folder) / 'year.db'}"))))
    if args.postgres:
        results.append(("postgresql", asyncio.run(on_postgres(args.days, args.postgres))))
    for name, (took, posts, prompts, commits, _, _) in results:
        per = [c / max(posts, 1) for c in commits]
        print(
            f"| {name} | {args.days} | {took:.1f} s | {posts} | {prompts} | {commits[0]} ({commits[1]}) "
            f"| {per[0]:.2f} | {per[1]:.2f} |"
        )
    print("\nThe year's posts by kind:\n")
    print("| kind | " + " | ".join(name for name, _ in results) + " |")
    print("|---|" + "---:|" * len(results))
    for k in sorted({k for _, r in results for k in r[4]}):
        print(f"| {k} | " + " | ".join(str(r[4][k]) for _, r in results) + " |")
    print("\nThe year's commits by what they close (the function that opened the transaction), per post:\n")
    print("| transaction | " + " | ".join(name for name, _ in results) + " |")
    print("|---|" + "---:|" * len(results))
    for k, _ in sum((r[5] for _, r in results), Counter()).most_common():
        cells = [f"{r[5][k]} ({r[5][k] / max(r[1], 1):.2f})" for _, r in results]
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
