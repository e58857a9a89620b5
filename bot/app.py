"""The one composition root: settings in, a running Warroom out; engines and clients are born and closed here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TextIO
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import text

from adapters.console import ConsoleChat, ConsoleSession
from bot.chat import ChatPort
from bot.clock import Clock, SimClock
from bot.config import ConfigError, Settings
from bot.desk import Core
from bot.playbooks import PlaybookLibrary
from bot.reminders import ReminderEngine
from bot.runtime import Runtime
from bot.service import Warroom
from bot.store import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class App:
    settings: Settings
    db: Database
    warroom: Warroom
    playbooks: PlaybookLibrary
    engine: ReminderEngine


def load_playbooks(settings: Settings) -> PlaybookLibrary:
    """The playbook library, or a ConfigError saying exactly what is wrong with which file."""
    if not settings.playbooks_dir.is_dir():
        raise ConfigError(f"the playbook folder {settings.playbooks_dir} does not exist; set WARROOM_PLAYBOOKS")
    return PlaybookLibrary.load(settings.playbooks_dir)


async def prepare_database(settings: Settings) -> Database:
    """Open the database; the embedded SQLite default is migrated on start, PostgreSQL must be at head."""
    db = Database(settings.database_url)
    try:
        if db.dialect == "sqlite":
            await db.upgrade()
        elif not await db.at_head():
            raise ConfigError("the database schema is out of date; run `warroom db upgrade` first")
    except BaseException:
        await db.dispose()
        raise
    return db


@asynccontextmanager
async def running(settings: Settings, *, chat: ChatPort, clock: Clock) -> AsyncIterator[App]:
    """Everything wired together for the lifetime of the block."""
    playbooks = load_playbooks(settings)
    db = await prepare_database(settings)
    try:
        core = Core(db=db, chat=chat, playbooks=playbooks, clock=clock, default_tz=settings.timezone)
        warroom = Warroom(core)
        engine = ReminderEngine(db, clock, warroom.reminder_handlers, deliver=warroom.desk.outbox.deliver)
        yield App(settings=settings, db=db, warroom=warroom, playbooks=playbooks, engine=engine)
    finally:
        await db.dispose()


def web_app(app: App) -> web.Application:
    """The HTTP surface: health now; Slack and Bot Framework endpoints mount here as their adapters land."""

    async def healthz(_request: web.Request) -> web.Response:
        try:
            async with app.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as err:  # the probe must answer, whatever broke
            log.warning("health check failed: %s", err)
            return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
        return web.json_response({"status": "ok", "database": app.db.dialect})

    web_application = web.Application()
    web_application.router.add_get("/healthz", healthz)
    return web_application


class Surface(Protocol):
    """A chat platform as the server sees it: its chat port, its HTTP routes, its background connections."""

    chat: ChatPort

    def mount(self, web_application: web.Application, app: Runtime) -> None:
        """Add the platform's routes (e.g. POST /slack/events) to the one aiohttp server."""
        ...

    async def start(self, app: Runtime) -> None:
        """Open long-lived connections (e.g. Slack Socket Mode); a no-op for plain HTTP."""
        ...

    async def close(self) -> None:
        """Close clients and connections."""
        ...


def console_chat(out: TextIO, clock: SimClock, tz: str) -> ConsoleChat:
    """The terminal's chat: in-memory rooms, every post printed as it happens."""
    return ConsoleChat(out, clock, ZoneInfo(tz))


@asynccontextmanager
async def console(
    settings: Settings, out: TextIO, clock: SimClock, *, user: str, echo: bool
) -> AsyncIterator[tuple[App, ConsoleSession]]:
    """The whole product in a terminal: the app on a console chat, and the session a person types into."""
    chat = console_chat(out, clock, settings.timezone)
    async with running(settings, chat=chat, clock=clock) as app:
        session = ConsoleSession(
            app.warroom.handle,
            chat,
            clock,
            user=user,
            echo=echo,
            on_clock=lambda target: app.engine.run_until(target, clock),
        )
        yield app, session


def make_surface(settings: Settings) -> Surface:
    """The chat platform this deployment serves, chosen from the settings."""
    if settings.slack_bot_token:
        from adapters.slack.surface import SlackSurface

        return SlackSurface(settings)
    # Teams is the fallback: with no Microsoft app id it answers unauthenticated requests, for local use only.
    from adapters.teams.surface import TeamsSurface

    return TeamsSurface(settings)


async def serve(settings: Settings, *, clock: Clock, host: str = "0.0.0.0", surface: Surface | None = None) -> None:
    """Run the HTTP server and the reminder engine until cancelled."""
    import asyncio

    surface = surface or make_surface(settings)
    async with running(settings, chat=surface.chat, clock=clock) as app:
        web_application = web_app(app)
        surface.mount(web_application, app)
        runner = web.AppRunner(web_application)
        await runner.setup()
        site = web.TCPSite(runner, host, settings.port)
        await site.start()
        log.info("warroom serving on %s:%s with %s", host, settings.port, settings.describe())
        stop = asyncio.Event()
        reminders = asyncio.create_task(app.engine.run_forever(stop), name="reminder-engine")
        try:
            await surface.start(app)
            await asyncio.Event().wait()
        finally:
            stop.set()
            await reminders
            await runner.cleanup()
            await surface.close()
