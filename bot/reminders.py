"""The durable reminder engine: reminders are rows, claimed under a lease, fired once across replicas."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.clock import Clock, SimClock
from bot.errors import NotFound
from bot.observe import QUIET, Observer
from bot.outbox import backoff
from bot.store import Database, Store
from bot.store.followups import FOLLOW_UP, PENDING
from bot.store.tables import ReminderRow

log = logging.getLogger(__name__)
# Reminders one claim takes, and fires in one transaction: small, so that replicas ticking together each get a share
# of what is due (a claim skips what another replica is claiming) and the incidents a batch locks are held briefly.
# A batch sends about a dozen statements whatever its size: 50 cost about a third less per due reminder than 25 in
# one run of bench/reminder_tick.py, but two replicas then split 200 due 50/150 every round (25: 100/100 to 50/150).
BATCH = 25


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
        batch: int = BATCH,
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
        return [reminder_id for reminder_id, _ in await self.claim_by_incident(now)]

    async def claim_by_incident(self, now: datetime) -> list[tuple[int, int]]:
        """Lease up to ``batch`` due reminders to this engine, as (id, incident); other engines skip them (SKIP
        LOCKED while the claim runs, the lease after) until the lease runs out."""
        async with self.db.transaction() as store:
            return await store.claim_reminders(
                due=(ReminderRow.state == PENDING) & (ReminderRow.due_at <= now),
                owner=self.owner,
                now=now,
                lease=self.lease,
                limit=self.batch,
            )

    async def fire(self, reminder_id: int, now: datetime) -> bool:
        """Fire one claimed reminder alone; conditions are checked again by its handler. False if it was not ours."""
        async with self.db.transaction() as store:
            row = await store.session.get(ReminderRow, reminder_id)
            if row is None:
                return False
            with contextlib.suppress(NotFound):  # gone with its incident: the reminder went too
                await store.get_incident(row.incident, lock=True)
            fired = await self._fire_rows(store, await store.start_firing([reminder_id], self.owner, now), now)
        self._tell(fired, now)
        return bool(fired)

    async def fire_incident(self, incident: int, reminder_ids: list[int], now: datetime) -> int:
        """Fire one incident's claimed reminders together, in one transaction: its row is locked once, the
        reminders are marked fired in one statement, the follow-ups they chase are read in one query, and what the
        firings write is flushed together at commit. Conditions are checked again by each handler."""
        async with self.db.transaction() as store:
            try:
                await store.get_incident(incident, lock=True)  # as every command does: they and we take turns
            except NotFound:
                return 0  # the incident was deleted, and its reminders with it
            rows = await store.start_firing(reminder_ids, self.owner, now)
            await store.load_for_firing(incident, [r.subject for r in rows if r.kind == FOLLOW_UP])
            fired = await self._fire_rows(store, rows, now)
        self._tell(fired, now)
        return len(fired)

    async def _fire_rows(self, store: Store, rows: list[ReminderRow], now: datetime) -> list[Reminder]:
        fired = [Reminder(r.id, r.incident, r.kind, r.subject, r.due_at) for r in rows]
        for reminder in fired:
            await self.handlers[reminder.kind](store, reminder, now)
        return fired

    def _tell(self, fired: list[Reminder], now: datetime) -> None:
        for reminder in fired:  # once committed
            self.observer.reminder_fired((now - reminder.due_at).total_seconds())

    async def _back_off(self, reminder_id: int, now: datetime) -> None:
        """A firing failed (its transaction rolled back): try again later, further apart each time, never
        giving up — an incident that is open is chased for as long as it is open."""
        async with self.db.transaction() as store:
            row = await store.session.get(ReminderRow, reminder_id, with_for_update=True)
            if row is not None and row.state == PENDING and row.lease_owner == self.owner:
                row.lease_until = now + backoff(row.attempts)

    async def _fire_alone(self, reminder_ids: list[int], now: datetime) -> int:
        """A batch failed as a whole (nothing of it committed): each of its reminders again on its own, so one
        that fails does not hold back the others; a failure leaves its reminder leased, retried with backoff."""
        fired = 0
        for reminder_id in reminder_ids:
            try:
                fired += await self.fire(reminder_id, now)
            except Exception:
                log.exception("reminder %s failed; it will be retried with backoff", reminder_id)
                self.observer.reminder_failed()
                with contextlib.suppress(Exception):  # the database may be what failed: the lease covers it
                    await self._back_off(reminder_id, now)
        return fired

    async def tick(self) -> int:
        """Fire everything due now, a small claim at a time (so every replica gets a share): each claim taken and
        fired in one transaction (``claim_and_fire``), what a command holds meanwhile one incident at a time after;
        what the firings decided to post is delivered once they have committed."""
        fired = 0
        while True:
            now = self.clock.now()
            try:
                count, claimed, rest = await self.claim_and_fire(now)
            except Exception:  # nothing of it committed, the claim neither: claimed again, fired incident by incident
                log.warning("firing a claim of reminders together failed; firing them incident by incident",
                            exc_info=True)  # fmt: skip
                taken = await self.claim_by_incident(now)
                count, claimed, rest = 0, len(taken), _by_incident(taken)
            fired += count
            for incident, ids in rest.items():
                try:
                    fired += await self.fire_incident(incident, ids, now)
                except Exception:
                    log.warning("firing %d reminders of INC-%d together failed; firing them one by one", len(ids),
                                incident, exc_info=True)  # fmt: skip
                    fired += await self._fire_alone(ids, now)
            if claimed < self.batch:
                if self.deliver is not None:
                    await self.deliver()
                return fired

    async def claim_and_fire(self, now: datetime) -> tuple[int, int, dict[int, list[int]]]:
        """Claim up to ``batch`` due reminders and fire them, in one transaction, set-based: the claim (``SKIP
        LOCKED``: other replicas take other reminders), the incidents' rows locked in one statement (in number
        order; one a command holds now is skipped, its reminders left leased to this engine for ``fire_incident``),
        the reminders marked fired in one, the follow-ups, ticket copies and commitments their chases need read in
        one query each; the handlers decide in Python, and their writes go out together — one statement per kind of
        row (follow-ups, next reminders, timeline events, posts owed). Returns how many fired, how many were claimed,
        and the claimed reminders of the incidents it could not lock, by incident."""
        async with self.db.transaction() as store:
            taken = await store.claim_reminders(
                due=(ReminderRow.state == PENDING) & (ReminderRow.due_at <= now),
                owner=self.owner,
                now=now,
                lease=self.lease,
                limit=self.batch,
            )
            by_incident = _by_incident(taken)
            locked = sorted(await store.lock_for_firing(list(by_incident)))
            rest = {n: ids for n, ids in by_incident.items() if n not in set(locked)}
            if not locked:
                return 0, len(taken), rest
            ids = [i for n in locked for i in by_incident[n]]
            rows = await store.start_firing(ids, self.owner, now, incidents=locked)
            chases = [(r.incident, r.subject) for r in rows if r.kind == FOLLOW_UP]
            await store.load_batch(chases, commitments=bool(chases))
            fired: list[Reminder] = []
            store.posts_later = []
            for row in sorted(rows, key=lambda r: (r.incident, r.due_at, r.id)):  # each incident's in due order
                if row.kind != FOLLOW_UP:  # it posts at once: what the chases before it owe goes first
                    await self._post_owed(store)
                reminder = Reminder(row.id, row.incident, row.kind, row.subject, row.due_at)
                await self.handlers[reminder.kind](store, reminder, now)
                fired.append(reminder)
            await self._post_owed(store)
            store.posts_later = None
        self._tell(fired, now)
        return len(fired), len(taken), rest

    @staticmethod
    async def _post_owed(store: Store) -> None:
        """Write what the batch decided so far (one statement per kind of row), then the posts its chases owe (one
        INSERT for all of them)."""
        owed, store.posts_later = store.posts_later or [], []
        if not owed:
            return
        await store.session.flush()
        by_desk: dict[int, tuple[Any, list[tuple[Any, Any]]]] = {}
        for desk, incident, message in owed:
            by_desk.setdefault(id(desk), (desk, []))[1].append((incident, message))
        for desk, posts in by_desk.values():
            await desk.post_many(store, posts)

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


def _by_incident(claimed: list[tuple[int, int]]) -> dict[int, list[int]]:
    by_incident: dict[int, list[int]] = {}
    for reminder_id, incident in claimed:
        by_incident.setdefault(incident, []).append(reminder_id)
    return by_incident
