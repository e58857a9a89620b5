"""A busy incident left alone for a simulated year: how long it takes, and how many posts it makes.

Run: python bench/simulated_year.py [--days 365] [--postgres postgresql://postgres@127.0.0.1:5432/test]
Prompts never flood: one update prompt per cadence, then one a day after three unanswered repeats; a follow-up
past Plan B is chased once a day. The target is "a year runs in seconds".
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

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


async def run(days: int, database_url: str) -> tuple[float, int, int]:
    settings = replace(
        Settings(), database_url=database_url, playbooks_dir=ROOT / "playbooks", timezone="America/Chicago"
    )
    out = io.StringIO()
    clock = SimClock(START)
    async with console(settings, out, clock, user="dana", echo=False) as (app, session):
        await session.run(BUSY)
        posts_before = len(session.chat.posts)
        began = time.perf_counter()
        for _ in range(days // 365):
            await session.run(["/clock +365d"])
        if days % 365:
            await session.run([f"/clock +{days % 365}d"])
        took = time.perf_counter() - began
        posts = len(session.chat.posts) - posts_before
        prompts = sum(1 for p in session.chat.posts if p.message.title.startswith("📣 INC-1: customer update"))
    return took, posts, prompts


async def on_postgres(days: int, admin_url: str) -> tuple[float, int, int]:
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
    print("| database | simulated days | wall time | posts | update prompts |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        took, posts, prompts = asyncio.run(run(args.days, f"sqlite:///{Path(folder) / 'year.db'}"))
        print(f"| sqlite | {args.days} | {took:.1f} s | {posts} | {prompts} |")
    if args.postgres:
        took, posts, prompts = asyncio.run(on_postgres(args.days, args.postgres))
        print(f"| postgresql | {args.days} | {took:.1f} s | {posts} | {prompts} |")


if __name__ == "__main__":
    main()
