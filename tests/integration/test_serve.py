"""`warroom serve`'s HTTP surface: the health probe answers for the database behind it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

from adapters.memory import InMemoryChat
from bot.app import App, running, web_app
from bot.clock import SimClock
from bot.config import Settings
from bot.store import Database
from tests.conftest import PLAYBOOKS, START


async def serve_on_port_0(app: App) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_healthz_reports_the_database_it_reached(database_url: str) -> None:
    settings = Settings(database_url=database_url, playbooks_dir=PLAYBOOKS)
    if database_url.startswith("postgresql"):
        db = Database(database_url)
        await db.upgrade()
        await db.dispose()
    async with running(settings, chat=InMemoryChat(), clock=SimClock(START)) as app:
        runner, base = await serve_on_port_0(app)
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ok", "database": app.db.dialect}
        finally:
            await runner.cleanup()


async def test_healthz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", playbooks_dir=PLAYBOOKS)
    async with running(settings, chat=InMemoryChat(), clock=SimClock(START)) as app:
        unreachable = replace(app, db=Database("postgresql://postgres@127.0.0.1:9/nowhere"))
        runner, base = await serve_on_port_0(unreachable)
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
                assert response.status == 503
                assert (await response.json())["status"] == "unavailable"
        finally:
            await runner.cleanup()
            await unreachable.db.dispose()
