"""What every part of the Store shares: the session of the caller's transaction and per-incident numbering."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import (
    ActionRow,
    BadNewsRow,
    CommitmentRow,
    FollowUpRow,
    InboxRow,
    LessonRow,
    OutboxRow,
    ReminderRow,
    UpdateRow,
)

Numbered = (
    type[LessonRow] | type[ActionRow] | type[FollowUpRow] | type[CommitmentRow] | type[UpdateRow] | type[BadNewsRow]
)


class StoreBase:
    session: AsyncSession

    async def next_number(self, table: Numbered, incident: int) -> int:
        """The next L<n>, A<n>, V<n>, C<n>, U<n> or B<n> of an incident (callers hold the incident's row lock)."""
        query = select(func.coalesce(func.max(table.number), 0)).where(table.incident == incident)
        return int((await self.session.execute(query)).scalar_one()) + 1

    async def hand_back(self, owner: str) -> int:
        """Release every lease ``owner`` holds on reminders, posts owed and accepted commands, so that another
        replica takes them now instead of when the leases run out (a graceful shutdown)."""
        released = 0
        for table in (ReminderRow, OutboxRow, InboxRow):
            result = await self.session.execute(
                update(table).where(table.lease_owner == owner).values(lease_owner=None, lease_until=None)
            )
            released += int(result.rowcount)  # type: ignore[attr-defined]
        return released
