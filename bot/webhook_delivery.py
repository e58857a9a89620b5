"""Delivering webhooks: the deliveries owed in the event's own transaction are claimed under a lease, signed, POSTed
outside any transaction, and retried with backoff for 24 hours — at least once, in order per incident.

Several replicas share the work (a claim skips what another holds; a killed replica's claims come back when the
lease runs out). A later event of an incident is not claimed while an earlier one to the same subscriber is still
pending, so a subscriber never hears `incident.resolved` before `incident.opened`; other incidents go on meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

from bot.clock import Clock
from bot.store import Database
from bot.store.webhooks import DELIVERED, FAILED, PENDING, Claimed
from bot.webhooks import shown_url, sign

log = logging.getLogger(__name__)
KEEP_DELIVERED = timedelta(days=7)  # delivered events are forgotten after this (failed ones stay listed)
SWEEP_EVERY = timedelta(hours=1)
FIRST_RETRY = timedelta(seconds=10)
CEILING = timedelta(hours=1)  # backoff never waits longer than this between two attempts
RETRY_AFTER_MAX = timedelta(hours=6)  # a receiver's Retry-After is honoured up to this (and the 24 h deadline)
POLL = 0.2  # seconds between two cheap looks at whether the database changed (an event may be owed)

Outcome = Callable[[str], None]  # told "delivered", "retried" or "failed" once per attempt's outcome


def _ignore(_outcome: str) -> None:
    pass


@dataclass(frozen=True)
class Answer:
    """How a receiver answered one POST: its status, or no status and why (timeout, refused connection)."""

    status: int | None
    error: str | None = None
    retry_after: str | None = None  # the Retry-After header of a 429 or 503, as sent

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookPoster(Protocol):
    """The HTTP client port: one POST, answered or not; it never raises for a receiver's failure."""

    async def post(
        self, url: str, payload: bytes, headers: Mapping[str, str], *, allow_private: bool = False
    ) -> Answer: ...


def backoff(attempts: int, jitter: float) -> timedelta:
    """10 s, 20 s, 40 s, … doubling per failed attempt, ±20 % by ``jitter`` (0…1), never more than an hour."""
    step: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16)
    return min(CEILING, step * (0.8 + 0.4 * jitter))


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds, or an HTTP date) as a wait from ``now``; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(RETRY_AFTER_MAX, timedelta(seconds=int(text)))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(RETRY_AFTER_MAX, max(timedelta(0), when - now))


def headers(claimed: Claimed, secret: str, timestamp: int) -> dict[str, str]:
    """What a delivery carries besides its body: its id, type, timestamp and signature."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "Warroom-Webhooks/1",
        "Warroom-Event-Id": claimed.event_id,
        "Warroom-Event-Type": claimed.type,
        "Warroom-Timestamp": str(timestamp),
        "Warroom-Signature": sign(secret, timestamp, claimed.body.encode()),
    }


class WebhookWorker:
    """Sends what is owed to subscribers; safe to run in several replicas at once."""

    def __init__(
        self,
        db: Database,
        poster: WebhookPoster,
        clock: Clock,
        *,
        secrets: Mapping[str, str] | None = None,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=1),
        batch: int = 50,
        on_outcome: Outcome | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db, self.poster, self.clock = db, poster, clock
        self.secrets = dict(secrets or {})  # URL → secret, for the subscriptions from WARROOM_WEBHOOKS
        self.owner = owner or f"webhooks-{uuid.uuid4().hex[:12]}"
        self.lease, self.batch = lease, batch
        self.on_outcome, self.jitter = on_outcome or _ignore, jitter
        self._swept: datetime | None = None

    async def deliver_due(self) -> int:
        """Send everything due now, side by side (one per incident and subscriber at a time); how many were
        delivered. A delivery that went through lets the next event of its incident be claimed in the next round."""
        now = self.clock.now()
        if self._sweep_due():  # the table holds what is owed, not history
            async with self.db.transaction() as store:
                await store.sweep_webhooks(now - KEEP_DELIVERED)
            self._swept = now
        delivered = 0
        while True:
            async with self.db.transaction() as store:
                claimed = await store.claim_webhooks(self.owner, self.clock.now(), self.lease, self.batch)
            results = await asyncio.gather(*(self._send(c) for c in claimed))
            delivered += sum(results)
            if not claimed or (len(claimed) < self.batch and not any(results)):
                return delivered

    async def _send(self, claimed: Claimed) -> bool:
        now = self.clock.now()
        secret = claimed.secret or self.secrets.get(claimed.url)
        if secret is None:
            answer = Answer(None, "no signing secret: this replica's WARROOM_WEBHOOKS does not name this URL")
        else:
            timestamp = int(now.timestamp())
            answer = await self.poster.post(
                claimed.url,
                claimed.body.encode(),
                headers(claimed, secret, timestamp),
                allow_private=claimed.allow_private,
            )
        now = self.clock.now()
        where = f"{claimed.type} {claimed.event_id} to {shown_url(claimed.url)}"
        if answer.ok:
            async with self.db.transaction() as store:
                kept = await store.settle_webhook(
                    claimed.id, self.owner, state=DELIVERED, status=answer.status, now=now
                )
            self._tell(kept, "delivered")
            return kept
        error = answer.error or f"HTTP {answer.status}"
        if now >= claimed.give_up_at:
            log.error("webhook %s failed for 24 hours (%s); giving up: `warroom webhook failed`", where, error)
            async with self.db.transaction() as store:
                kept = await store.settle_webhook(
                    claimed.id, self.owner, state=FAILED, status=answer.status, error=error, now=now
                )
            self._tell(kept, "failed")
            return False
        wait = backoff(claimed.attempts, self.jitter())
        asked = retry_after(answer.retry_after, now) if answer.status in (429, 503) else None
        again = min(now + max(wait, asked or timedelta(0)), claimed.give_up_at)  # the last try is at the deadline
        log.warning("webhook %s: %s; trying again at %s", where, error, again.isoformat())
        async with self.db.transaction() as store:
            kept = await store.settle_webhook(
                claimed.id, self.owner, state=PENDING, status=answer.status, error=error, now=now, again=again
            )
        self._tell(kept, "retried")
        return False

    def _tell(self, kept: bool, outcome: str) -> None:
        if kept:  # a lease lost meanwhile: the replica that took the delivery over tells its own outcome
            try:
                self.on_outcome(outcome)
            except Exception:  # counting must never stop delivering
                log.exception("the webhook outcome hook failed")

    def _sweep_due(self) -> bool:
        return self._swept is None or self.clock.now() - self._swept >= SWEEP_EVERY

    async def next_due(self) -> datetime | None:
        async with self.db.read() as store:
            return await store.next_webhook_at()

    async def run_forever(self, stop: asyncio.Event, *, interval: timedelta = timedelta(seconds=5)) -> None:
        """Deliver until ``stop`` is set: at once when the database changes (an event may be owed), when the next
        retry is due, and every ``interval`` regardless."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                # A read first: most wake-ups (any commit) owe nothing, and a claim is a write transaction — on
                # SQLite the one writer an ack is waiting for.
                upcoming = await self.next_due()
                if (upcoming is not None and upcoming <= self.clock.now()) or self._sweep_due():
                    await self.deliver_due()
                    upcoming = await self.next_due()
            except Exception:
                log.exception("webhook delivery failed; trying again shortly")
                upcoming = None
            seen = self.db.changes.version()
            wait = interval.total_seconds()
            if upcoming is not None:
                wait = max(0.05, min(wait, (upcoming - self.clock.now()).total_seconds()))
            deadline = loop.time() + wait
            while not stop.is_set() and loop.time() < deadline:
                version = self.db.changes.version()
                if version is not None and version != seen:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(0.0, min(POLL, deadline - loop.time())))
