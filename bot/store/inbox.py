"""Storage of the inbox: accepted commands, claimed under a lease, marked applied with their first write."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.base import StoreBase
from bot.store.tables import InboxRow

PENDING, APPLIED, DONE = "pending", "applied", "done"
KEEP_DONE = timedelta(days=1)  # done rows are kept this long: a double submit inside it is recognised


@dataclass
class Applying:
    """The inbox row whose command is running in this task; its first committed write marks it applied."""

    row_id: int
    applied: bool = False


# Set by the inbox worker around one command. Database.transaction marks the row applied inside the command's
# first write transaction, so a replica that dies after that commit never runs the command twice.
applying: ContextVar[Applying | None] = ContextVar("warroom_inbox_applying", default=None)


class InboxStore(StoreBase):
    """The inbox, mixed into bot.store.Store; every method runs in the caller's transaction."""

    async def accept(
        self, key: str, platform: str, payload: str, *, now: datetime, ttl: timedelta, sweep: bool = True
    ) -> bool:
        """Keep an accepted command; False when the same key was accepted within ``ttl`` (a double submit) or is
        still being carried out. ``sweep`` also drops every done row past its day (callers do it now and then)."""
        key = key[:200]
        if sweep:
            await self.session.execute(
                delete(InboxRow).where(InboxRow.state == DONE, InboxRow.done_at < now - KEEP_DONE)
            )
        await self.session.execute(
            delete(InboxRow).where(InboxRow.key == key, InboxRow.state == DONE, InboxRow.created_at < now - ttl)
        )
        try:
            async with self.session.begin_nested():
                self.session.add(InboxRow(key=key, platform=platform, payload=payload, state=PENDING, created_at=now))
        except IntegrityError:
            return False
        return True

    async def forget_command(self, row_id: int) -> None:
        """Drop a command that changed nothing, so the same words sent again at once are a new command."""
        await self.session.execute(delete(InboxRow).where(InboxRow.id == row_id))

    async def claim_commands(
        self, platform: str, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[InboxRow]:
        """Lease accepted commands not yet done, oldest first; a dead replica's lease runs out and they come back."""
        ids = await self.claim_leased(
            InboxRow,
            due=(InboxRow.platform == platform) & (InboxRow.state != DONE),
            order=InboxRow.id,
            owner=owner,
            now=now,
            lease=lease,
            limit=limit,
        )
        if not ids:
            return []
        rows = (await self.session.execute(select(InboxRow).where(InboxRow.id.in_(ids)))).scalars()
        return sorted(rows, key=lambda r: r.id)

    async def mark_applied(self, row_id: int) -> None:
        await self.session.execute(
            update(InboxRow).where(InboxRow.id == row_id, InboxRow.state == PENDING).values(state=APPLIED)
        )

    async def mark_done(self, row_id: int, owner: str, now: datetime) -> None:
        await self.session.execute(
            update(InboxRow)
            .where(InboxRow.id == row_id, InboxRow.lease_owner == owner)
            .values(state=DONE, done_at=now, lease_owner=None, lease_until=None)
        )

    async def inbox_waiting(self, platform: str | None = None) -> int:
        from sqlalchemy import func

        query = select(func.count()).select_from(InboxRow).where(InboxRow.state != DONE)
        if platform is not None:
            query = query.where(InboxRow.platform == platform)
        return int((await self.session.execute(query)).scalar_one())
