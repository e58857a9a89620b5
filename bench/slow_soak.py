"""Slow-database soak: three `warroom serve` replicas on PostgreSQL behind a proxy that delays and blackholes answers.

Run: python bench/slow_soak.py [--postgres postgresql://postgres@127.0.0.1:5432/test] [--seconds 75] [--senders 16]
     [--slow-share 0.05] [--slow-most 2.5] [--blackhole 5] [--settle 300]

Everything is on loopback. This process runs a TCP proxy in front of PostgreSQL (asyncio, 127.0.0.1, a free port)
that holds back a share of the database's answers by up to a few seconds and, for one stretch in the middle of the
load, forwards nothing either way (a blackholed database: what was sent arrives when it heals); the fake Slack Web
API (tests/adapters/fake_slack.py, per replica as in bench/soak.py); three replicas as subprocesses, each with its
own WARROOM_REPLICA name, all using the proxied URL. ``--senders`` senders post signed `/incident` commands — notes,
each with a unique token, into a few war rooms, and some opens — for ``--seconds``; then the database is fast again
and the soak waits until nothing is owed. Then it counts, from the database and what the fake Slack was told:

- told "nothing was recorded" but carried out (false negatives), commands carried out twice,
- acknowledged as accepted but never carried out, acks slower than Slack's 3 seconds (or none at all),
- "may have been recorded" answers, and how many of those ran 0, 1 or more times (0 or 1 is honest).

The bad counts should all be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Slack lives with the tests; the kill soak's helpers beside this file

import bench.soak as kill_soak  # noqa: E402
from bench.soak import ANSWERS, MeanSlack, Replica, settle, signed, wait_healthy  # noqa: E402
from bot.store import Database  # noqa: E402
from tests.adapters.fake_slack import LOBBY  # noqa: E402

REPLICAS = 3
SLACK_GIVES_UP = 3.0  # seconds: a slash command not acked by then has failed for the person who typed it
ROOMS = 4
SEND_TIMEOUT = 10.0  # seconds a sender waits for an ack before counting it as none
LOGS = Path("/tmp/warroom-slow-soak")


class SlowProxy:
    """A TCP proxy to PostgreSQL that holds back a share of its answers, and can blackhole everything for a while."""

    def __init__(self, upstream: tuple[str, int], *, share: float, most: float) -> None:
        self.upstream, self.share, self.most = upstream, share, most
        self.slow = False  # delays apply only while the load runs
        self.passable = asyncio.Event()  # cleared: nothing goes through either way, new connections wait
        self.passable.set()
        self.delayed = self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.passable.set()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            await self.passable.wait()  # a blackholed server does not answer a SYN either: the connect waits
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                return
            self._writers.add(up_writer)
            try:
                await asyncio.gather(self._pipe(reader, up_writer, answers=False), self._pipe(up_reader, writer))
            finally:
                self._writers.discard(up_writer)
                up_writer.close()
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, answers: bool = True) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await src.read(65536):
                await self.passable.wait()  # held while blackholed, delivered in order when it heals
                if answers and self.slow and random.random() < self.share:
                    self.delayed += 1
                    await asyncio.sleep(random.uniform(0, self.most))
                dst.write(chunk)
                await dst.drain()
        with contextlib.suppress(ConnectionError, OSError):
            dst.write_eof()


def run_proxy(upstream: tuple[str, int], share: float, most: float, conn: Any) -> None:
    """Child process: the proxy, so its work never delays this process's clock on the acks. Told over ``conn``:
    ("go", seconds, at, hole) — slow for ``seconds``, blackholed ``hole`` seconds from ``at`` on; then ("stop",)."""

    async def main() -> None:
        proxy = SlowProxy(upstream, share=share, most=most)
        conn.send(await proxy.start())
        loop = asyncio.get_running_loop()
        for _ in range(2):  # a go, then a stop; nothing else is ever sent
            order = await loop.run_in_executor(None, conn.recv)
            if order[0] == "stop":
                break
            _go, seconds, at, hole = order
            proxy.slow = True
            await asyncio.sleep(at)
            proxy.passable.clear()
            await asyncio.sleep(hole)
            proxy.passable.set()
            await asyncio.sleep(max(0.0, seconds - at - hole))
            proxy.slow = False
            conn.send(proxy.delayed)
        await proxy.close()

    asyncio.run(main())


class NamedReplica(Replica):
    """A replica of the kill soak with a stable name (WARROOM_REPLICA), as a StatefulSet pod has."""

    def __init__(self, n: int, database_url: str, api: str) -> None:
        super().__init__(n, database_url, api)
        self.env["WARROOM_REPLICA"] = f"slow-{n}"


@dataclass
class Sent:
    kind: str  # "note" or "open"
    text: str
    token: str
    status: int = 0  # 0: no answer within SEND_TIMEOUT
    said: str = ""  # the ack's own text
    seconds: float = 0.0
    told: list[str] = field(default_factory=list)  # what its response_url was sent, afterwards
    at: str = ""  # when it was sent (UTC)


async def sender(
    http: aiohttp.ClientSession,
    replicas: list[Replica],
    fake: MeanSlack,
    rooms: list[str],
    until: float,
    pause: float,
    sent: list[Sent],
    most: int,
) -> None:
    for _ in range(most):  # bounded in count as well as in time
        if time.monotonic() >= until:
            return
        token = uuid.uuid4().hex[:12]
        if random.random() < 0.08:
            one = Sent("open", f'open "Slow soak {token}" sev:3', token)
            channel = LOBBY
        else:
            one = Sent("note", f"note slow-{token}", token)
            channel = random.choice(rooms)
        body, headers = signed(one.text, channel, len(sent), fake)
        replica = random.choice(replicas)
        began = time.monotonic()
        one.at = time.strftime("%H:%M:%S", time.gmtime())
        try:
            async with http.post(
                f"http://127.0.0.1:{replica.port}/slack/events",
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT),
            ) as response:
                one.status = response.status
                raw = await response.text()
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    raw = str(json.loads(raw).get("text") or "") if raw else ""
                one.said = raw
        except (aiohttp.ClientError, TimeoutError):
            one.status = 0
        one.seconds = time.monotonic() - began
        sent.append(one)
        await asyncio.sleep(random.uniform(0, 2 * pause))


async def soak(args: argparse.Namespace, direct_url: str, proxied_url: str, proxy: Any) -> dict[str, Any]:
    """The load against three replicas behind the proxy (``proxy``: the pipe to its process); the counts."""
    fake = MeanSlack(fail_after=0.0, kill_after=0.0)
    api = await fake.start()
    replicas: list[Replica] = [NamedReplica(n, proxied_url, api) for n in range(REPLICAS)]
    sent: list[Sent] = []
    try:
        for r in replicas:
            r.start()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            for tries in range(6):  # a busy machine takes a while to import three servers
                try:
                    await wait_healthy(replicas, http)
                    break
                except RuntimeError:
                    if tries == 5:
                        raise
            for i in range(ROOMS):  # the war rooms are opened calmly: the soak is about what follows
                opening = Sent("open", f'open "Slow soak room {i}" sev:3', f"room{i}")
                body, headers = signed(opening.text, LOBBY, i, fake)
                async with http.post(
                    f"http://127.0.0.1:{replicas[i % REPLICAS].port}/slack/events", data=body, headers=headers
                ) as response:
                    await response.read()
            for _ in range(600):
                if len([c for c in fake.channels.values() if c.name.startswith("inc-")]) >= ROOMS:
                    break
                await asyncio.sleep(0.1)
            rooms = [c.id for c in fake.channels.values() if c.name.startswith("inc-")]
            if not rooms:
                raise RuntimeError("no war room opened before the load")
            proxy.send(("go", args.seconds, args.seconds * 0.6, args.blackhole))
            hole = time.strftime("%H:%M:%S", time.gmtime(time.time() + args.seconds * 0.6))
            print(f"blackholed from {hole} for {args.blackhole:g}s", file=sys.stderr)
            began = time.monotonic()
            until = began + args.seconds
            stalled: list[float] = []
            watch = asyncio.create_task(stalls(until, stalled))
            per_sender = int(args.seconds / max(args.pause, 0.01)) * 4 + 10
            await asyncio.gather(
                *(sender(http, replicas, fake, rooms, until, args.pause, sent, per_sender) for _ in range(args.senders))
            )
            await watch
            ended = await asyncio.get_running_loop().run_in_executor(None, proxy.poll, 60.0)  # it is fast again
            delayed = proxy.recv() if ended else "?"
            print(f"load done: {len(sent)} commands in {time.monotonic() - began:.0f}s; settling", file=sys.stderr)
            settled = await settle(direct_url, within=args.settle)
            await asyncio.sleep(3)  # the last answers after the last commit
            over = await slow_acks(http, replicas)
    finally:
        for r in replicas:
            r.kill()
    result = await count(direct_url, fake, sent)
    result["settled"] = settled
    result["acks over 3 s, as the replicas measured them"] = over
    result["database answers delayed"] = delayed
    result["stalls over 1 s of this process during the load (the machine)"] = (
        f"{len(stalled)} (longest {max(stalled, default=0):.1f}s)"
    )
    await fake.close()
    return result


async def stalls(until: float, seen: list[float]) -> None:
    """This process's own event loop, late by more than a second: the machine stalled, whatever the replicas do."""
    last = time.monotonic()
    while last < until:
        await asyncio.sleep(0.1)
        now = time.monotonic()
        if now - last > 1.1:
            seen.append(now - last - 0.1)
        last = now


async def slow_acks(http: aiohttp.ClientSession, replicas: list[Replica]) -> int:
    """Slack acks that took over 3 s from arrival to answer, by the replicas' own clocks (GET /metrics)."""
    over = 0
    for r in replicas:
        async with http.get(f"http://127.0.0.1:{r.port}/metrics", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            text = await resp.text()
        total = within = 0.0
        for line in text.splitlines():
            if line.startswith("warroom_ack_latency_seconds_count") and 'platform="slack"' in line:
                total = float(line.rsplit(" ", 1)[1])
            elif line.startswith("warroom_ack_latency_seconds_bucket") and 'le="3.0"' in line and "slack" in line:
                within = float(line.rsplit(" ", 1)[1])
        over += int(total - within)
    return over


async def count(database_url: str, fake: MeanSlack, sent: list[Sent]) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        notes = Counter(r["text"] for r in await conn.fetch("SELECT text FROM timeline WHERE kind = 'note'"))
        titles = Counter(r["title"] for r in await conn.fetch("SELECT title FROM incidents"))
    finally:
        await conn.close()
    told: dict[str, list[str]] = {}
    for response in fake.responses:
        told.setdefault(str(response.get("id")), []).append(str(response.get("text") or ""))
    tally: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}

    def bad(what: str, one: Sent, ran: int) -> None:
        tally[what] += 1
        examples.setdefault(what, [])
        if len(examples[what]) < 5:
            examples[what].append(
                f"{one.at} {one.text!r} ran {ran}×, ack {one.status} in {one.seconds:.1f}s: {one.said!r} {one.told!r}"
            )

    slowest = 0.0
    for one in sent:
        one.told = told.get(ANSWERS.get(one.text, ""), [])
        ran = notes[f"slow-{one.token}"] if one.kind == "note" else titles[f"Slow soak {one.token}"]
        words = " ".join([one.said, *one.told]).lower()
        nothing, maybe = "nothing was recorded" in words, "may have been recorded" in words
        slowest = max(slowest, one.seconds)
        tally["commands sent"] += 1
        tally[f"{one.kind}s sent"] += 1
        if one.status == 0 or one.seconds > SLACK_GIVES_UP:
            bad("acks over 3 s (or none)", one, ran)
        if one.status not in (0, 200):
            bad("acks with an HTTP error", one, ran)
        if nothing and ran:
            bad('told "nothing was recorded" but ran', one, ran)
        if ran > 1:
            bad("ran twice", one, ran)
        if one.status == 200 and not nothing and not maybe and ran == 0:
            bad("acked but never ran", one, ran)
        if maybe:
            tally['"may have been recorded"'] += 1
            tally[f'"may have been recorded", then ran {min(ran, 2)}{"+" if ran > 1 else ""}×'] += 1
        if nothing and not ran:
            tally['told "nothing was recorded", and it did not run'] += 1
    for what, lines in examples.items():
        for line in lines:
            print(f"{what}: {line}", file=sys.stderr)
    result: dict[str, Any] = dict(tally)
    for what in (
        'told "nothing was recorded" but ran',
        "ran twice",
        "acked but never ran",
        "acks over 3 s (or none)",
        "acks with an HTTP error",
        '"may have been recorded"',
    ):
        result.setdefault(what, 0)
    result["slowest ack (s)"] = round(slowest, 2)
    return result


async def main_async(args: argparse.Namespace) -> int:
    name = f"warroom_slow_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(args.postgres)
    direct_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    ctx = multiprocessing.get_context("spawn")
    proxy, theirs = ctx.Pipe()
    upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
    child = ctx.Process(target=run_proxy, args=(upstream, args.slow_share, args.slow_most, theirs), daemon=True)
    child.start()
    if not proxy.poll(60):
        raise RuntimeError("the proxy did not start")
    port = proxy.recv()
    user = f"{parts.username}@" if parts.username else ""
    proxied_url = f"postgresql://{user}127.0.0.1:{port}/{name}"
    try:
        db = Database(direct_url)
        await db.upgrade()
        await db.dispose()
        result = await soak(args, direct_url, proxied_url, proxy)
    finally:
        with contextlib.suppress(OSError):
            proxy.send(("stop",))
        child.join(10)
        if child.is_alive():
            child.kill()
        if args.keep:
            print(f"kept the database: {direct_url}", file=sys.stderr)
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(
        f"{REPLICAS} replicas, {args.senders} senders, {args.seconds:g}s of load; {args.slow_share:.0%} of the"
        f" database's answers held back by up to {args.slow_most:g}s; blackholed for {args.blackhole:g}s"
    )
    print()
    print("| count | value |")
    print("|---|---:|")
    for key, value in result.items():
        print(f"| {key} | {value} |")
    wrong = sum(
        int(result[k])
        for k in (
            'told "nothing was recorded" but ran',
            "ran twice",
            "acked but never ran",
            "acks over 3 s (or none)",
            "acks over 3 s, as the replicas measured them",
        )
    )
    wrong += sum(int(v) for k, v in result.items() if k.startswith('"may have been recorded", then ran 2'))
    return 1 if wrong or not result["settled"] else 0


def main() -> None:
    parser = kill_soak.soak_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=75.0, help="how long the senders send")
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--pause", type=float, default=0.5, help="mean seconds a sender waits between commands")
    parser.add_argument("--slow-share", type=float, default=0.05, help="share of the database's answers held back")
    parser.add_argument("--slow-most", type=float, default=2.5, help="seconds an answer is held back at most")
    parser.add_argument("--blackhole", type=float, default=5.0, help="seconds the database answers nothing at all")
    parser.add_argument("--settle", type=float, default=300.0, help="seconds to wait afterwards until nothing is owed")
    parser.add_argument("--seed", type=int, default=25)
    args = parser.parse_args()
    random.seed(args.seed)
    kill_soak.fresh_logs(LOGS)
    kill_soak.LOGS = LOGS  # the replicas' logs, for what went wrong
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
