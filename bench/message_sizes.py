"""How big the extreme messages get, how many parts they become on each platform, and how long cutting takes.

Run: python bench/message_sizes.py

Builds the lessons-learned summary of an incident with 300 timeline events and 40 long lessons and action items full
of `&<>` (the extreme of the size tests) on a throwaway SQLite database, then splits its head and its details for
Slack and for Teams and prints, per platform, the parts, the largest part as the platform counts it, and the time.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.slack import blocks as slack  # noqa: E402
from adapters.teams import cards as teams  # noqa: E402
from bot.store import Database  # noqa: E402
from bot.summary import build_summary, to_messages  # noqa: E402
from tests.harness import Harness  # noqa: E402

HOSTILE = "&<b>R&D</b> <!channel> *bold* _it_ [link](x) "


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        await db.upgrade()
        h = Harness(db)
        await h.ok('open "Registers frozen in 300 stores" sev:1')
        for n in range(300):
            await h.ok(f'note "note {n}: store {n} reports {HOSTILE}registers frozen again"')
        for n in range(40):
            await h.ok(f'lesson "lesson {n}: ' + f"the distributor {HOSTILE}was a single point of failure; " * 5 + '"')
            await h.ok(f'action "action {n}: ' + f"qualify a second distributor {HOSTILE}for region {n}; " * 4 + '"')
        async with db.read() as store:
            data = await build_summary(store, await store.get_incident(1), {})
        head, details = to_messages(data)
        print("| platform | parts | largest part | budget | split time |")
        print("|---|---:|---:|---:|---:|")
        for name, split, measure, budget in (
            ("Slack", slack.split, slack.measure, f"{slack.MAX_BLOCK_TEXT:,} characters of block text"),
            ("Teams", teams.split, teams.measure, f"{teams.MAX_ACTIVITY:,} bytes of UTF-16"),
        ):
            started = time.perf_counter()
            parts = [*split(head), *split(details)]
            took = time.perf_counter() - started
            print(f"| {name} | {len(parts)} | {max(measure(p)[0] for p in parts):,} | {budget} | {took:.2f} s |")
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
