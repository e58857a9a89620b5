"""Outbound webhooks: which timeline events are told to subscribers, under which name, with which body and signature.

Pure values and functions, no I/O: the store reaches them from `Store.add_event` (so deliveries are owed in the
very transaction the event is written in), the settings and the command line check subscriptions with them, and
the delivery worker (bot/webhook_delivery.py) signs with them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bot.addresses import why_host_private
from bot.domain import EventKind, incident_ref

# Every event a subscriber can ask for, and when it fires (docs/WEBHOOKS.md's table says the same).
EVENTS: dict[str, str] = {
    "incident.opened": "an incident is opened",
    "incident.severity_changed": "its severity is raised or lowered",
    "follow_up.overdue": "a vendor follow-up passes its due time unanswered (its first chase)",
    "follow_up.escalated": "a follow-up climbs to the next contact on the vendor's ladder",
    "follow_up.plan_b": "a follow-up runs out of ladder and Plan B is posted",
    "follow_up.heard": "the vendor answered (`heard`), perhaps with a new date",
    "follow_up.received": "what the follow-up waited for arrived",
    "bad_news.raised": "bad news the customer must be told is recorded (B<n>)",
    "bad_news.told": "an update told a piece of bad news to the customer",
    "update.recorded": "a customer update is recorded (U<n>)",
    "commitment.at_risk": "a promise to the customer is at risk",
    "commitment.missed": "a promise to the customer was missed",
    "commitment.kept": "a promise to the customer was kept",
    "incident.resolved": "the incident is resolved",
    "incident.closed": "the incident is closed (resolved or not)",
}

# The one table from timeline event to webhook event; CHASED and UPDATE need their data and are read below.
_BY_KIND: Mapping[EventKind, str] = {
    EventKind.OPENED: "incident.opened",
    EventKind.SEVERITY: "incident.severity_changed",
    EventKind.OVERDUE: "follow_up.overdue",
    EventKind.ESCALATED: "follow_up.escalated",
    EventKind.PLAN_B: "follow_up.plan_b",
    EventKind.HEARD: "follow_up.heard",
    EventKind.RECEIVED: "follow_up.received",
    EventKind.BAD_NEWS: "bad_news.raised",
    EventKind.UPDATE: "update.recorded",
    EventKind.COMMITMENT_AT_RISK: "commitment.at_risk",
    EventKind.COMMITMENT_MISSED: "commitment.missed",
    EventKind.COMMITMENT_KEPT: "commitment.kept",
    EventKind.RESOLVED: "incident.resolved",
    EventKind.CLOSED: "incident.closed",
}

SIGNATURE_VERSION = "v1"
SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Occurrence:
    """One webhook event a timeline event means: its type and what its body's ``data`` says."""

    type: str
    data: Mapping[str, Any]


def occurrences(
    kind: EventKind, data: Mapping[str, Any], *, text: str, actor: Mapping[str, str] | None
) -> list[Occurrence]:
    """The webhook events a timeline event of ``kind`` means (most mean one, many none, an update may mean more)."""
    who = dict(actor) if actor else None
    base = {**data, "text": text, "actor": who}
    if kind is EventKind.CHASED:
        # Only the chase that turns a waiting follow-up overdue is news; later chases are the ladder's business.
        return [Occurrence("follow_up.overdue", base)] if data.get("overdue") else []
    name = _BY_KIND.get(kind)
    if name is None:
        return []
    found = [Occurrence(name, base)]
    if kind is EventKind.UPDATE:
        # Bad news counts as told when an update says it told it (`tells:B1`, *Update sent*): see bot/updates.py.
        update = data.get("update")
        found += [
            Occurrence(
                "bad_news.told", {"bad_news": n, "update": update, "text": f"B{n} told in U{update}", "actor": who}
            )
            for n in data.get("tells") or ()
        ]
    return found


def wants(events: Sequence[str], event_type: str) -> bool:
    """Whether a subscription to ``events`` (empty: every event) gets ``event_type``."""
    return not events or event_type in events


def body(*, event_id: str, event_type: str, at: datetime, incident: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """The JSON body of a delivery, fixed when the event happens: every retry sends (and signs) the same bytes."""
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "occurred_at": at.isoformat(),
            "incident": {**incident, "ref": incident_ref(int(incident["number"]))},
            "data": dict(data),
        },
        sort_keys=True,
        default=str,  # Decimals and dates in a timeline event's data
    )


def sign(secret: str, timestamp: int, payload: bytes) -> str:
    """`v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`: the Warroom-Signature header."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def new_secret() -> str:
    """A fresh signing secret for a subscription (256 random bits)."""
    return "whsec_" + secrets.token_hex(32)


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(16)


class SubscriptionError(ValueError):
    """A subscription that cannot be used; the message is one line for the person who typed it."""


ALLOW_PRIVATE = "WARROOM_WEBHOOKS_ALLOW_PRIVATE"
MIN_SECRET = 32  # characters: what `openssl rand -hex 32` (64) and `openssl rand -base64 32` (44) easily pass
MIN_SECRET_VARIETY = 10  # different characters a secret must have: `aaaa…` or a repeated word is not random


def check_url(url: str, *, allow_private: bool = False) -> str:
    """An http(s) URL with a host on the internet, returned as given; SubscriptionError otherwise. A host that is
    loopback, private, link-local or unspecified in any spelling (`127.0.0.1`, `[::1]`, `0x7f000001`, `localhost`)
    is refused unless ``allow_private``; names are checked again after DNS resolution, at each delivery."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise SubscriptionError(f"{shown_url(url)} is not a URL") from None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise SubscriptionError(f"webhooks go to http:// or https:// URLs only, not {shown_url(url)}")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url) or len(url) > 2048:
        raise SubscriptionError(f"{shown_url(url)} is not a URL")
    if not allow_private and (reason := why_host_private(parts.hostname)) is not None:
        raise SubscriptionError(
            f"{shown_url(url)} goes to {reason}, not the internet; webhooks may go there only with "
            f"--allow-private or {ALLOW_PRIVATE}=1"
        )
    return url


def check_secret(secret: str, *, source: str) -> str:
    """A signing secret as good as the one `warroom webhook add` makes (32 random bytes); SubscriptionError naming
    ``source`` (where it came from) otherwise, never repeating the secret."""
    if len(secret) < MIN_SECRET or any(ch.isspace() for ch in secret):
        raise SubscriptionError(
            f"{source} must be at least {MIN_SECRET} characters without spaces; make one: openssl rand -hex 32"
        )
    if len(set(secret)) < MIN_SECRET_VARIETY:
        raise SubscriptionError(f"{source} is not random enough (too few different characters); openssl rand -hex 32")
    return secret


def check_events(names: Sequence[str]) -> tuple[str, ...]:
    """Known event names, deduplicated in order (empty: every event); SubscriptionError naming an unknown one."""
    found: list[str] = []
    for name in (n.strip() for n in names):
        if name in ("", "*"):
            continue
        if name not in EVENTS:
            raise SubscriptionError(f"unknown webhook event {name[:60]!r}; the events are: {', '.join(EVENTS)}")
        if name not in found:
            found.append(name)
    return tuple(found)


def shown_url(url: str) -> str:
    """A URL as an error may show it: short, without credentials or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return repr(url[:40])
    if not host:
        return repr(url[:40])
    return repr(f"{parts.scheme}://{host}{parts.path}"[:80])


def masked_url(url: str) -> str:
    """``url`` as a listing may show it: credentials and query string masked (`https://***@h.example/x?***`)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return repr(url[:40])
    if not host:
        return repr(url[:40])
    netloc = ("***@" if "@" in parts.netloc else "") + (f"[{host}]" if ":" in host else host)
    netloc += f":{port}" if port is not None else ""
    return f"{parts.scheme}://{netloc}{parts.path}" + ("?***" if parts.query else "")


@dataclass(frozen=True)
class WebhookTarget:
    """A subscription named in the settings (WARROOM_WEBHOOKS); its secret never shows in logs."""

    url: str
    events: tuple[str, ...] = ()
    secret: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return f"WebhookTarget({shown_url(self.url)}, events={list(self.events) or 'all'})"


def parse_targets(value: str, *, default_secret: str | None, allow_private: bool = False) -> tuple[WebhookTarget, ...]:
    """WARROOM_WEBHOOKS: subscriptions separated by `;` or new lines, each `URL [events=a,b] [secret=S]`; every
    secret must be as good as `warroom webhook add` makes (see check_secret)."""
    if default_secret is not None:
        check_secret(default_secret, source="WARROOM_WEBHOOK_SECRET")
    targets: list[WebhookTarget] = []
    for entry in (e.strip() for e in value.replace("\n", ";").split(";")):
        if not entry:
            continue
        url, *options = entry.split()
        check_url(url, allow_private=allow_private)
        events: tuple[str, ...] = ()
        secret = default_secret
        for option in options:
            key, sep, text = option.partition("=")
            if key == "events" and sep:
                events = check_events(text.split(","))
            elif key == "secret" and sep and text:
                secret = check_secret(text, source=f"the secret= of {shown_url(url)}")
            else:
                raise SubscriptionError(f"{shown_url(url)}: {option[:30]!r} is not events=a,b or secret=…")
        if not secret:
            raise SubscriptionError(
                f"{shown_url(url)} has no signing secret: set WARROOM_WEBHOOK_SECRET or add secret=…"
            )
        if any(t.url == url for t in targets):
            raise SubscriptionError(f"{shown_url(url)} is listed twice")
        targets.append(WebhookTarget(url, events, secret))
    return tuple(targets)
