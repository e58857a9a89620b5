"""A long fuzzing run: generated command lines through the service layer and every renderer, counted.

Run: python bench/fuzz.py [--commands 100000] [--batch 250] [--seed 1] [--workers 2]

The lines come from the grammar the hypothesis tests draw from (tests/fuzzing.py), here from a seeded random
generator, so a run is reproducible: batch k of seed s is always the same lines (`--first k --commands <batch>`
replays it alone). Each batch starts from a copy of one SQLite file holding a war room with a follow-up, a
promise and bad news, and runs `--batch` commands in it on the console's in-memory chat, with `/clock` moves
now and then so reminders fire. Every reply and every post is rendered as Block Kit, an Adaptive Card and
plain text and checked, and the console's output is read back: a problem is a crash (a "Something went wrong"
reply, or an error logged by the core or the reminder engine), a refused command that committed anything
(SQLite's `PRAGMA data_version`, read from a second connection, moves on any commit), a mention or broadcast
or link that came from user text, a post past Slack's limits, or a control character reaching the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the grammar and the rig live with the tests

from bot.chat import RoomRef  # noqa: E402
from bot.store import Database  # noqa: E402
from tests.fuzzing import SETUP, RandomDraw, Rig, SqliteWatch, console_line  # noqa: E402


@dataclass
class Tally:
    batches: int = 0
    commands: int = 0
    accepted: int = 0
    rejected: int = 0
    clock_moves: int = 0
    posts: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.batches += other.batches
        self.commands += other.commands
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.clock_moves += other.clock_moves
        self.posts += other.posts
        self.problems += other.problems


def batch_lines(seed: int, index: int, commands: int) -> list[str]:
    """The console lines of one batch: exactly ``commands`` commands, with the clock moves drawn among them."""
    draw = RandomDraw(seed * 1_000_003 + index)
    lines: list[str] = []
    while sum(line.startswith("/incident ") for line in lines) < commands:
        lines.append(console_line(draw))
    return lines


async def prepare(path: Path) -> RoomRef:
    """The war room every batch starts from, in a migrated SQLite file."""
    db = Database(f"sqlite:///{path}")
    await db.upgrade()
    watch = SqliteWatch(str(path))
    try:
        rig = Rig(db, state=watch.version)
        await rig.run(SETUP)
        if rig.problems or rig.accepted != len(SETUP):
            raise SystemExit(f"the war room could not be set up: {rig.problems}")
        return rig.session.room
    finally:
        watch.close()
        await db.dispose()


async def run_batch(template: Path, room: RoomRef, folder: Path, lines: list[str], label: str) -> Tally:
    path = folder / f"{label}.db"
    shutil.copyfile(template, path)
    db = Database(f"sqlite:///{path}")
    watch = SqliteWatch(str(path))
    try:
        rig = Rig(db, state=watch.version, room=room)
        await rig.run(lines)
    finally:
        watch.close()
        await db.dispose()
        path.unlink()
    return Tally(
        batches=1,
        commands=rig.commands,
        accepted=rig.accepted,
        rejected=rig.rejected,
        clock_moves=sum(line.startswith("/clock") for line in lines),
        posts=len(rig.chat.posts) + len(rig.chat.updates),
        problems=[f"[{label}] {p}" for p in rig.problems],
    )


def worker(seed: int, indexes: list[int], batch: int) -> Tally:
    """One process: its share of the batches, one after the other."""

    async def go() -> Tally:
        tally = Tally()
        with tempfile.TemporaryDirectory(prefix="warroom-fuzz-") as name:
            folder = Path(name)
            template = folder / "war-room.db"
            room = await prepare(template)
            for index in indexes:
                lines = batch_lines(seed, index, batch)
                tally.add(await run_batch(template, room, folder, lines, f"seed {seed} batch {index}"))
        return tally

    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=100_000, help="commands in all (default 100,000)")
    parser.add_argument("--batch", type=int, default=250, help="commands per war room (default 250)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="the first batch to run (to replay one)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2, one per core)")
    args = parser.parse_args()
    count = -(-args.commands // args.batch)
    indexes = list(range(args.first, args.first + count))
    shares = [indexes[i :: args.workers] for i in range(args.workers) if indexes[i :: args.workers]]
    began = time.perf_counter()
    total = Tally()
    if len(shares) == 1:
        total.add(worker(args.seed, shares[0], args.batch))
    else:
        with multiprocessing.get_context("spawn").Pool(len(shares)) as pool:
            for tally in pool.starmap(worker, [(args.seed, share, args.batch) for share in shares]):
                total.add(tally)
    took = time.perf_counter() - began
    last = args.first + count - 1
    print(f"seed {args.seed}, batches {args.first}–{last} of {args.batch} commands, {len(shares)} worker(s)")
    print("| commands | accepted | rejected | clock moves | posts | problems | wall time | commands/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {total.commands:,} | {total.accepted:,} | {total.rejected:,} | {total.clock_moves:,} | {total.posts:,} "
        f"| {len(total.problems)} | {took:.0f} s | {total.commands / took:.0f} |"
    )
    for problem in total.problems[:50]:
        print(problem)
    if total.problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
