"""`warroom …`: the command line. Reads settings once, builds the app through bot.app, reports errors in one line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import __version__
from bot.clock import Clock, SimClock, SystemClock
from bot.commands import parse_timezone, ref_number
from bot.config import Settings
from bot.domain import INCIDENT_REF
from bot.errors import BadInput, NotFound, PlaybookError, WarroomError
from bot.logs import install as redact_logs
from bot.when import parse_when
from bot.words import count

DEFAULT_DB = Path("warroom.db")  # the embedded database of the default WARROOM_DATABASE_URL


SETTINGS_PAGE = "docs/SETTINGS.md"  # every environment variable, its default and meaning (tests keep it true)
EPILOG = (
    "Settings (database, playbooks, time zone, HOST and PORT, Slack, Teams, email, sign-in, metrics) are read from"
    f" environment variables: see {SETTINGS_PAGE} for every one, with its default and meaning."
    " `warroom COMMAND --help` describes a command."
)


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, more: str = ""
) -> argparse.ArgumentParser:
    """A subcommand whose one-line summary shows in its parent's list and opens its own --help."""
    return sub.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + "." + (f" {more}" if more else ""),
        epilog=f"Settings: see {SETTINGS_PAGE}.",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="warroom", description="The war-room bot for customer crises.", epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"warroom {__version__}", help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    console = _command(
        sub,
        "console",
        "the whole product in a terminal, on simulated time",
        "War rooms are channels of the terminal; /clock +2h moves time; it keeps its incidents in"
        " WARROOM_DATABASE_URL (default warroom.db). /help lists the console's commands.",
    )
    console.add_argument("--user", default=os.environ.get("USER") or "you", help="who you are (default: $USER)")
    console.add_argument(
        "--start",
        help='when the simulated clock starts, e.g. "2026-03-02 09:00" (in --tz): a piped script replays the same'
        " way on any day (default: now)",
    )
    console.add_argument("--tz", help="the time zone the console shows and reads times in (default: WARROOM_TZ)")
    _command(
        sub,
        "demo",
        "replay two customer crises end to end in simulated time and print the transcript and their summaries",
        "Runs on a throwaway database and keeps its war rooms in warroom-demo.db (never in warroom.db), the second"
        " left open at the moment the story stops, for `warroom dashboard`.",
    )
    board = _command(
        sub,
        "dashboard",
        "the web dashboard alone, on this machine only (127.0.0.1)",
        "Reads WARROOM_DATABASE_URL; while the default warroom.db has no incident, it shows the last `warroom demo`.",
    )
    board.add_argument("--port", type=int, default=8000, help="the port to listen on (default: 8000; 0: any free one)")
    board.add_argument("--demo", action="store_true", help="show the war rooms of the last `warroom demo`")
    serve = _command(
        sub,
        "serve",
        "run the HTTP server (Slack or Teams, API, dashboard, metrics) and the reminder engine",
        "Listens on HOST:PORT (default port 3000); stops gracefully on SIGTERM.",
    )
    serve.add_argument(
        "--console",
        action="store_true",
        help="no chat platform: war-room posts are printed here and commands come through the API (for trying it)",
    )
    tick = _command(
        sub,
        "tick",
        "run the reminder engine once (cron-friendly)",
        "Fires every reminder due by --at and prints how many fired.",
    )
    tick.add_argument("--at", help="ISO 8601 instant to run at, with its UTC offset (default: now)")
    summary = _command(
        sub,
        "summary",
        "export an incident's lessons-learned summary",
        "A draft, saying so, while the incident is not closed.",
    )
    summary.add_argument("incident", help="the incident: INC-<n>")
    summary.add_argument(
        "--format", choices=("markdown", "json"), default="markdown", help="markdown (default) or json"
    )
    playbooks = _command(
        sub,
        "playbooks",
        "check the playbooks",
        "`warroom playbooks check` exits 1 with one `file:line: problem` line for each problem.",
    )
    playbooks.add_argument("action", choices=("check",), help="check: validate every playbook in the folder")
    playbooks.add_argument("--dir", type=Path, help="folder to check (default: WARROOM_PLAYBOOKS)")
    db = _command(
        sub,
        "db",
        "apply the database migrations",
        "`warroom db upgrade` brings WARROOM_DATABASE_URL to the newest schema (PostgreSQL must be upgraded before"
        " `serve`; the embedded SQLite default is migrated on start).",
    )
    db.add_argument("action", choices=("upgrade",), help="upgrade: apply every migration not yet applied")
    _webhook_parser(sub)
    token = _command(sub, "token", "bearer tokens of the HTTP API (/api/v1)")
    token_actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = _command(token_actions, "create", "make a token and print it (once)")
    create.add_argument("name", help="what uses it, e.g. pagerduty")
    create.add_argument(
        "--scope", choices=("read", "write"), default="read", help="read: GET only (default); write: also POST"
    )
    _command(token_actions, "list", "name, scope, created, last used, revoked")
    revoke = _command(token_actions, "revoke", "refuse the token from now on, on every replica")
    revoke.add_argument("name", help="the token's name, as `warroom token list` shows it")
    return p


def _webhook_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.webhooks import EVENTS

    hook = _command(sub, "webhook", "outbound webhooks: subscribe URLs to incident events")
    actions = hook.add_subparsers(dest="action", required=True, metavar="ACTION")
    events = "\n".join(f"  {name:<27} {when}" for name, when in EVENTS.items())
    add = actions.add_parser(
        "add",
        help="subscribe a URL; its signing secret is printed once",
        description="Subscribe a URL; its signing secret is printed once.",
        epilog=f"events (--events):\n{events}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("url", help="an http:// or https:// URL")
    add.add_argument("--events", default="", help="comma-separated event names, listed below (default: every event)")
    add.add_argument("--secret", help="the signing secret to use (default: a new random one)")
    add.add_argument(
        "--allow-private",
        action="store_true",
        help="allow a host on this machine or its network (loopback, private, link-local) for this subscription:"
        " serve delivers there, checked after DNS like any other",
    )
    _command(actions, "list", "the subscriptions, with what each still owes and what failed")
    remove = _command(actions, "remove", "unsubscribe a URL (by its URL or its ID)")
    remove.add_argument("which", metavar="URL|ID", help="the subscription's URL or its ID from `warroom webhook list`")
    _command(actions, "failed", "deliveries that gave up or are failing, with the last error")
    retry = _command(actions, "retry", "send a failed delivery again (retried for another 24 hours)")
    retry.add_argument("delivery", type=int, metavar="ID", help="the delivery's ID from `warroom webhook failed`")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `warroom` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.command == "serve" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    redact_logs()  # whatever logs, no credential reaches the log
    try:
        settings = Settings.from_env(os.environ)
        return asyncio.run(_COMMANDS[args.command](settings, args))
    except PlaybookError as err:
        print("warroom: invalid playbooks:\n" + "\n".join(f"  {p}" for p in err.problems), file=sys.stderr)
        return 2
    except WarroomError as err:
        print(f"warroom: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _console_start(text: str | None, tz: str, *, now: datetime | None = None) -> datetime:
    """`--start "2026-03-02 09:00"` in the console's zone (an ISO offset wins), or a due-time phrase from the wall
    clock (`--start "next mon 09:00"`); the wall clock without it."""
    wall = now or datetime.now(UTC).replace(second=0, microsecond=0)  # the wall clock, to the minute
    if text is None:
        return wall
    try:
        start = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return parse_when(text, now=wall, tz=ZoneInfo(tz))
        except BadInput as err:
            reason = f"--start '{text[:40]}' is not a date and time ({err.reason})"
            raise BadInput(reason, example='--start "2026-03-02 09:00"') from None
    return start.replace(tzinfo=ZoneInfo(tz)) if start.tzinfo is None else start


async def _console(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import console

    if args.tz is not None:
        settings = replace(settings, timezone=parse_timezone(args.tz))
    clock = SimClock(_console_start(args.start, settings.timezone))
    interactive = sys.stdin.isatty()
    async with console(settings, sys.stdout, clock, user=args.user, echo=not interactive) as (app, session):
        async with app.db.transaction() as store:
            latest = await store.latest_event_at()
        if latest is not None and latest > clock.now():
            clock.set(latest)  # a console that moved time forward resumes where it left off (time never goes back)
        if interactive:
            print(
                f"Warroom console on {settings.database_url} — /help for console commands, /incident help for the bot."
            )
        await session.run_terminal(sys.stdin, interactive=interactive)
    return 0


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return int(await run_demo(settings, sys.stdout))


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import ConsoleSurface, serve

    clock = SystemClock()
    await serve(settings, clock=clock, surface=ConsoleSurface(settings, clock, sys.stdout) if args.console else None)
    return 0


async def _dashboard(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import dashboard
    from bot.demo import DEMO_DATABASE, demo_moment

    if not 0 <= args.port < 65536:
        raise BadInput(f"--port {args.port} is not a port number", example="--port 8000")
    note = ""
    shown_at: Clock | None = None
    if args.demo:
        if not DEMO_DATABASE.exists():
            raise BadInput(f"no {DEMO_DATABASE} here: run `warroom demo` first", example="warroom demo")
        settings = replace(settings, database_url=f"sqlite:///{DEMO_DATABASE}")
    elif settings.database_url == Settings.database_url and DEMO_DATABASE.exists() and _no_open_incidents(DEFAULT_DB):
        # `warroom demo` then `warroom dashboard` on a new machine, or after the console tour (its one incident
        # closed): show the demo rather than a page with no war room, without ever writing the demo into the real one
        settings = replace(settings, database_url=f"sqlite:///{DEMO_DATABASE}")
        note = f"\n{DEFAULT_DB} has no open incident, so this shows the last `warroom demo` ({DEMO_DATABASE})."
    if settings.database_url == f"sqlite:///{DEMO_DATABASE}":
        moment = await demo_moment(settings)
        if moment is not None:  # the demo's simulated time, stopped where its story stops: ages and clocks as then
            shown_at = SimClock(moment)
            note += f"\nThe demo is shown at the moment it stops: {moment:%Y-%m-%d %H:%M} UTC."

    def ready(url: str) -> None:
        database = settings.describe()["database_url"]
        print(f"Warroom dashboard on {url} (database {database}) — Ctrl-C to stop{note}", flush=True)

    await dashboard(settings, port=args.port, clock=SystemClock(), ready=ready, shown_at=shown_at)
    return 0


def _no_open_incidents(path: Path) -> bool:
    """True when the embedded database file is absent or holds no incident that is not closed (read only: nothing
    is created)."""
    if not path.exists():
        return True
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM incidents WHERE state != 'closed'").fetchone()[0]) == 0
    except sqlite3.Error:  # not migrated yet (no incidents table), or not ours: nothing to show either way
        return not path.stat().st_size


async def _summary(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import load_playbooks, prepare_database
    from bot.summary import build_summary, to_markdown

    match = INCIDENT_REF.match(args.incident.strip())
    if not match:
        raise BadInput(f"'{args.incident[:40]}' is not an incident reference", example="warroom summary INC-42")
    number = ref_number(match, "warroom summary INC-42")
    db = await prepare_database(settings)
    try:
        async with db.transaction() as store:
            stored = await store.summary(number)
            if stored is None:
                incident = await store.get_incident(number)
                data = await build_summary(
                    store, incident, load_playbooks(settings).get(incident.playbook).update_cadence
                )
                data["draft"] = True  # not closed yet: what the summary would say now
                stored = (to_markdown(data), data)
    finally:
        await db.dispose()
    markdown, data = stored
    if data.get("draft"):
        markdown = f"> Draft: {data['incident']} is not closed yet.\n\n{markdown}"
    print(
        json.dumps(data, indent=2, sort_keys=True) if args.format == "json" else markdown,
        end="" if args.format == "markdown" else "\n",
    )
    return 0


async def _playbooks(settings: Settings, args: argparse.Namespace) -> int:
    from bot.playbooks import check

    folder = args.dir or settings.playbooks_dir
    problems = check(folder)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    count = len(list(folder.glob("*.yaml")))
    print(f"{count} playbooks OK in {folder}")
    return 0


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store import Database

    db = Database(settings.database_url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()
    print("database schema is up to date")
    return 0


async def _tick(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import console_chat, running

    at = datetime.now(UTC)
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError:
            raise BadInput(
                f"--at '{args.at[:40]}' is not an ISO 8601 time", example="--at 2026-11-25T10:00:00Z"
            ) from None
        if at.tzinfo is None:
            raise BadInput("--at needs a UTC offset", example="--at 2026-11-25T10:00:00Z")
    clock = SimClock(at)
    async with running(settings, chat=console_chat(sys.stdout, clock, settings.timezone), clock=clock) as app:
        fired = await app.engine.tick()
    print(f"{count(fired, 'reminder')} fired at {at.isoformat()}")
    return 0


async def _webhook(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import prepare_database
    from bot.webhook_cli import run_webhook_command

    db = await prepare_database(settings)
    try:
        print(await run_webhook_command(db, args, now=datetime.now(UTC), allow_private=settings.webhooks_allow_private))
    finally:
        await db.dispose()
    return 0


async def _token(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import prepare_database
    from bot.tokens import Scope, check_name, new_token, token_hash

    now = datetime.now(UTC)
    db = await prepare_database(settings)
    try:
        if args.action == "create":
            secret = new_token()
            async with db.transaction() as store:
                await store.add_token(check_name(args.name), Scope(args.scope), token_hash(secret), now=now)
            print(secret)
            print(
                f"{args.scope} token {args.name} created; it is shown only now: keep it in a secret store.",
                file=sys.stderr,
            )
        elif args.action == "revoke":
            async with db.transaction() as store:
                revoked = await store.revoke_token(args.name, now=now)
            print(f"token {revoked.name} revoked {revoked.revoked_at:%Y-%m-%d %H:%M} UTC: it is refused from now on")
        else:
            async with db.read() as store:
                tokens = await store.api_tokens()

            def at(when: datetime | None) -> str:
                return f"{when:%Y-%m-%d %H:%M}" if when else "-"

            print(f"{'NAME':<24} {'SCOPE':<6} {'CREATED':<17} {'LAST USED':<17} REVOKED")
            for t in tokens:
                print(f"{t.name:<24} {t.scope:<6} {at(t.created_at):<17} {at(t.last_used_at):<17} {at(t.revoked_at)}")
    finally:
        await db.dispose()
    return 0


_COMMANDS = {
    "tick": _tick,
    "console": _console,
    "demo": _demo,
    "serve": _serve,
    "dashboard": _dashboard,
    "summary": _summary,
    "playbooks": _playbooks,
    "db": _db,
    "webhook": _webhook,
    "token": _token,
}

__all__ = ["main", "NotFound"]
