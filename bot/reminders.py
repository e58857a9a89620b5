"""The durable reminder engine: reminders are rows, claimed under a lease, fired once across replicas."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.clock import Clock, SimClock
from bot.observe import QUIET, Observer
from bot.outbox import backoff
from bot.store import Database, Store
from bot.store.followups import DONE, PENDING
from bot.store.tables import ReminderRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reminder:
    id: int
    incident: int
    kind: str
    subject: int
    due_at: datetime


Handler = Callable[[Store, Reminder, datetime], Awaitable[None]]


class ReminderEngine:
    """Fires due reminders. Safe to run in several replicas against one PostgreSQL database."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, Handler],
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 200,
        deliver: Callable[[], Awaitable[int]] | None = None,
        observer: Observer = QUIET,
    ) -> None:
        self.db, self.clock, self.handlers = db, clock, handlers
        self.owner = owner or uuid.uuid4().hex[:12]
        self.lease, self.batch = lease, batch
        self.deliver = deliver  # the outbox: what firings decided to post goes out after they commit
        self.observer = observer  # told each firing (and how late it was) once it has committed, and each failure

    async def claim(self, now: datetime) -> list[int]:
        """Lease up to ``batch`` due reminders to this engine; other engines skip them until the lease runs out."""
        async with self.db.transaction() as store:
            return await store.claim_leased(
                ReminderRow,
                due=(ReminderRow.state == PENDING) & (ReminderRow.due_at <= now),
                order=ReminderRow.due_at,
                owner=self.owner,
                now=now,
                lease=self.lease,
                limit=self.batch,
            )

    async def fire(self, reminder_id: int, now: datetime) -> bool:
        """Fire one claimed reminder; conditions are checked again by its handler. False if it was not ours."""
        async with self.db.transaction() as store:
            row = await store.session.get(ReminderRow, reminder_id, with_for_update=True)
            if row is None or row.state != PENDING or row.lease_owner != self.owner:
                return False
            row.state, row.fired_at = DONE, now
            await store.session.flush()  # the handler may schedule the next reminder for the same subject
            reminder = Reminder(row.id, row.incident, row.kind, row.subject, row.due_at)
            await self.handlers[row.kind](store, reminder, now)
        self.observer.reminder_fired((now - reminder.due_at).total_seconds())
        return True

    async def _back_off(self, reminder_id: int, now: datetime) -> None:
        """A firing failed (its transaction rolled back): try again later, further apart each time, never
        giving up — an incident that is open is chased for as long as it is open."""
        async with self.db.transaction() as store:
            row = await store.session.get(ReminderRow, reminder_id, with_for_update=True)
            if row is not None and row.state == PENDING and row.lease_owner == self.owner:
                row.lease_until = now + backoff(row.attempts)

    async def tick(self) -> int:
        """Fire everything due now; a failure leaves its reminder leased, to be retried when the lease ends."""
        fired = 0
        while True:
            now = self.clock.now()
            claimed = await self.claim(now)
            for reminder_id in claimed:
                try:
                    fired += await self.fire(reminder_id, now)
                except Exception:
                    log.exception("reminder %s failed; it will be retried with backoff", reminder_id)
                    self.observer.reminder_failed()
                    with contextlib.suppress(Exception):  # the database may be what failed: the lease covers it
                        await self._back_off(reminder_id, now)
            if len(claimed) < self.batch:
                if self.deliver is not None:
                    await self.deliver()
                return fired

    async def next_due(self) -> datetime | None:
        """When the earliest pending reminder is due."""
        async with self.db.transaction() as store:
            query = select(func.min(ReminderRow.due_at)).where(ReminderRow.state == PENDING)
            return (await store.session.execute(query)).scalar_one_or_none()

    async def run_until(self, target: datetime, clock: SimClock, *, max_steps: int = 10_000) -> int:
        """Move a simulated clock to ``target``, stopping at every reminder on the way, as if time had passed."""
        fired = 0
        for _ in range(max_steps):
            upcoming = await self.next_due()
            if upcoming is None or upcoming > target:
                break
            if upcoming > clock.now():
                clock.set(upcoming)
            count = await self.tick()
            fired += count
            if count == 0 and upcoming <= clock.now():
                break  # only leased or failing reminders are due; let their lease run out in real time
        if target > clock.now():
            clock.set(target)
        return fired + await self.tick()

    async def run_forever(self, stop: asyncio.Event, *, interval: timedelta = timedelta(seconds=10)) -> None:
        """Tick until ``stop`` is set, sleeping until the next reminder or ``interval``, whichever is sooner."""
        while not stop.is_set():
            try:
                await self.tick()
                upcoming = await self.next_due()
            except Exception:
                log.exception("reminder tick failed; trying again shortly")
                upcoming = None
            wait = interval.total_seconds()
            if upcoming is not None:
                wait = max(0.05, min(wait, (upcoming - self.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
