"""Soak: three `warroom serve` replicas on PostgreSQL, killed with SIGKILL while Slack misbehaves.

Run: python bench/soak.py [--postgres postgresql://postgres@127.0.0.1:5432/test] [--incidents 20] [--per 50]
     [--notes 500] [--rate 25] [--kill-every 4]

Everything is on loopback: a fake Slack Web API in this process (tests/adapters/fake_slack.py) that, for
chat.postMessage, sometimes does the work and then answers 500 or drops the connection, and sometimes kills the
replica that asked right after storing its post (so it dies between the post and its commit); three replicas as
subprocesses; this process sending signed slash commands to random replicas and killing one every few seconds.
Each `vendor` command makes one reminder due a minute later. At the end it counts, per kind: acknowledged
commands lost or run twice, reminders never posted, and duplicate Slack posts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Slack lives with the tests

from slack_sdk.signature import SignatureVerifier  # noqa: E402

from bot.store import Database  # noqa: E402
from tests.adapters.fake_slack import BOT_TOKEN, LOBBY, TEAM, FakeSlack, user_id  # noqa: E402

SECRET = "soak-signing-secret"
ANSWERS: dict[str, str] = {}  # command text → the id of its response_url, to show what it was answered
LOGS = Path(os.environ.get("WARROOM_SOAK_LOGS", "/tmp/warroom-soak"))  # each replica's log, for what went wrong
REPLICAS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MeanSlack(FakeSlack):
    """The fake Slack, reachable per replica (`/r<n>/api/…`), failing after the work and killing its callers."""

    def __init__(self, fail_after: float, kill_after: float) -> None:
        super().__init__()
        self.fail_after_p, self.kill_after_p = fail_after, kill_after
        self.pids: dict[int, int] = {}
        self.kills_after_post = 0

    async def start(self) -> str:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/r{replica}/api/{method}", self._per_replica)
        app.router.add_post("/response/{id}", self._response)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/"
        return self.url

    async def _per_replica(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if method == "chat.postMessage":
            roll = random.random()
            if roll < self.fail_after_p:
                self.fail_after_processing(method, random.choice(["500", "drop"]))
            elif roll < self.fail_after_p + self.kill_after_p:
                response = await self._api(request)  # the post is stored …
                pid = self.pids.get(int(request.match_info["replica"]))
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)  # … and its replica dies before it can commit that it was
                    self.kills_after_post += 1
                return response
        return await self._api(request)


class Replica:
    def __init__(self, n: int, database_url: str, api: str) -> None:
        self.n, self.port = n, free_port()
        self.env = {
            **os.environ,
            "WARROOM_DATABASE_URL": database_url,
            "WARROOM_PLAYBOOKS": str(ROOT / "playbooks"),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": f"{api}r{n}/api/",
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        if self.alive:  # the killer and the keeper may both want it back: one process per replica
            return
        log = open(LOGS / f"replica-{self.n}.log", "ab")  # noqa: SIM115  # the child keeps it for its lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=self.env, stdout=subprocess.DEVNULL, stderr=log
        )
        self.spawned.append(self.proc)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        for proc in self.spawned:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()


def signed(text: str, channel: str, n: int, fake: FakeSlack) -> tuple[str, dict[str, str]]:
    answer_at = fake.response_url()
    ANSWERS[text] = answer_at.rsplit("/", 1)[1]
    body = urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": user_id("dana"),
            "user_name": "dana",
            "channel_id": channel,
            "channel_name": "soak",
            "team_id": TEAM,
            "response_url": answer_at,
            "trigger_id": f"t{n}",
        }
    )
    ts = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return body, headers


async def send(
    http: aiohttp.ClientSession, replicas: list[Replica], text: str, channel: str, n: int, fake: FakeSlack
) -> bool:
    """One signed command to a live replica; True when it was acknowledged (HTTP 200 without an error)."""
    body, headers = signed(text, channel, n, fake)
    live = [r for r in replicas if r.alive] or replicas
    replica = random.choice(live)
    try:
        async with http.post(
            f"http://127.0.0.1:{replica.port}/slack/events",
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=3),
        ) as response:
            said = await response.text()
            return response.status == 200 and "nothing was recorded" not in said
    except (aiohttp.ClientError, TimeoutError):
        return False


async def wait_healthy(replicas: list[Replica], http: aiohttp.ClientSession) -> None:
    for _ in range(200):
        ok = 0
        for r in replicas:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(
                    f"http://127.0.0.1:{r.port}/healthz", timeout=aiohttp.ClientTimeout(total=1)
                ) as resp:
                    ok += resp.status == 200
        if ok == len(replicas):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("replicas did not come up")


async def killer(replicas: list[Replica], every: float, stop: asyncio.Event, counts: Counter[str]) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=random.uniform(every * 0.5, every * 1.5))
        if stop.is_set():
            return
        victim = random.choice(replicas)
        victim.kill()
        counts["random kills"] += 1
        await asyncio.sleep(random.uniform(0.5, 1.5))
        victim.start()


async def keeper(replicas: list[Replica], fake: MeanSlack, stop: asyncio.Event) -> None:
    """Restart replicas the fake Slack killed after a post, and keep its pid map current."""
    while not stop.is_set():
        for r in replicas:
            if not r.alive:
                await asyncio.sleep(0.5)
                if not r.alive:
                    r.start()
            if r.proc is not None:
                fake.pids[r.n] = r.proc.pid
        await asyncio.sleep(0.2)


async def soak(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    fake = MeanSlack(fail_after=args.fail_after, kill_after=0.0)
    api = await fake.start()
    replicas = [Replica(n, database_url, api) for n in range(REPLICAS)]
    for r in replicas:
        r.start()
        fake.pids[r.n] = r.proc.pid if r.proc else 0
    counts: Counter[str] = Counter()
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        await wait_healthy(replicas, http)
        for i in range(args.incidents):  # open the war rooms calmly first: the soak is about what follows
            assert await send(http, replicas, f'open "Soak site {i}" sev:3 playbook:default', LOBBY, i, fake)
        for _ in range(300):
            if len([c for c in fake.channels.values() if c.name.startswith("inc-")]) >= args.incidents:
                break
            await asyncio.sleep(0.1)
        rooms = sorted((c for c in fake.channels.values() if c.name.startswith("inc-")), key=lambda c: c.name)
        fake.kill_after_p = args.kill_after
        tasks = [
            asyncio.create_task(killer(replicas, args.kill_every, stop, counts)),
            asyncio.create_task(keeper(replicas, fake, stop)),
        ]
        commands: list[tuple[str, str, str]] = []  # (kind, channel, text)
        for room in rooms:
            commands += [
                ("vendor", room.id, f'vendor "Soak vendor {k}" "part {k} for {room.name}" due:1min')
                for k in range(args.per)
            ]
        notes = [("note", rooms[j % len(rooms)].id, f"note soak-{uuid.uuid4().hex[:10]}") for j in range(args.notes)]
        commands += notes
        random.shuffle(commands)
        acked: list[tuple[str, str, str]] = []
        began = time.monotonic()
        for n, (kind, channel, text) in enumerate(commands):
            if await send(http, replicas, text, channel, 1000 + n, fake):
                acked.append((kind, channel, text))
            await asyncio.sleep(max(0.0, began + (n + 1) / args.rate - time.monotonic()))
        counts["commands sent"], counts["commands acked"] = len(commands), len(acked)
        await asyncio.sleep(90)  # reminders fall due a minute after their command; kills go on meanwhile
        stop.set()
        await asyncio.gather(*tasks)
        for r in replicas:
            if not r.alive:
                r.start()
        await wait_healthy(replicas, http)
        settled = await settle(database_url, within=240)
        counts["settled"] = int(settled)
    counts["kills right after a post"] = fake.kills_after_post
    for r in replicas:
        r.kill()
    result = await verify(database_url, fake, rooms, acked)
    result.update(counts)
    await fake.close()
    return result


async def settle(database_url: str, *, within: float) -> bool:
    """Wait until nothing is owed: no inbox command, outbox post or due reminder left, and every follow-up chased
    once (the last ones typed are due a minute later: not yet due is not "never posted")."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            inbox = await conn.fetchval("SELECT count(*) FROM inbox WHERE state <> 'done'")
            outbox = await conn.fetchval("SELECT count(*) FROM outbox WHERE state = 'pending'")
            due = await conn.fetchval("SELECT count(*) FROM reminders WHERE state = 'pending' AND due_at <= now()")
            unchased = await conn.fetchval("SELECT count(*) FROM follow_ups WHERE chases = 0")
            if inbox == outbox == due == unchased == 0:
                return True
            await asyncio.sleep(1)
        print(
            f"not settled: {inbox} commands, {outbox} posts, {due} reminders still owed; {unchased} follow-ups"
            " never chased",
            file=sys.stderr,
        )
        return False
    finally:
        await conn.close()


async def verify(
    database_url: str, fake: FakeSlack, rooms: list[Any], acked: list[tuple[str, str, str]]
) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        by_room = {r["room_id"]: r["number"] for r in await conn.fetch("SELECT number, room_id FROM incidents")}
        asks = Counter((r["incident"], r["ask"]) for r in await conn.fetch("SELECT incident, ask FROM follow_ups"))
        notes = Counter(r["text"] for r in await conn.fetch("SELECT text FROM timeline WHERE kind = 'note'"))
        follow_ups = await conn.fetch("SELECT incident, number, chases FROM follow_ups")
    finally:
        await conn.close()
    lost: Counter[str] = Counter()
    twice: Counter[str] = Counter()
    missing: list[str] = []
    for kind, channel, text in acked:
        if kind == "vendor":
            ask = text.split('"')[3]
            seen = asks[(by_room.get(channel), ask)]
        else:
            seen = notes[text.removeprefix("note ")]
        lost[kind] += seen == 0
        twice[kind] += seen > 1
        if seen == 0:
            missing.append(text)
    chases: Counter[tuple[str, str]] = Counter()
    keys: Counter[str] = Counter()
    for room in rooms:
        for message in room.messages.values():
            key = ((message.get("metadata") or {}).get("event_payload") or {}).get("key")
            if key:
                keys[key] += 1
            lines = "\n".join(b["text"]["text"] for b in message.get("blocks") or [] if b.get("text")).splitlines()
            if not lines:
                continue
            if "⏰ V" in lines[0] and any("chase 1." in line for line in lines):
                chases[(room.id, lines[0].split("⏰ ", 1)[1].split()[0])] += 1
            elif "Catching up" in lines[0]:  # each item is one missed post, cut to 300 characters
                for line in lines:
                    if line.startswith("• ") and "⏰ V" in line:
                        chases[(room.id, line.split("⏰ ", 1)[1].split()[0])] += 1
    number_to_room = {v: k for k, v in by_room.items()}
    unposted = [f for f in follow_ups if chases[(number_to_room.get(f["incident"]), f"V{f['number']}")] == 0]
    never = len(unposted)
    for text in missing[:10]:
        said = [r.get("text", "")[:160] for r in fake.responses if r.get("id") == ANSWERS.get(text)]
        print("lost:", text, "— answered:", said, file=sys.stderr)
    for f in unposted[:10]:
        print(f"never posted: INC-{f['incident']} V{f['number']} ({f['chases']} chases)", file=sys.stderr)
    return {
        "acknowledged commands lost": dict(lost),
        "acknowledged commands run twice": dict(twice),
        "reminders (first chases) never posted": never,
        "follow-ups": len(follow_ups),
        "duplicate Slack posts (same delivery key)": sum(1 for c in keys.values() if c > 1),
        "chases posted twice": sum(1 for c in chases.values() if c > 1),
    }


async def main_async(args: argparse.Namespace) -> None:
    name = f"warroom_soak_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    try:
        db = Database(url)
        await db.upgrade()
        await db.dispose()
        result = await soak(args, url)
    finally:
        if args.keep:
            print(f"kept the database: {url}", file=sys.stderr)
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    for key, value in result.items():
        print(f"| {key} | {value} |")


def soak_parser(doc: str) -> argparse.ArgumentParser:
    """The options every soak takes (a PostgreSQL server to make its scratch database on, and whether to keep it)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards, to look into it")
    return parser


def fresh_logs(logs: Path) -> None:
    """The replicas' logs of this run only."""
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("replica-*.log"):
        old.unlink()


def main() -> None:
    parser = soak_parser(__doc__)
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--per", type=int, default=50, help="vendor follow-ups (reminders) per incident")
    parser.add_argument("--notes", type=int, default=500)
    parser.add_argument("--rate", type=float, default=25.0, help="commands per second")
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between random kills")
    parser.add_argument("--fail-after", type=float, default=0.03, help="posts answered 500/dropped after the work")
    parser.add_argument("--kill-after", type=float, default=0.005, help="posts after which the replica is killed")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    random.seed(args.seed)
    fresh_logs(LOGS)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
