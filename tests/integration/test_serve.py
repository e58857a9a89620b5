"""`warroom serve`: liveness and readiness probes that always answer, where it listens, and a graceful SIGTERM."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from sqlalchemy import text

from adapters.memory import InMemoryChat
from bot.app import App, running, web_app
from bot.clock import SimClock
from bot.config import Settings
from bot.store import Database
from tests.adapters.fake_slack import BOT_TOKEN, LOBBY, TEAM, FakeSlack, user_id
from tests.adapters.slack_world import SIGNING_SECRET, sign
from tests.conftest import PLAYBOOKS, ROOT, START
from tests.silent import silent_postgres

PATIENCE = aiohttp.ClientTimeout(total=15)  # generous: a probe that has not answered by then has hung


async def serve_on_port_0(app: App) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def probes(app: App) -> AsyncIterator[dict[str, tuple[int, Any]]]:
    """GET /healthz and /readyz of ``app`` served on port 0: path → (status, JSON)."""
    runner, base = await serve_on_port_0(app)
    try:
        answers = {}
        async with aiohttp.ClientSession(timeout=PATIENCE) as http:
            for path in ("/healthz", "/readyz"):
                async with http.get(f"{base}{path}") as response:
                    answers[path] = (response.status, await response.json())
        yield answers
    finally:
        await runner.cleanup()


@asynccontextmanager
async def app_on(tmp_path: Path, database: Database | None = None) -> AsyncIterator[App]:
    """A running app on a throwaway SQLite database, or seen through ``database`` instead."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", playbooks_dir=PLAYBOOKS)
    async with running(settings, chat=InMemoryChat(), clock=SimClock(START)) as app:
        yield app if database is None else replace(app, db=database)


async def test_both_probes_answer_200_when_the_database_answers_and_is_at_head(database_url: str) -> None:
    settings = Settings(database_url=database_url, playbooks_dir=PLAYBOOKS)
    async with running(settings, chat=InMemoryChat(), clock=SimClock(START)) as app, probes(app) as answers:
        assert answers["/healthz"] == (200, {"status": "ok"})
        backlog = {"posts": 0, "oldest_post": None, "commands": 0}
        ready = {"status": "ready", "database": app.db.dialect, "schema": "at head", "backlog": backlog}
        assert answers["/readyz"] == (200, ready)


async def test_readyz_shows_the_backlog_a_chat_outage_leaves(tmp_path: Path) -> None:
    async with app_on(tmp_path) as app:
        async with app.db.transaction() as store:
            await store.enqueue("C1", "inc-1", "{}", incident=None, now=START)
        async with probes(app) as answers:
            status, body = answers["/readyz"]
    assert status == 200 and body["backlog"] == {"posts": 1, "oldest_post": START.isoformat(), "commands": 0}


async def test_an_unreachable_database_leaves_the_process_alive_but_not_ready(tmp_path: Path) -> None:
    unreachable = Database("postgresql://postgres@127.0.0.1:9/nowhere")
    try:
        async with app_on(tmp_path, unreachable) as app, probes(app) as answers:
            assert answers["/healthz"] == (200, {"status": "ok"})
            assert answers["/readyz"] == (503, {"status": "not ready", "database": "unreachable", "schema": "unknown"})
    finally:
        await unreachable.dispose()


async def test_a_silent_database_hangs_neither_probe(tmp_path: Path) -> None:
    async with silent_postgres() as url:
        silent = Database(url)
        try:
            async with app_on(tmp_path, silent) as app, probes(app) as answers:
                assert answers["/healthz"] == (200, {"status": "ok"})
                assert answers["/readyz"] == (
                    503,
                    {"status": "not ready", "database": "no answer within 1s", "schema": "unknown"},
                )
        finally:
            await silent.dispose()


async def test_readyz_is_503_until_the_schema_is_upgraded(tmp_path: Path) -> None:
    behind = Database(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    try:
        async with app_on(tmp_path, behind) as app, probes(app) as answers:
            assert answers["/readyz"] == (
                503,
                {"status": "not ready", "database": "sqlite", "schema": "behind head: run `warroom db upgrade`"},
            )
            await behind.upgrade()
        async with app_on(tmp_path, behind) as app, probes(app) as answers:
            assert answers["/readyz"][0] == 200
    finally:
        await behind.dispose()


# --- the real `warroom serve`, in a process of its own ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    """`python -m bot serve` with the given settings; its log is collected as it is written."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process, self.port, self.log = process, port, ""
        self._reading = asyncio.create_task(self._read())

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.log += line.decode(errors="replace")

    async def answers(self) -> bool:
        """True when GET /healthz is answered; False when nothing listens on the port."""
        try:
            async with aiohttp.ClientSession(timeout=PATIENCE) as http, http.get(f"{self.base}/healthz") as response:
                return response.status == 200
        except aiohttp.ClientConnectionError:
            return False

    async def refuses(self) -> bool:
        return not await self.answers()

    async def until(self, check: Callable[[], Awaitable[bool] | bool], what: str, *, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while not await _value(check()):
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}; the server said:\n{self.log}")
            await asyncio.sleep(0.05)

    async def exit_code(self) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout=60)
        await self._reading
        return code


@asynccontextmanager
async def warroom_serve(
    tmp_path: Path,
    settings: Mapping[str, str],
    *,
    args: Sequence[str] = (),
    stdout: IO[str] | None = None,
    patience: float = 120.0,  # a busy CI machine takes long to import and start it
) -> AsyncIterator[Served]:
    """A `warroom serve` process on a free port and a throwaway SQLite database, answering /healthz."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
    env = inherited | {
        "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "WARROOM_PLAYBOOKS": str(PLAYBOOKS),
        "PORT": str(port),
        **settings,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", *args, cwd=ROOT, env=env, stdout=stdout, stderr=asyncio.subprocess.PIPE
    )
    served = Served(process, port)
    try:
        await served.until(served.answers, "the server to answer /healthz", within=patience)
        yield served
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def open_command(fake: FakeSlack) -> str:
    return urlencode(
        {
            "team_id": TEAM,
            "channel_id": LOBBY,
            "channel_name": "general",
            "user_id": user_id("dana"),
            "user_name": "dana",
            "command": "/incident",
            "text": 'open "Router dead on arrival" sev:2',
            "response_url": fake.response_url(),
            "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
        }
    )


async def post_open(served: Served, fake: FakeSlack) -> None:
    """A signed `/incident open` sent to the server, which acks it."""
    body = open_command(fake)
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    async with (
        aiohttp.ClientSession(timeout=PATIENCE) as http,
        http.post(f"{served.base}/slack/events", data=body, headers=headers) as acked,
    ):
        assert acked.status == 200


async def open_held_at_slack(served: Served, fake: FakeSlack) -> None:
    """A signed `/incident open` acked by the server and waiting on Slack's conversations.create (held by a gate)."""
    await post_open(served, fake)
    await served.until(lambda: "conversations.create" in fake.held, "the open to reach Slack")


async def test_sigterm_stops_taking_requests_lets_the_open_in_flight_finish_and_exits_0(tmp_path: Path) -> None:
    fake = FakeSlack()
    api = await fake.start()
    slow = fake.gates["conversations.create"] = asyncio.Event()  # the open is still running when SIGTERM comes
    settings = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api,
        "HOST": "127.0.0.1",
    }
    try:
        async with warroom_serve(tmp_path, settings) as served:
            await open_held_at_slack(served, fake)

            served.process.send_signal(signal.SIGTERM)
            await served.until(served.refuses, "the server to stop taking requests")
            slow.set()

            assert await served.exit_code() == 0
        assert fake.called("pins.add")  # the open finished: channel, invite, kickoff, pin
        assert fake.responses[0]["text"].startswith("Opened INC-1 in #inc-1-router-dead-on-arrival")
        assert "SIGTERM: no new requests" in served.log
        assert "warroom stopped" in served.log and "Traceback" not in served.log
    finally:
        await fake.close()


async def test_serve_listens_on_loopback_only_while_teams_is_unauthenticated(tmp_path: Path) -> None:
    async with warroom_serve(tmp_path, {}, patience=180) as served:  # a busy machine may take long to start it
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                async with http.get(f"http://127.0.0.1:{served.port}/readyz") as ready:
                    assert ready.status == 200
        served.process.send_signal(signal.SIGTERM)
        assert await served.exit_code() == 0
    assert f"warroom serving on 127.0.0.1:{served.port}" in served.log
    # at INFO, neither the settings it started with nor Alembic's routine lines (on start, on every /readyz)
    assert "database_url" not in served.log and "Context impl" not in served.log and "setup plugin" not in served.log
    migrations = [line for line in served.log.splitlines() if "alembic" in line]
    assert migrations and all("INFO alembic.runtime.migration: Running upgrade" in line for line in migrations)


async def test_serve_told_to_listen_everywhere_with_nothing_to_authenticate_exits_at_once_saying_why(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"HOST": "0.0.0.0", "PORT": str(port), "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1 and not out
    assert lines[0].startswith("warroom: HOST=0.0.0.0 listens beyond this machine but nothing authenticates callers")
    assert "SLACK_SIGNING_SECRET" in lines[0] and "WARROOM_OIDC_ISSUER" in lines[0]
    assert not (tmp_path / "w.db").exists()  # refused before anything was opened
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # and nothing listened


async def _value(result: Awaitable[bool] | bool) -> bool:
    return await result if inspect.isawaitable(result) else bool(result)


async def test_sigterm_hands_back_a_command_stuck_in_flight_and_exits_0_within_the_drain(database_url: str) -> None:
    fake = FakeSlack()
    api = await fake.start()
    fake.gates["conversations.create"] = asyncio.Event()  # never set: the open hangs on Slack through the drain
    settings = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api,
        "HOST": "127.0.0.1",
        "WARROOM_DATABASE_URL": database_url,
        "WARROOM_REPLICA": "pod-0",
        "WARROOM_DRAIN_SECONDS": "5",
    }
    try:
        async with warroom_serve(Path(), settings) as served:
            await open_held_at_slack(served, fake)
            served.process.send_signal(signal.SIGTERM)
            assert await served.exit_code() == 0
        assert "handed back 1 claimed item(s)" in served.log, served.log[-3000:]
        assert "Traceback" not in served.log
        db = Database(database_url)
        try:
            async with db.read() as store:
                rows = (await store.session.execute(text("SELECT state, lease_owner FROM inbox"))).all()
        finally:
            await db.dispose()
        assert len(rows) == 1 and rows[0][0] != "done" and rows[0][1] is None  # another replica takes it now
    finally:
        await fake.close()
