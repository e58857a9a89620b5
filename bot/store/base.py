"""What every part of the Store shares: the session of the caller's transaction and per-incident numbering."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import (
    ActionRow,
    BadNewsRow,
    CommitmentRow,
    FollowUpRow,
    InboxRow,
    LessonRow,
    MailInRow,
    MailOutRow,
    OutboxRow,
    ReminderRow,
    UpdateRow,
)

Numbered = (
    type[LessonRow] | type[ActionRow] | type[FollowUpRow] | type[CommitmentRow] | type[UpdateRow] | type[BadNewsRow]
)

# Leases and attempt counts are how replicas share work, not what anyone is shown: a claim that writes only them
# is not a change of the data (answers kept in memory stay good; see bot/store/changes.py).
BOOKKEEPING = {"warroom_bookkeeping": True}


Leased = type[ReminderRow] | type[OutboxRow] | type[InboxRow] | type[MailOutRow] | type[MailInRow]


class StoreBase:
    session: AsyncSession
    # What this transaction already knows, so a batch of firings on one incident reads each thing once: the
    # incidents whose row it locked, the follow-ups and ticket copies a firing batch loaded in one query each, the
    # subjects whose pending reminder it just fired (so none is pending), and the webhook subscriptions.
    locked: set[int]
    follow_up_rows: dict[tuple[int, int], FollowUpRow]
    copy_rows: dict[tuple[int, int], list[FollowUpRow]]
    none_pending: set[tuple[int, str, int]]
    subscription_rows: list[Any] | None
    # A claimed batch of firings also reads each incident's commitments once, and has the posts its chases owe
    # written after every other write of the batch (so each kind of write is one statement): None posts at once.
    commitment_rows: dict[int, list[CommitmentRow]]
    posts_later: list[tuple[Any, Any, Any]] | None  # (desk, incident, message)
    # The rows of the incidents locked: held, so the session's identity map (which holds rows weakly) keeps them
    # and reading a locked incident again costs no query.
    held: list[object]

    def init_firing(self) -> None:
        self.locked, self.follow_up_rows, self.copy_rows, self.none_pending = set(), {}, {}, set()
        self.held = []
        self.subscription_rows, self.commitment_rows, self.posts_later = None, {}, None

    def post_later(self, desk: Any, incident: Any, message: Any) -> bool:
        """Inside a batch of firings: owe the post once the batch's other writes are written, all the batch's posts
        in one INSERT (``desk.post_many``); True then. False outside one: the caller posts now."""
        if self.posts_later is None:
            return False
        self.posts_later.append((desk, incident, message))
        return True

    async def next_number(self, table: Numbered, incident: int) -> int:
        """The next L<n>, A<n>, V<n>, C<n>, U<n> or B<n> of an incident (callers hold the incident's row lock)."""
        query = select(func.coalesce(func.max(table.number), 0)).where(table.incident == incident)
        return int((await self.session.execute(query)).scalar_one()) + 1

    async def claim_leased(
        self,
        table: Leased,
        *,
        due: ColumnElement[bool],
        order: Any,
        owner: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        also: Mapping[str, Any] | None = None,
    ) -> list[int]:
        ids = await self._claim(table, due=due, order=order, owner=owner, now=now, lease=lease, limit=limit, also=also)
        return sorted(i for i, _ in ids)

    async def claim_reminders(
        self, *, due: ColumnElement[bool], owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[int, int]]:
        """Lease up to ``limit`` due reminders, as (id, incident) so the engine fires them incident by incident."""
        order = ReminderRow.due_at
        return await self._claim(ReminderRow, due=due, order=order, owner=owner, now=now, lease=lease, limit=limit)

    async def _claim(
        self,
        table: Leased,
        *,
        due: ColumnElement[bool],
        order: Any,
        owner: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        also: Mapping[str, Any] | None = None,
    ) -> list[tuple[int, int]]:
        """Lease up to ``limit`` rows of a work queue (reminders, posts owed, accepted commands) that are ``due``
        and not leased by a live owner; returns their ids. Other replicas skip them until the lease runs out."""
        picked = (
            select(table.id)
            .where(due)
            .where(or_(table.lease_until.is_(None), table.lease_until < now))
            .order_by(order)
            .limit(limit)
            # PostgreSQL: rows another replica is claiming are skipped, not waited for. SQLite drops this clause;
            # there BEGIN IMMEDIATE makes the whole claim one writer at a time.
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(table)
            .where(table.id.in_(picked.scalar_subquery()))
            .values(lease_owner=owner, lease_until=now + lease, attempts=table.attempts + 1, **(also or {}))
            .returning(table.id, table.incident if table is ReminderRow else table.id)
            .execution_options(**BOOKKEEPING)
        )
        return sorted((int(i), int(n or 0)) for i, n in (await self.session.execute(claim)).all())

    async def hand_back(self, owner: str) -> int:
        """Release every lease ``owner`` holds on reminders, posts owed and accepted commands, so that another
        replica takes them now instead of when the leases run out (a graceful shutdown); emails too."""
        released = 0
        for table in (ReminderRow, OutboxRow, InboxRow, MailOutRow, MailInRow):
            result = await self.session.execute(
                update(table)
                .where(table.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(**BOOKKEEPING)
            )
            released += int(result.rowcount)  # type: ignore[attr-defined]
        return released
