"""`warroom webhook add|list|remove|failed|retry`: subscriptions and failed deliveries from the command line."""

from __future__ import annotations

import argparse
from datetime import datetime

from bot.errors import BadInput
from bot.render import printable
from bot.store import Database
from bot.webhooks import (
    SubscriptionError,
    check_events,
    check_secret,
    check_url,
    masked_url,
    new_secret,
)
from bot.words import count


async def run_webhook_command(
    db: Database, args: argparse.Namespace, *, now: datetime, allow_private: bool = False
) -> str:
    """Carry out one `warroom webhook …` action; the text to print. Bad input changes nothing. ``allow_private``
    (WARROOM_WEBHOOKS_ALLOW_PRIVATE) lets `add` name a host on this network, as `--allow-private` does."""
    if args.action == "add":
        return await _add(db, args, now, allow_private=allow_private)
    if args.action == "remove":
        async with db.transaction() as store:
            gone = await store.remove_webhook(args.which.strip())
        return f"removed webhook {gone.id} ({printable(masked_url(gone.url))}); what it still owed is dropped"
    if args.action == "failed":
        return await _failed(db)
    if args.action == "retry":
        async with db.transaction() as store:
            again = await store.retry_webhook(args.delivery, now)
        return f"delivery {again.id} ({again.type} of INC-{again.incident}) is due again now; retried for 24 hours"
    return await _list(db)


async def _add(db: Database, args: argparse.Namespace, now: datetime, *, allow_private: bool) -> str:
    flagged = bool(getattr(args, "allow_private", False))
    try:
        url = check_url(args.url.strip(), allow_private=allow_private or flagged)
        events = check_events(args.events.split(","))
    except SubscriptionError as err:
        raise BadInput(
            str(err), example="warroom webhook add https://hooks.example/warroom --events incident.opened"
        ) from None
    given = args.secret
    if given is not None:
        try:
            check_secret(given, source="--secret")
        except SubscriptionError as err:
            raise BadInput(str(err), example="--secret $(openssl rand -hex 32)") from None
    secret = given or new_secret()
    async with db.transaction() as store:
        sub = await store.add_webhook(url, events, secret=secret, now=now, allow_private=flagged)
    wanted = ", ".join(sub.events) or "every event"
    shown = "" if given else f"\nsigning secret (shown this once; give it to the receiver): {secret}"
    note = ""
    if flagged and check_private(url):
        note = "\nnote: it goes to this machine or its network; `warroom serve` delivers there (--allow-private)"
    return f"webhook {sub.id}: {printable(masked_url(url))} gets {wanted}{shown}{note}"


def check_private(url: str) -> bool:
    """Whether ``url`` names a host on this network (what `--allow-private` let through)."""
    try:
        check_url(url)
    except SubscriptionError:
        return True
    return False


async def _list(db: Database) -> str:
    async with db.read() as store:
        subs = await store.webhooks()
    if not subs:
        return "no webhooks: `warroom webhook add URL` or WARROOM_WEBHOOKS adds one"
    lines = []
    for s in subs:
        origin = "from WARROOM_WEBHOOKS" if s.origin == "settings" else "added here"
        origin += ", --allow-private" if s.allow_private else ""
        lines.append(
            f"{s.id}  {printable(masked_url(s.url))}  {', '.join(s.events) or 'every event'}  ({origin}; "
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
            f"{f.id}  {f.type} INC-{f.incident}  {f.event_id}  to {printable(masked_url(f.url))}  {fate} after "
            f"{count(f.attempts, 'attempt')}: {printable(f.last_error or '')}"
        )
    lines.append("`warroom webhook retry ID` sends one that gave up again.")
    return "\n".join(lines)
