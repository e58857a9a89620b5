"""Storage of webhooks: subscriptions, and the deliveries owed to them — written with the event, claimed under a
lease, one at a time per incident and subscription so that a subscriber hears an incident's events in order."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, or_, select, text, type_coerce, update
from sqlalchemy.orm import aliased

from bot.domain import EventKind
from bot.errors import Conflict, NotFound
from bot.store.base import BOOKKEEPING, StoreBase
from bot.store.tables import IncidentRow, UTCDateTime, WebhookDeliveryRow, WebhookSubscriptionRow
from bot.webhooks import WebhookTarget, body, new_event_id, occurrences, wants

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
CLI, SETTINGS = "cli", "settings"
RETRY_FOR = timedelta(hours=24)  # how long a delivery is retried before it is failed (and listed)
_SYNC_LOCK = 775013  # PostgreSQL advisory lock: replicas starting together record the settings' subscriptions once


@dataclass(frozen=True)
class Subscription:
    """A subscription as listed: never its secret."""

    id: int
    url: str
    events: tuple[str, ...]
    origin: str
    created_at: datetime
    pending: int = 0
    failed: int = 0
    allow_private: bool = False  # added with --allow-private: may be delivered to this machine or its network


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to a worker, with what it needs to send it."""

    id: int
    event_id: str
    type: str
    incident: int
    body: str
    url: str
    secret: str | None  # None: the subscription's secret is in the settings
    attempts: int
    give_up_at: datetime
    allow_private: bool = False  # its subscription was added with --allow-private


@dataclass(frozen=True)
class Failing:
    """A delivery that gave up, or that is still being retried after failing."""

    id: int
    event_id: str
    type: str
    incident: int
    url: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None


def _subscription(row: WebhookSubscriptionRow, pending: int = 0, failed: int = 0) -> Subscription:
    events = tuple(json.loads(row.events))
    return Subscription(row.id, row.url, events, row.origin, row.created_at, pending, failed, row.allow_private)


class WebhookStore(StoreBase):
    """Webhooks, mixed into bot.store.Store; every method runs in the caller's transaction."""

    dialect: str

    async def owe_webhooks(
        self,
        number: int,
        at: datetime,
        kind: EventKind,
        *,
        actor: Mapping[str, str] | None,
        text: str,
        data: Mapping[str, Any],
    ) -> int:
        """Owe every subscriber the webhook events a timeline event means (called by add_event, in its transaction:
        they are sent if and only if it commits); returns how many deliveries were owed."""
        found = occurrences(kind, data, text=text, actor=actor)
        if not found:
            return 0
        if self.subscription_rows is None:  # read once per transaction: a batch of firings writes many events
            self.subscription_rows = list((await self.session.execute(select(WebhookSubscriptionRow))).scalars())
        subscriptions = self.subscription_rows
        if not subscriptions:
            return 0
        row = await self.session.get(IncidentRow, number)
        if row is None:
            raise NotFound(f"there is no INC-{number}")
        incident = {
            "number": row.number,
            "title": row.title,
            "severity": row.severity,
            "customer": row.customer,
            "state": row.state,
        }
        owed = 0
        for occurrence in found:
            event_id = new_event_id()
            payload = body(
                event_id=event_id, event_type=occurrence.type, at=at, incident=incident, data=occurrence.data
            )
            for sub in subscriptions:
                if not wants(json.loads(sub.events), occurrence.type):
                    continue
                self.session.add(
                    WebhookDeliveryRow(
                        event_id=event_id,
                        subscription=sub.id,
                        incident=number,
                        type=occurrence.type,
                        body=payload,
                        state=PENDING,
                        attempts=0,
                        next_attempt_at=at,
                        give_up_at=at + RETRY_FOR,
                        created_at=at,
                    )
                )
                owed += 1
        return owed

    # --- subscriptions -----------------------------------------------------------------------------

    async def add_webhook(
        self,
        url: str,
        events: Sequence[str],
        *,
        secret: str | None,
        now: datetime,
        origin: str = CLI,
        allow_private: bool = False,
    ) -> Subscription:
        """Subscribe ``url`` to ``events`` (empty: all); Conflict when the same URL is already subscribed so.
        ``allow_private``: it may be delivered to this machine or its network (`webhook add --allow-private`)."""
        query = select(WebhookSubscriptionRow).where(
            WebhookSubscriptionRow.url == url, WebhookSubscriptionRow.origin == origin
        )
        existing = (await self.session.execute(query)).scalar_one_or_none()
        if existing is not None:
            raise Conflict(f"{url} is already subscribed as webhook {existing.id}; remove it first to change it")
        row = WebhookSubscriptionRow(
            url=url,
            events=json.dumps(list(events)),
            secret=secret,
            origin=origin,
            created_at=now,
            allow_private=allow_private,
        )
        self.session.add(row)
        await self.session.flush()
        return _subscription(row)

    async def webhooks(self) -> list[Subscription]:
        """Every subscription, oldest first, with how many of its deliveries wait and how many failed."""
        counts: dict[tuple[int, str], int] = {}
        query = select(WebhookDeliveryRow.subscription, WebhookDeliveryRow.state, func.count()).group_by(
            WebhookDeliveryRow.subscription, WebhookDeliveryRow.state
        )
        for sub, state, count in (await self.session.execute(query)).all():
            counts[(sub, state)] = int(count)
        rows = (
            await self.session.execute(select(WebhookSubscriptionRow).order_by(WebhookSubscriptionRow.id))
        ).scalars()
        return [_subscription(r, counts.get((r.id, PENDING), 0), counts.get((r.id, FAILED), 0)) for r in rows]

    async def remove_webhook(self, which: str) -> Subscription:
        """Unsubscribe by id or URL (what it still owed is dropped); refuses one that comes from the settings."""
        query = select(WebhookSubscriptionRow)
        query = (
            query.where(WebhookSubscriptionRow.id == int(which))
            if which.isascii() and which.isdigit()
            else query.where(WebhookSubscriptionRow.url == which)
        )
        rows = list((await self.session.execute(query)).scalars())
        if not rows:
            raise NotFound(f"no webhook {which[:80]}; `warroom webhook list` shows them")
        mine = [r for r in rows if r.origin == CLI]
        if not mine:
            raise Conflict(f"webhook {rows[0].id} comes from WARROOM_WEBHOOKS; remove it there")
        row = mine[0]
        gone = _subscription(row)
        await self.session.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.subscription == row.id))
        await self.session.delete(row)
        return gone

    async def record_settings_webhooks(self, targets: Sequence[WebhookTarget], now: datetime) -> None:
        """Make the subscriptions from the settings the ones recorded (their secrets stay in the environment)."""
        if self.dialect == "postgresql":
            await self.session.execute(text(f"SELECT pg_advisory_xact_lock({_SYNC_LOCK})"))
        query = select(WebhookSubscriptionRow).where(WebhookSubscriptionRow.origin == SETTINGS)
        recorded = {r.url: r for r in (await self.session.execute(query)).scalars()}
        for target in targets:
            events = json.dumps(list(target.events))
            row = recorded.pop(target.url, None)
            if row is None:
                await self.add_webhook(target.url, target.events, secret=None, now=now, origin=SETTINGS)
            elif row.events != events:
                row.events = events
        for row in recorded.values():  # taken out of the settings: nothing more is sent there
            await self.session.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.subscription == row.id))
            await self.session.delete(row)

    # --- delivery ----------------------------------------------------------------------------------

    async def claim_webhooks(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
        """Lease the due deliveries that are first in line for their incident and subscription (a later event of
        an incident waits while an earlier one is pending, retried or in flight); other replicas skip them. A
        delivery's 24 hours of retries start at its first attempt, not when it queued behind a failing one."""
        picked = (
            select(WebhookDeliveryRow.id)
            .where(WebhookDeliveryRow.state == PENDING, WebhookDeliveryRow.next_attempt_at <= now, _first_in_line())
            .where(or_(WebhookDeliveryRow.lease_until.is_(None), WebhookDeliveryRow.lease_until < now))
            .order_by(WebhookDeliveryRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDeliveryRow)  # SQLite: BEGIN IMMEDIATE serialises claims
        )
        claim = (
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.id.in_(picked.scalar_subquery()))
            .values(lease_owner=owner, lease_until=now + lease, attempts=WebhookDeliveryRow.attempts + 1)
            .returning(WebhookDeliveryRow.id)
            .execution_options(**BOOKKEEPING)
        )
        ids = sorted((await self.session.execute(claim)).scalars())
        if not ids:
            return []
        await self.session.execute(
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.id.in_(ids), WebhookDeliveryRow.attempts == 1)
            .values(give_up_at=now + RETRY_FOR)
            .execution_options(**BOOKKEEPING)
        )
        query = (
            select(WebhookDeliveryRow, WebhookSubscriptionRow)
            .join(WebhookSubscriptionRow, WebhookSubscriptionRow.id == WebhookDeliveryRow.subscription)
            .where(WebhookDeliveryRow.id.in_(ids))
            .order_by(WebhookDeliveryRow.id)
        )
        return [
            Claimed(
                d.id, d.event_id, d.type, d.incident, d.body, s.url, s.secret, d.attempts, d.give_up_at, s.allow_private
            )
            for d, s in (await self.session.execute(query)).all()
        ]

    async def settle_webhook(
        self,
        delivery: int,
        owner: str,
        *,
        state: str,
        status: int | None,
        error: str | None = None,
        now: datetime,
        again: datetime | None = None,
    ) -> bool:
        """Record how an attempt ended: delivered, failed, or pending again at ``again``; False when the lease was
        lost meanwhile (another replica took the delivery over, and its outcome is the one kept)."""
        values: dict[str, Any] = {"state": state, "last_status": status, "lease_owner": None, "lease_until": None}
        if state == DELIVERED:
            values["delivered_at"] = now
        else:
            values["last_error"] = (error or "")[:500]
        if again is not None:
            values["next_attempt_at"] = again
        result = await self.session.execute(
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.id == delivery, WebhookDeliveryRow.lease_owner == owner)
            .values(**values)
            .execution_options(**BOOKKEEPING)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def next_webhook_at(self) -> datetime | None:
        """When a delivery can next be claimed (None: nothing is owed): only those first in line count — one queued
        behind a failing event waits for it — and a leased one not before its lease runs out."""
        leased = WebhookDeliveryRow.lease_until.is_not(None) & (
            WebhookDeliveryRow.lease_until > WebhookDeliveryRow.next_attempt_at
        )
        due = case((leased, WebhookDeliveryRow.lease_until), else_=WebhookDeliveryRow.next_attempt_at)
        query = select(func.min(type_coerce(due, UTCDateTime))).where(
            WebhookDeliveryRow.state == PENDING, _first_in_line()
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def sweep_webhooks(self, before: datetime) -> int:
        """Forget deliveries made before ``before`` (the failed ones stay, for `warroom webhook failed`)."""
        result = await self.session.execute(
            delete(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.state == DELIVERED, WebhookDeliveryRow.delivered_at < before)
            .execution_options(**BOOKKEEPING)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def hand_back_webhooks(self, owner: str) -> int:
        """Release the deliveries ``owner`` leased and did not finish (a graceful shutdown)."""
        result = await self.session.execute(
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .execution_options(**BOOKKEEPING)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def failing_webhooks(self, *, only: int | None = None) -> list[Failing]:
        """Deliveries that gave up, and those still being retried after a failed attempt, oldest first."""
        query = (
            select(WebhookDeliveryRow, WebhookSubscriptionRow.url)
            .join(WebhookSubscriptionRow, WebhookSubscriptionRow.id == WebhookDeliveryRow.subscription)
            .where(
                or_(
                    WebhookDeliveryRow.state == FAILED,
                    (WebhookDeliveryRow.state == PENDING) & WebhookDeliveryRow.last_error.is_not(None),
                )
            )
            .order_by(WebhookDeliveryRow.id)
        )
        if only is not None:
            query = query.where(WebhookDeliveryRow.id == only)
        return [
            Failing(
                d.id,
                d.event_id,
                d.type,
                d.incident,
                url,
                d.state,
                d.attempts,
                d.created_at,
                d.next_attempt_at,
                d.last_status,
                d.last_error,
            )
            for d, url in (await self.session.execute(query)).all()
        ]

    async def retry_webhook(self, delivery: int, now: datetime) -> Failing:
        """Send a failed delivery again from now, retried for another 24 hours; Conflict unless it failed."""
        row = await self.session.get(WebhookDeliveryRow, delivery)
        if row is None:
            raise NotFound(f"no webhook delivery {delivery}; `warroom webhook failed` lists them")
        if row.state != FAILED:
            raise Conflict(f"webhook delivery {delivery} is {row.state}, not failed; only a failed one is retried")
        row.state, row.next_attempt_at, row.give_up_at, row.attempts = PENDING, now, now + RETRY_FOR, 0
        await self.session.flush()
        return next(f for f in await self.failing_webhooks(only=delivery))


def _first_in_line() -> ColumnElement[bool]:
    """No earlier delivery of the same incident to the same subscription is still pending (retried or in flight)."""
    earlier = aliased(WebhookDeliveryRow)
    return ~(
        select(earlier.id)
        .where(
            earlier.subscription == WebhookDeliveryRow.subscription,
            earlier.incident == WebhookDeliveryRow.incident,
            earlier.state == PENDING,
            earlier.id < WebhookDeliveryRow.id,
        )
        .exists()
    )
