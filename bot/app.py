"""The one composition root: settings in, a running Warroom out; engines and clients are born and closed here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TextIO
from zoneinfo import ZoneInfo

from aiohttp import web

from adapters.console import ConsoleChat, ConsoleSession
from adapters.email.imap import ImapMailbox
from adapters.email.local import LocalMailbox, LocalOutbox
from adapters.email.smtp import SmtpSender
from adapters.web import dashboard as web_dashboard
from adapters.web.api import mount as mount_api
from adapters.web.auth import csrf_token
from adapters.web.auth import install as install_sign_in
from adapters.web.customer import mount as mount_customer_page
from adapters.web.limits import body_deadline
from adapters.web.limits import runner as http_runner
from adapters.web.metrics import may_see_detail, mount_metrics
from adapters.web.webhooks import HttpWebhookPoster
from bot.chat import ChatPort, RoomRef
from bot.clock import Clock, SimClock, SystemClock
from bot.config import ConfigError, Settings, is_loopback
from bot.desk import Core
from bot.errors import BadInput
from bot.logs import install as redact_logs
from bot.mail.compose import outgoing
from bot.mail.message import reply_bytes
from bot.mail.port import Mailbox, MailSender, OutgoingMail
from bot.metrics import Gauges, Metrics
from bot.observe import QUIET, ObservedMailbox, ObservedSender, Observer
from bot.playbooks import PlaybookLibrary
from bot.reminders import ReminderEngine
from bot.render import printable
from bot.runtime import Runtime
from bot.service import Warroom
from bot.sharing import CustomerPages
from bot.store import Database
from bot.webhook_delivery import Outcome, WebhookPoster, WebhookWorker
from bot.when import format_when

log = logging.getLogger(__name__)
READY_TIMEOUT = 1.0  # seconds /readyz waits for the database: a probe that hangs is worse than one that says no
HAND_BACK = 3.0  # seconds of the drain kept for handing back what is claimed (the last thing before exit)
# The workers of a serving replica that claim under a lease, each as `<WARROOM_REPLICA>:<worker>` when it is set (the
# chat platform's inbox, `<WARROOM_REPLICA>:slack` or `:teams`, takes its own back when its worker starts).
WORKERS = ("reminders", "outbox", "mail", "webhooks")


@dataclass(frozen=True)
class App:
    settings: Settings
    db: Database
    warroom: Warroom
    playbooks: PlaybookLibrary
    engine: ReminderEngine
    metrics: Metrics  # this app's own Prometheus registry and instruments (GET /metrics)
    gauges: Gauges
    clock: Clock = field(default_factory=SystemClock)


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
async def running(
    settings: Settings,
    *,
    chat: ChatPort,
    clock: Clock,
    mail: MailSender | None = None,
    mailbox: Mailbox | None = None,
    metrics: Metrics | None = None,
    replica: str | None = None,
) -> AsyncIterator[App]:
    """Everything wired together for the lifetime of the block; ``metrics`` is made here unless the caller
    already gave it to the chat surface. ``replica`` (WARROOM_REPLICA, given by `serve` only): the workers claim
    under stable names derived from it, which `take_back` frees at start; a one-off command (`warroom tick`) run
    beside a serving replica must not share them."""
    playbooks = load_playbooks(settings)
    db = await prepare_database(settings)
    metrics = metrics or Metrics()
    if mail is not None or mailbox is not None:
        metrics.enable_mail()
        mail = ObservedSender(mail, metrics) if mail is not None else None
        mailbox = ObservedMailbox(mailbox, metrics) if mailbox is not None else None
    try:
        core = Core(
            db=db,
            chat=chat,
            playbooks=playbooks,
            clock=clock,
            default_tz=settings.timezone,
            mail=mail,
            mailbox=mailbox,
            mail_from=settings.mail_from or "Warroom <warroom@localhost>",
            public_url=settings.public_url,
            replica=replica,
        )
        warroom = Warroom(core)
        engine = ReminderEngine(
            db,
            clock,
            warroom.reminder_handlers,
            deliver=warroom.deliver,
            observer=metrics,
            owner=core.lease_owner("reminders"),
        )
        gauges = metrics.watch(db)
        yield App(
            settings=settings,
            db=db,
            warroom=warroom,
            playbooks=playbooks,
            engine=engine,
            metrics=metrics,
            gauges=gauges,
            clock=clock,
        )
    finally:
        await db.dispose()


def web_app(app: App, *, clock: Clock | None = None) -> web.Application:
    """The HTTP surface: liveness, readiness, metrics, the API, the dashboard and its sign-in; the chat platform's
    endpoint is mounted by its surface."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})  # liveness: the process answers; the database is /readyz's

    async def readyz(request: web.Request) -> web.Response:
        database, schema = app.db.dialect, "at head"
        try:
            if not await asyncio.wait_for(app.db.at_head(), timeout=READY_TIMEOUT):
                schema = "behind head: run `warroom db upgrade`"
        except TimeoutError:
            database, schema = f"no answer within {READY_TIMEOUT:g}s", "unknown"
        except Exception as err:  # the probe must answer, whatever broke
            log.warning("readiness check failed: %s", err)
            database, schema = "unreachable", "unknown"
        ready = schema == "at head"
        body: dict[str, object] = {"status": "ready" if ready else "not ready"}
        if may_see_detail(request, app.settings.metrics_token):  # what breaks and what is owed: not for strangers
            body |= {"database": database, "schema": schema}
            if ready:
                body["backlog"] = await backlog()
        return web.json_response(body, status=200 if ready else 503)

    async def backlog() -> dict[str, object]:
        """What this deployment still owes: posts not yet delivered (and since when), commands not yet carried out.
        A backlog does not make the replica unready — it is what a chat outage looks like, and it drains itself."""
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                async with app.db.read() as store:
                    owed, since = await store.backlog()
                    commands = await store.inbox_waiting()
        except Exception as err:  # a slow count must not fail the probe that just succeeded
            log.warning("could not count the backlog: %s", err)
            return {"unknown": True}
        return {"posts": owed, "oldest_post": since.isoformat() if since else None, "commands": commands}

    web_application = web.Application(middlewares=[body_deadline()])  # first: it times the whole body
    web_application.router.add_get("/healthz", healthz)
    web_application.router.add_get("/readyz", readyz)
    install_sign_in(web_application, app.settings, clock=clock or app.clock)
    mount_metrics(web_application, app.metrics, app.gauges, token=app.settings.metrics_token)
    mount_api(web_application, app)  # /api/v1: bearer tokens (`warroom token create`)
    web_dashboard.mount(
        web_application,
        db=app.db,
        playbooks=app.playbooks,
        clock=app.clock,
        default_zone=app.settings.timezone,
        csrf=csrf_token,
        live_per_viewer=app.settings.live_per_viewer,
    )
    mount_customer_page(  # /c/<token>: the customer's private page, no sign-in (the token is the key)
        web_application,
        CustomerPages(app.db, app.playbooks, app.clock, app.settings.public_url, deliver=app.warroom.deliver),
    )
    return web_application


async def dashboard(
    settings: Settings, *, port: int, clock: Clock, ready: Callable[[str], None], shown_at: Clock | None = None
) -> None:
    """`warroom dashboard`: the dashboard alone on 127.0.0.1, reading the database, until SIGTERM or Ctrl-C.

    ``shown_at``: the clock the pages read the war rooms at (the demo's stopped simulated time), when not ``clock``;
    sign-in always checks the wall clock."""
    redact_logs()
    playbooks = load_playbooks(settings)
    db = await prepare_database(settings)
    try:
        web_application = web.Application(middlewares=[body_deadline()])
        install_sign_in(web_application, settings, clock=clock)  # loopback only without sign-in, proxies refused
        web_dashboard.mount(
            web_application,
            db=db,
            playbooks=playbooks,
            clock=shown_at or clock,
            default_zone=settings.timezone,
            csrf=csrf_token,
            live_per_viewer=settings.live_per_viewer,
        )
        mount_customer_page(web_application, CustomerPages(db, playbooks, shown_at or clock, settings.public_url))
        runner = http_runner(web_application, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)  # never beyond this machine, even with sign-in
        await site.start()
        try:
            ready(f"http://127.0.0.1:{runner.addresses[0][1]}/")  # the port chosen, when asked for any (0)
            terminated = asyncio.Event()
            loop = asyncio.get_running_loop()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGTERM, terminated.set)
            await terminated.wait()
        finally:
            await runner.cleanup()
    finally:
        await db.dispose()


class Surface(Protocol):
    """A chat platform as the server sees it: its chat port, its HTTP routes, its background connections."""

    chat: ChatPort

    def mount(self, web_application: web.Application, app: Runtime) -> None:
        """Add the platform's routes (e.g. POST /slack/events) to the one aiohttp server."""
        ...

    async def start(self, app: Runtime) -> None:
        """Open long-lived connections (e.g. Slack Socket Mode); a no-op for plain HTTP."""
        ...

    async def close(self, *, grace: float) -> None:
        """Stop taking work, let work in flight finish (``grace`` seconds at most), close clients and connections."""
        ...

    def lease_owners(self) -> list[str]:
        """The lease owners this surface claims work under (its inbox), handed back at shutdown."""
        ...


def console_chat(out: TextIO, clock: SimClock, tz: str) -> ConsoleChat:
    """The terminal's chat: in-memory rooms, every post printed as it happens."""
    return ConsoleChat(out, clock, ZoneInfo(tz))


def mail_sender(settings: Settings) -> MailSender | None:
    """SMTP when WARROOM_SMTP_URL is set; else no email (the console keeps an outbox instead)."""
    return SmtpSender(settings.smtp) if settings.smtp else None


def mail_box(settings: Settings) -> Mailbox | None:
    """The IMAP mailbox replies are read from, when WARROOM_IMAP_URL is set."""
    return ImapMailbox(settings.imap) if settings.imap else None


class ConsoleMail:
    """Email in the terminal: without WARROOM_SMTP_URL emails go to an outbox the console prints (`/outbox` lists
    them), and without WARROOM_IMAP_URL `/reply` plays the vendor or the customer answering one."""

    def __init__(self, settings: Settings, chat: ConsoleChat, clock: SimClock) -> None:
        self.chat, self.clock = chat, clock
        self.sender: MailSender = mail_sender(settings) or LocalOutbox(self._show)
        self.local = LocalMailbox() if settings.imap is None else None
        self.mailbox: Mailbox = mail_box(settings) or self.local or LocalMailbox()
        self.app: App | None = None

    def _show(self, mail: OutgoingMail) -> None:
        stamp = format_when(self.clock.now(), self.chat.tz)
        to = ", ".join(mail.to) + (f" (cc {', '.join(mail.cc)})" if mail.cc else "")
        self.chat.write(f"\n[{stamp}] ✉ to {to}: {mail.subject}  — kept in the outbox (no WARROOM_SMTP_URL): /outbox\n")

    async def outbox(self, _rest: str) -> None:
        assert self.app is not None
        lines = await self.app.warroom.mail.outbox_lines(self.chat.tz)
        self.chat.write("".join(f"  {line}\n" for line in lines) or "  (no email yet)\n")

    async def reply(self, rest: str) -> None:
        """`/reply <address> [auto] <text>`: <address> answers the last email sent to it, through the mailbox."""
        assert self.app is not None
        if self.local is None:
            raise BadInput("replies come from the mailbox in WARROOM_IMAP_URL here", example="/help")
        address, _, text = rest.partition(" ")
        auto = text.startswith("auto ")
        text = (text[5:] if auto else text).strip().strip('"')
        async with self.app.db.read() as store:
            sent = [m for m in await store.mails() if address.lower() in outgoing(m).recipients and m.state == "sent"]
        if not sent or not text:
            raise BadInput(
                f"no email was sent to {address[:60] or 'that address'}", example='/reply sam@x.example "ok"'
            )
        original = outgoing(sent[-1])
        self.local.deliver(reply_bytes(original, sender=address, text=text, auto=auto, date=self.clock.now()))
        await self.check()

    async def check(self) -> None:
        if self.app is not None and (self.local is not None or self.app.settings.imap is not None):
            try:
                await self.app.warroom.mail.check()
            except Exception as err:  # the mailbox being away must not stop the console
                self.chat.write(f"  ✖ the mailbox: {printable(str(err))[:200]}\n")


async def remember_rooms(chat: ConsoleChat, db: Database) -> None:
    """The war rooms an earlier run opened, from the database: the terminal's chat knows them again (`/join`)."""
    async with db.read() as store:
        for incident in await store.incidents(include_closed=True):
            if incident.room_id:
                chat.remember(
                    RoomRef(incident.room_id, incident.room_name or incident.room_id),
                    f"{incident.ref} sev {incident.severity}: {incident.title}",
                )


class ConsoleSurface:
    """`warroom serve --console`: no chat platform. War rooms are opened in this process and every post is printed
    on stdout; commands come in through the HTTP API. For trying the API, the dashboard, webhooks and metrics on
    one machine — nothing here authenticates, so `serve` listens on 127.0.0.1 unless HOST says otherwise."""

    def __init__(self, settings: Settings, clock: Clock, out: TextIO) -> None:
        self.terminal = ConsoleChat(out, clock, ZoneInfo(settings.timezone))
        self.chat: ChatPort = self.terminal

    def mount(self, web_application: web.Application, app: Runtime) -> None:
        """No chat endpoint: the terminal only shows what the war rooms are told."""

    async def start(self, app: Runtime) -> None:
        await remember_rooms(self.terminal, app.db)
        self.terminal.write("Chat: this terminal (--console). War-room posts are printed here; send commands through "
                        "the HTTP API (/api/v1).\n")  # fmt: skip

    async def close(self, *, grace: float) -> None:
        """Nothing to close: the rooms live in the database and this process."""

    def lease_owners(self) -> list[str]:
        return []


@asynccontextmanager
async def console(
    settings: Settings, out: TextIO, clock: SimClock, *, user: str, echo: bool
) -> AsyncIterator[tuple[App, ConsoleSession]]:
    """The whole product in a terminal: the app on a console chat, and the session a person types into."""
    chat = console_chat(out, clock, settings.timezone)
    mail = ConsoleMail(settings, chat, clock)
    async with running(settings, chat=chat, clock=clock, mail=mail.sender, mailbox=mail.mailbox) as app:
        mail.app = app
        await remember_rooms(chat, app.db)

        async def on_clock(target: datetime) -> None:
            await app.engine.run_until(target, clock)
            await mail.check()

        session = ConsoleSession(
            app.warroom.handle,
            chat,
            clock,
            user=user,
            echo=echo,
            on_clock=on_clock,
            extra={"/outbox": mail.outbox, "/reply": mail.reply},
        )
        yield app, session


def make_surface(settings: Settings, *, observer: Observer = QUIET) -> Surface:
    """The chat platform this deployment serves, chosen from the settings, reporting its calls to ``observer``."""
    if settings.slack_bot_token:
        from adapters.slack.surface import SlackSurface

        return SlackSurface(settings, observer=observer)
    # Teams is the fallback: with no Microsoft app id it answers unauthenticated requests, for local use only.
    from adapters.teams.surface import TeamsSurface

    return TeamsSurface(settings, observer=observer)


async def webhook_worker(
    app: App, poster: WebhookPoster, clock: Clock, *, on_outcome: Outcome | None = None
) -> WebhookWorker:
    """The webhook worker of a serving replica, after recording the subscriptions WARROOM_WEBHOOKS names."""
    async with app.db.transaction() as store:
        await store.record_settings_webhooks(app.settings.webhooks, clock.now())
    secrets = {t.url: t.secret for t in app.settings.webhooks}
    owner = app.warroom.core.lease_owner("webhooks")
    return WebhookWorker(app.db, poster, clock, secrets=secrets, on_outcome=on_outcome, owner=owner)


async def serve(
    settings: Settings,
    *,
    clock: Clock,
    surface: Surface | None = None,
    on_webhook: Outcome | None = None,
) -> None:
    """Run the HTTP server, the reminder engine and the webhook worker until SIGTERM (or cancellation), then shut
    down gracefully. ``on_webhook`` is told each webhook delivery's outcome (delivered, retried, failed)."""
    settings.check_exposure()  # before anything opens: an unreachable or open server is refused in one line
    redact_logs()  # before anything listens: no request line or header is ever logged with its credentials
    metrics = Metrics()
    surface = surface or make_surface(settings, observer=metrics)
    host = settings.bind_host
    sender, mailbox = mail_sender(settings), mail_box(settings)
    async with running(
        settings,
        chat=surface.chat,
        clock=clock,
        mail=sender,
        mailbox=mailbox,
        metrics=metrics,
        replica=settings.replica,
    ) as app:
        await take_back(app)  # before any worker claims or any request is taken: every lease of these names is old
        poster = HttpWebhookPoster(allow_private=settings.webhooks_allow_private)
        hooks = await webhook_worker(app, poster, clock, on_outcome=on_webhook or metrics.observe_webhook)
        web_application = web_app(app, clock=clock)
        surface.mount(web_application, app)
        # SIGTERM to exit within settings.drain: work in flight gets what is left after handing back and closing.
        work_time = max(1.0, settings.drain - HAND_BACK - 1.0)
        runner = http_runner(web_application, shutdown_timeout=work_time)
        await runner.setup()
        site = web.TCPSite(runner, host, settings.port)
        await site.start()
        log.info("warroom serving on %s:%s", host, settings.port)
        log.debug("settings: %s", settings.describe())  # secrets show only whether they are set
        if settings.teams_unauthenticated and not is_loopback(host):
            log.warning("HOST=%s: POST /api/messages has no MICROSOFT_APP_ID and answers this machine only", host)
        if settings.web is not None and not (settings.public_url or "").startswith("https://"):
            log.warning(
                "dashboard sign-in without an https WARROOM_PUBLIC_URL: the session cookie is not marked Secure; "
                "set WARROOM_PUBLIC_URL=https://… when browsers reach Warroom over TLS"
            )
        if settings.web is None:
            log.info(
                "dashboard: no sign-in configured (WARROOM_OIDC_ISSUER); it answers this machine only — and anything "
                "that forwards to port %s without proxy headers makes it public",
                settings.port,
            )
        stop = asyncio.Event()
        reminders = asyncio.create_task(app.engine.run_forever(stop), name="reminder-engine")
        if sender or mailbox:
            log.info(
                "email: out %s, replies from %s", sender.name if sender else "off", mailbox.name if mailbox else "-"
            )
        mail = asyncio.create_task(app.warroom.mail.run_forever(stop), name="mailbox") if mailbox else None
        webhooks = asyncio.create_task(hooks.run_forever(stop), name="webhooks")
        terminated = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals on Windows or off the main thread
            loop.add_signal_handler(signal.SIGTERM, terminated.set)
        try:
            await surface.start(app)
            await terminated.wait()
            log.info("SIGTERM: no new requests; letting work in flight finish (%gs at most)", work_time)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            deadline = loop.time() + work_time
            stop.set()  # the engine finishes the tick it is in; what it had not claimed stays due for other replicas
            await runner.cleanup()  # stops listening at once; requests in flight get until the deadline
            await _finish(reminders, within=deadline - loop.time())
            if mail is not None:
                await _finish(mail, within=0)
            await _finish(webhooks, within=deadline - loop.time())  # a POST in flight gets its 10 s, then its lease
            with contextlib.suppress(Exception):
                await asyncio.wait_for(poster.close(), timeout=1.0)
            await surface.close(grace=max(0.0, deadline - loop.time()))
            owners = [app.engine.owner, app.warroom.desk.outbox.owner, app.warroom.mail.owner, hooks.owner]
            await _hand_back(app, [*owners, *surface.lease_owners()])
        log.info("warroom stopped")


async def take_back(app: App) -> int:
    """At start, under WARROOM_REPLICA: what a predecessor of this name claimed and never finished (it was killed, or
    its shutdown could not hand back) is released at once, in one transaction, instead of waiting out its leases —
    reminders fire, posts owed go out, emails and webhooks are sent on the next round. Called before any worker of
    this process claims anything, so every lease these names hold is the predecessor's. Without a name: nothing."""
    owners = [o for o in map(app.warroom.core.lease_owner, WORKERS) if o is not None]
    if not owners:
        return 0
    try:
        async with app.db.transaction() as store:
            released = sum([await store.hand_back(o) + await store.hand_back_webhooks(o) for o in owners])
    except Exception as err:  # the database may be slow to come up: the leases still run out
        log.warning("could not take back this replica's leases (%s); they come back when they run out", err)
        return 0
    log.info("took back %s item(s) this replica (%s) held before it restarted", released, app.warroom.core.replica)
    return released


async def _hand_back(app: App, owners: list[str]) -> None:
    """What this replica claimed and did not finish goes back to the others at once, not after its leases."""
    try:
        async with asyncio.timeout(HAND_BACK):
            await app.warroom.desk.outbox.flush()  # what it posted is marked first: never posted again by another
            async with app.db.transaction() as store:
                released = sum([await store.hand_back(o) + await store.hand_back_webhooks(o) for o in owners])
    except Exception as err:  # the database may be what is going away: the leases cover it
        log.warning("could not hand back claimed work (%s); it comes back when the leases run out", err)
        return
    if released:
        log.info("handed back %s claimed item(s) to the other replicas", released)


async def _finish(task: asyncio.Task[None], *, within: float) -> None:
    """Wait for ``task`` up to ``within`` seconds, then cancel it (a reminder cut short fires again after its lease)."""
    _done, pending = await asyncio.wait({task}, timeout=max(0.0, within))
    if pending:
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)  # a task stuck in a dead connection is not waited for
    elif not task.cancelled() and task.exception() is not None:
        log.error("%s ended with an error", task.get_name(), exc_info=task.exception())
