"""Ack latency and throughput of a signed `/incident open`: the full Warroom server against a bare Bolt app.

Run: python bench/slack_ack.py [--requests 300] [--loads 1,8,20/s] [--postgres postgresql://postgres@127.0.0.1:5432/test]
     python bench/slack_ack.py --command note --floor [--rounds 3] [--postgres …]

With ``--floor`` the baseline is a Bolt app (inline, as Warroom runs it) whose listener does one durable
``INSERT … ON CONFLICT DO NOTHING RETURNING`` per command into the same kind of database, then acks: what any bot
that writes a command down before acking it pays. Warroom and the floor are measured alternately, ``--rounds``
times at each load; the table gives the median and the spread (min–max) of each, and the ratios.

Three processes on loopback: the fake Slack Web API (tests/adapters/fake_slack.py), the server under test, and
this one sending signed slash commands. "Bare Bolt" is an AsyncApp whose /incident listener only acks (with Bolt's
defaults, and inline with process_before_response=True as Warroom configures it); "Warroom" is
`warroom serve` itself (bot.app.serve: the Slack surface, the database, the reminder engine), whose ack starts a real
open in the background: channel, topic, invite, kickoff, pin, answer. Both are measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Slack lives with the tests; run this from anywhere

from slack_sdk.signature import SignatureVerifier  # noqa: E402

from tests.adapters.fake_slack import BOT_TOKEN, LOBBY, TEAM, FakeSlack, user_id  # noqa: E402

SECRET = "bench-signing-secret"
BARE = "bare Bolt"  # Bolt's defaults: the listener runs aside, the ack is polled for every 10 ms
INLINE = "bare Bolt, inline"  # process_before_response=True, as Warroom runs it: the listener runs inline
WARMUP = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_fake(urls: Any) -> None:
    """Child process: the fake Slack Web API, until terminated."""

    async def main() -> None:
        fake = FakeSlack()
        urls.put(await fake.start())
        await asyncio.Event().wait()

    asyncio.run(main())


def run_warroom(port: int, api: str, database_url: str) -> None:
    """Child process: `warroom serve` with Slack configured, until terminated."""
    from bot.app import serve
    from bot.clock import SystemClock
    from bot.config import Settings

    logging.basicConfig(level=logging.WARNING)
    settings = Settings(
        database_url=database_url,
        playbooks_dir=ROOT / "playbooks",
        host="127.0.0.1",
        port=port,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=api,
    )
    asyncio.run(serve(settings, clock=SystemClock()))


def run_bare_bolt(port: int, api: str, inline: bool) -> None:
    """Child process: a Bolt AsyncApp that only acks /incident, on Bolt's own aiohttp server."""
    from aiohttp import web
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    logging.basicConfig(level=logging.WARNING)
    client = AsyncWebClient(token=BOT_TOKEN, base_url=api)
    app = AsyncApp(client=client, signing_secret=SECRET, process_before_response=inline)

    @app.command("/incident")
    async def ack_only(ack: AsyncAck) -> None:
        await ack()

    web.run_app(app.web_app(path="/slack/events"), host="127.0.0.1", port=port, print=None)


FLOOR = "floor: Bolt + one INSERT"


def run_floor(port: int, api: str, database_url: str) -> None:
    """Child process: a Bolt AsyncApp (inline) whose /incident listener writes the command down, durably, then acks."""
    from aiohttp import web
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.store import async_url

    logging.basicConfig(level=logging.WARNING)
    url = async_url(database_url)
    engine = create_async_engine(url, **({} if url.startswith("sqlite") else {"pool_size": 10}))
    client = AsyncWebClient(token=BOT_TOKEN, base_url=api)
    app = AsyncApp(client=client, signing_secret=SECRET, process_before_response=True)
    insert = text("INSERT INTO floor_acks (key, payload) VALUES (:key, :payload) ON CONFLICT DO NOTHING RETURNING id")

    async def setup(_app: web.Application) -> None:
        async with engine.begin() as conn:
            if url.startswith("sqlite"):
                await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            serial = "INTEGER PRIMARY KEY" if url.startswith("sqlite") else "SERIAL PRIMARY KEY"
            await conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS floor_acks (id {serial}, key VARCHAR(200) UNIQUE, payload TEXT)"
            )

    @app.command("/incident")
    async def write_then_ack(ack: AsyncAck, body: dict[str, Any]) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert, {"key": str(body.get("trigger_id")), "payload": str(body.get("text"))})
        await ack()

    web_app = app.web_app(path="/slack/events")
    web_app.on_startup.append(setup)
    web.run_app(web_app, host="127.0.0.1", port=port, print=None)


def command(text: str, response_url: str, room: tuple[str, str] = (LOBBY, "general")) -> str:
    return urlencode(
        {
            "team_id": TEAM,
            "channel_id": room[0],
            "channel_name": room[1],
            "user_id": user_id("dana"),
            "user_name": "dana",
            "command": "/incident",
            "text": text,
            "response_url": response_url,
            "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
        }
    )


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body),
    }


async def wait_up(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(1800):  # a busy machine takes a while to import a server
        with contextlib.suppress(aiohttp.ClientError):
            async with http.post(url, data=b"") as response:
                await response.read()
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never came up")


async def load(
    http: aiohttp.ClientSession,
    url: str,
    fake: str,
    *,
    requests: int,
    spec: str,
    text: str = "open",
    room: tuple[str, str] = (LOBBY, "general"),
) -> dict[str, Any]:
    """Send ``requests`` signed commands — ``N`` at a time, or ``R/s`` at a steady rate — ack latencies (ms), acks/s.

    ``open`` sends opens with distinct titles from the lobby (each a real open in the background); ``note`` sends
    distinct notes to INC-1 from ``room``, its war room (each written to the inbox before the ack, then carried out:
    a note typed elsewhere is refused, and would measure nothing); anything else is sent as typed (``list``: a
    read-only command, answered in the ack itself)."""
    where = room if text != "open" else (LOBBY, "general")
    bodies = [command(typed(text), f"{fake}response/b{n}", where) for n in range(requests)]
    latencies: list[float] = []

    async def send(body: str) -> None:
        headers = signed(body)
        started = time.perf_counter()
        async with http.post(url, data=body.encode(), headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
        latencies.append((time.perf_counter() - started) * 1000)

    async def worker() -> None:
        while bodies:
            await send(bodies.pop())

    async def paced(rate: float) -> None:
        sends = []
        for n, body in enumerate(list(bodies)):
            await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            sends.append(asyncio.create_task(send(body)))
        await asyncio.gather(*sends)

    began = time.perf_counter()
    if spec.endswith("/s"):
        await paced(float(spec[:-2]))
    else:
        await asyncio.gather(*(worker() for _ in range(int(spec))))
    wall = time.perf_counter() - began
    latencies.sort()
    return {
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "rps": requests / wall,
    }


def typed(text: str) -> str:
    """The command as sent: opens and notes get distinct words (the same words twice in a minute are one command)."""
    if text == "open":
        return f'open "Bench {uuid.uuid4().hex[:10]} router dead" sev:2'
    if text == "note":
        return f"note INC-1 bench step {uuid.uuid4().hex[:10]}"
    return text


MUTATING = ("open", "note")


async def war_room(database_url: str) -> tuple[str, str]:
    """INC-1's war room (channel id and name), where its notes are typed: a note from anywhere else is refused."""
    from sqlalchemy import text as sql

    from bot.store import Database

    db = Database(database_url)
    try:
        async with db.read() as store:
            found = await store.session.execute(sql("SELECT room_id, room_name FROM incidents WHERE number = 1"))
            room_id, room_name = found.one()
    finally:
        await db.dispose()
    return str(room_id), str(room_name)


async def notes_recorded(database_url: str) -> int:
    """How many notes INC-1's timeline holds: every note acked must have been carried out, not refused."""
    from sqlalchemy import text as sql

    from bot.store import Database

    db = Database(database_url)
    try:
        async with db.read() as store:
            found = await store.session.execute(
                sql("SELECT count(*) FROM timeline WHERE incident = 1 AND kind = 'note'")
            )
            return int(found.scalar_one())
    finally:
        await db.dispose()


async def stats(http: aiohttp.ClientSession, fake: str) -> dict[str, Any]:
    async with http.get(f"{fake}stats") as response:
        found: dict[str, Any] = await response.json()
        return found


async def drained(
    http: aiohttp.ClientSession, fake: str, opens: int, since: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    """Wait until every open has answered its user; seconds waited and the Web API calls made meanwhile."""
    began = time.perf_counter()
    while True:
        now = await stats(http, fake)
        if now["responses"] - since["responses"] >= opens:
            calls = {m: n - since["calls"].get(m, 0) for m, n in now["calls"].items()}
            return time.perf_counter() - began, {m: n for m, n in calls.items() if n}
        if time.perf_counter() - began > 600:
            raise RuntimeError("the opens never finished")
        await asyncio.sleep(0.2)


async def bench(args: argparse.Namespace) -> None:
    ctx = multiprocessing.get_context("spawn")
    urls = ctx.Queue()
    fake_process = ctx.Process(target=run_fake, args=(urls,), daemon=True)
    fake_process.start()
    api = urls.get(timeout=120)  # a busy machine takes a while to start a process
    fake = api.removesuffix("api/")
    tmp = tempfile.TemporaryDirectory()
    database_url = f"sqlite:///{tmp.name}/bench.db"
    scratch = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    if args.postgres:  # a throwaway database on that server, migrated, dropped at the end
        import asyncpg

        from bot.store import Database

        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        database_url = args.postgres.rsplit("/", 1)[0] + f"/{scratch}"
        db = Database(database_url)
        await db.upgrade()
        await db.dispose()
    ports = {name: free_port() for name in (BARE, INLINE, "Warroom")}
    servers = {
        BARE: ctx.Process(target=run_bare_bolt, args=(ports[BARE], api, False), daemon=True),
        INLINE: ctx.Process(target=run_bare_bolt, args=(ports[INLINE], api, True), daemon=True),
        "Warroom": ctx.Process(target=run_warroom, args=(ports["Warroom"], api, database_url), daemon=True),
    }
    for process in servers.values():
        process.start()
    rows = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            for port in ports.values():
                await wait_up(http, f"http://127.0.0.1:{port}/slack/events")
            room = (LOBBY, "general")
            if args.command == "note":  # the notes go to INC-1, opened first, typed in its war room
                url = f"http://127.0.0.1:{ports['Warroom']}/slack/events"
                warm = await stats(http, fake)
                await load(http, url, fake, requests=1, spec="1", text="open")
                await drained(http, fake, 1, warm)
                room = await war_room(database_url)
            for spec in args.loads:
                for name, port in ports.items():
                    url = f"http://127.0.0.1:{port}/slack/events"
                    warm = await stats(http, fake)
                    await load(http, url, fake, requests=WARMUP, spec=spec, text=args.command, room=room)
                    if name == "Warroom" and args.command in MUTATING:
                        await drained(http, fake, WARMUP, warm)
                    before = await stats(http, fake)
                    result = await load(
                        http, url, fake, requests=args.requests, spec=spec, text=args.command, room=room
                    )
                    extra = ""
                    if name == "Warroom" and args.command in MUTATING:
                        waited, calls = await drained(http, fake, args.requests, before)
                        per_open = sum(calls.values()) / args.requests
                        each = ", ".join(f"{m} {n / args.requests:g}" for m, n in sorted(calls.items()))
                        extra = f"{per_open:.1f} ({each})"
                        result["done"] = args.requests / (args.requests / result["rps"] + waited)
                    rows.append((name, spec, result, extra))
                    print(name, spec, {k: round(v, 2) for k, v in result.items()}, extra, flush=True)
    finally:
        for process in [*servers.values(), fake_process]:
            process.terminate()
            process.join(10)
        tmp.cleanup()
        if args.postgres:
            await admin.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')
            await admin.close()
    print()
    print("| server | load | ack p50 (ms) | ack p99 (ms) | acks/s | commands finished/s | Web API calls per command |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, spec, r, extra in rows:
        done = f"{r['done']:.1f}" if "done" in r else "—"
        print(f"| {name} | {spec} | {r['p50']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} | {done} | {extra or '—'} |")
    for spec in args.loads:
        full = next(r for n, c, r, _ in rows if n == "Warroom" and c == spec)
        for against in (BARE, INLINE):
            bare = next(r for n, c, r, _ in rows if n == against and c == spec)
            print(
                f"load {spec}: p99 {full['p99'] / bare['p99']:.2f}× {against} (target ≤ 1.25), "
                f"throughput {full['rps'] / bare['rps']:.2f}× (target ≥ 0.8)"
            )


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


async def floor_bench(args: argparse.Namespace) -> None:
    """Warroom against the one-INSERT floor, alternating, ``--rounds`` times per load: medians, spreads, ratios."""
    ctx = multiprocessing.get_context("spawn")
    urls = ctx.Queue()
    fake_process = ctx.Process(target=run_fake, args=(urls,), daemon=True)
    fake_process.start()
    api = urls.get(timeout=120)  # a busy machine takes a while to start a process
    fake = api.removesuffix("api/")
    tmp = tempfile.TemporaryDirectory()
    database_url, floor_url = f"sqlite:///{tmp.name}/bench.db", f"sqlite:///{tmp.name}/floor.db"
    scratch = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        import asyncpg

        from bot.store import Database

        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        database_url = floor_url = args.postgres.rsplit("/", 1)[0] + f"/{scratch}"
        db = Database(database_url)
        await db.upgrade()
        await db.dispose()
    ports = {FLOOR: free_port(), "Warroom": free_port()}
    servers = {
        FLOOR: ctx.Process(target=run_floor, args=(ports[FLOOR], api, floor_url), daemon=True),
        "Warroom": ctx.Process(target=run_warroom, args=(ports["Warroom"], api, database_url), daemon=True),
    }
    for process in servers.values():
        process.start()
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
            for port in ports.values():
                await wait_up(http, f"http://127.0.0.1:{port}/slack/events")
            warroom = f"http://127.0.0.1:{ports['Warroom']}/slack/events"
            room, sent = (LOBBY, "general"), 0
            if args.command == "note":  # the notes go to INC-1, opened first, typed in its war room
                warm = await stats(http, fake)
                await load(http, warroom, fake, requests=1, spec="1", text="open")
                await drained(http, fake, 1, warm)
                room = await war_room(database_url)
            for spec in args.loads:
                for name, port in ports.items():  # warm both up; Warroom finishes its warm-up commands first
                    before = await stats(http, fake)
                    await load(http, f"http://127.0.0.1:{port}/slack/events", fake, requests=WARMUP, spec=spec,
                               text=args.command, room=room)  # fmt: skip
                    if name == "Warroom" and args.command in MUTATING:
                        await drained(http, fake, WARMUP, before)
                        sent += WARMUP
                for n in range(args.rounds):
                    order = list(ports) if n % 2 == 0 else list(reversed(ports))  # alternate who goes first
                    for name in order:
                        url = f"http://127.0.0.1:{ports[name]}/slack/events"
                        before = await stats(http, fake)
                        result = await load(
                            http, url, fake, requests=args.requests, spec=spec, text=args.command, room=room
                        )
                        if name == "Warroom" and args.command in MUTATING:  # the next round starts from quiet
                            waited, _calls = await drained(http, fake, args.requests, before)
                            # from the first send to the last command answered: the work the acks put off included
                            result["done"] = args.requests / (args.requests / result["rps"] + waited)
                            sent += args.requests
                        results.setdefault((name, spec), []).append(result)
                        print(name, spec, {k: round(v, 2) for k, v in result.items()}, flush=True)
            if args.command == "note":  # every note acked was carried out (a refused note would measure nothing)
                recorded = await notes_recorded(database_url)
                print(f"notes recorded in INC-1's timeline: {recorded} of {sent} acked", flush=True)
                if recorded != sent:
                    raise RuntimeError(f"{sent - recorded} acked notes were not recorded")
    finally:
        for process in [*servers.values(), fake_process]:
            process.terminate()
            process.join(10)
        tmp.cleanup()
        if args.postgres:
            await admin.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')
            await admin.close()
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print()
    print(f"`{args.command}` on {kind}, {args.rounds} alternating rounds of {args.requests} commands: median (min–max)")
    print()
    print("| server | in flight | ack p50 (ms) | ack p99 (ms) | acks/s | commands finished/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for (name, spec), runs in results.items():
        p50, p99, rps = ([r[k] for r in runs] for k in ("p50", "p99", "rps"))
        done = spread([r["done"] for r in runs]) if all("done" in r for r in runs) else "—"
        print(f"| {name} | {spec} | {spread(p50)} | {spread(p99)} | {spread(rps)} | {done} |")
    print()
    for spec in args.loads:
        mine, floor = results[("Warroom", spec)], results[(FLOOR, spec)]
        rates = [m["rps"] / f["rps"] for m, f in zip(mine, floor, strict=True)]
        tails = [m["p99"] / f["p99"] for m, f in zip(mine, floor, strict=True)]
        print(
            f"{kind}, {spec} in flight: acks/s {statistics.median(rates):.2f}× the floor "
            f"({min(rates):.2f}–{max(rates):.2f}; target ≥ 0.5), "
            f"p99 {statistics.median(tails):.2f}× ({min(tails):.2f}–{max(tails):.2f}; target ≤ 3)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--loads", type=lambda s: s.split(","), default=["1", "8", "20/s"], help="N in flight, or R/s at a steady rate"
    )
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server (a scratch database is made there)")
    parser.add_argument(
        "--command",
        default="open",
        help="`open` (the default) or `note` (mutating: through the inbox), or a read-only one such as `list`",
    )
    parser.add_argument("--floor", action="store_true", help="against a Bolt app doing one durable INSERT per command")
    parser.add_argument("--rounds", type=int, default=3, help="with --floor: alternating rounds per load")
    args = parser.parse_args()
    if args.floor:
        if args.loads == ["1", "8", "20/s"]:
            args.loads = ["1", "8"]
        asyncio.run(floor_bench(args))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
