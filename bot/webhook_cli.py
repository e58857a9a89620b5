"""`warroom webhook add|list|remove|failed|retry`: subscriptions and failed deliveries from the command line."""

from __future__ import annotations

import argparse
from datetime import datetime

from bot.errors import BadInput
from bot.render import printable
from bot.store import Database
from bot.webhooks import SubscriptionError, check_events, check_url, new_secret
from bot.words import count

MIN_SECRET = 16  # characters: a shorter signing secret is guessable


async def run_webhook_command(db: Database, args: argparse.Namespace, *, now: datetime) -> str:
    """Carry out one `warroom webhook …` action; the text to print. Bad input changes nothing."""
    if args.action == "add":
        return await _add(db, args, now)
    if args.action == "remove":
        async with db.transaction() as store:
            gone = await store.remove_webhook(args.which.strip())
        return f"removed webhook {gone.id} ({printable(gone.url)}); what it still owed is dropped"
    if args.action == "failed":
        return await _failed(db)
    if args.action == "retry":
        async with db.transaction() as store:
            again = await store.retry_webhook(args.delivery, now)
        return f"delivery {again.id} ({again.type} of INC-{again.incident}) is due again now; retried for 24 hours"
    return await _list(db)


async def _add(db: Database, args: argparse.Namespace, now: datetime) -> str:
    try:
        url = check_url(args.url.strip())
        events = check_events(args.events.split(","))
    except SubscriptionError as err:
        raise BadInput(
            str(err), example="warroom webhook add https://hooks.example/warroom --events incident.opened"
        ) from None
    given = args.secret
    if given is not None and (len(given) < MIN_SECRET or any(ch.isspace() for ch in given)):
        raise BadInput(
            f"--secret must be at least {MIN_SECRET} characters without spaces",
            example="--secret $(openssl rand -hex 32)",
        )
    secret = given or new_secret()
    async with db.transaction() as store:
        sub = await store.add_webhook(url, events, secret=secret, now=now)
    wanted = ", ".join(sub.events) or "every event"
    shown = "" if given else f"\nsigning secret (shown this once; give it to the receiver): {secret}"
    return f"webhook {sub.id}: {printable(url)} gets {wanted}{shown}"


async def _list(db: Database) -> str:
    async with db.read() as store:
        subs = await store.webhooks()
    if not subs:
        return "no webhooks: `warroom webhook add URL` or WARROOM_WEBHOOKS adds one"
    lines = []
    for s in subs:
        origin = "from WARROOM_WEBHOOKS" if s.origin == "settings" else "added here"
        lines.append(
            f"{s.id}  {printable(s.url)}  {', '.join(s.events) or 'every event'}  ({origin}; "
            f"{s.pending} owed, {s.failed} failed)"
        )
    return "\n".join(lines)


async def _failed(db: Database) -> str:
    async with db.read() as store:
        failing = await store.failing_webhooks()
    if not failing:
        return "no webhook delivery is failing"
    lines = []
    for f in failing:
        fate = (
            "gave up"
            if f.state == "failed"
            else f"retrying, next at {f.next_attempt_at.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        )
        lines.append(
            f"{f.id}  {f.type} INC-{f.incident}  {f.event_id}  to {printable(f.url)}  {fate} after "
            f"{count(f.attempts, 'attempt')}: {printable(f.last_error or '')}"
        )
    lines.append("`warroom webhook retry ID` sends one that gave up again.")
    return "\n".join(lines)
