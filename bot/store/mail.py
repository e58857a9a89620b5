"""Storage of email: messages owed (sent under a lease, retried) and messages taken in (handled once, under a lease)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.base import StoreBase
from bot.store.tables import MailInRow, MailOutRow

PENDING, SENT, FAILED, DONE = "pending", "sent", "failed", "done"


class MailStore(StoreBase):
    """Email, mixed into bot.store.Store; every method runs in the caller's transaction."""

    # --- out ---------------------------------------------------------------------------------------

    async def queue_mail(self, row: MailOutRow) -> MailOutRow:
        """Owe an email; it is sent once the transaction commits (and recorded as sent only when it is)."""
        self.session.add(row)
        await self.session.flush()
        return row

    async def claim_mail(
        self, owner: str, now: datetime, lease: timedelta, limit: int, *, only: Sequence[int] | None = None
    ) -> list[MailOutRow]:
        """Lease emails due to be sent (``only`` these when given); other replicas skip them until the lease ends."""
        due = (MailOutRow.state == PENDING) & (MailOutRow.next_attempt_at <= now)
        if only is not None:
            due = due & MailOutRow.id.in_(list(only))
        ids = await self.claim_leased(
            MailOutRow, due=due, order=MailOutRow.id, owner=owner, now=now, lease=lease, limit=limit
        )
        if not ids:
            return []
        rows = (await self.session.execute(select(MailOutRow).where(MailOutRow.id.in_(ids)))).scalars()
        return sorted(rows, key=lambda r: r.id)

    async def locked_mail(self, row_id: int, owner: str) -> MailOutRow | None:
        """The email, held for this transaction, if ``owner`` still holds its lease and it is not yet sent."""
        row = await self.session.get(MailOutRow, row_id, with_for_update=True, populate_existing=True)
        if row is None or row.state != PENDING or row.lease_owner != owner:
            return None
        return row

    async def mail_retry(self, row_id: int, owner: str, at: datetime, error: str) -> None:
        await self.session.execute(
            update(MailOutRow)
            .where(MailOutRow.id == row_id, MailOutRow.lease_owner == owner)
            .values(next_attempt_at=at, last_error=error[:500], lease_owner=None, lease_until=None)
        )

    async def mail_failed(self, row_id: int, owner: str, error: str) -> None:
        """Given up by the person who asked (they were told): never sent, never to be sent."""
        await self.session.execute(
            update(MailOutRow)
            .where(MailOutRow.id == row_id, MailOutRow.lease_owner == owner, MailOutRow.state == PENDING)
            .values(state=FAILED, last_error=error[:500], lease_owner=None, lease_until=None)
        )

    async def mails(self, incident: int | None = None, *, follow_up: int | None = None) -> list[MailOutRow]:
        """Emails owed or sent: an incident's (one follow-up's), or all of them; oldest first."""
        query = select(MailOutRow).order_by(MailOutRow.id)
        if incident is not None:
            query = query.where(MailOutRow.incident == incident)
        if follow_up is not None:
            query = query.where(MailOutRow.follow_up == follow_up)
        return list((await self.session.execute(query)).scalars())

    async def mails_by_message_id(self, message_ids: Sequence[str]) -> list[MailOutRow]:
        if not message_ids:
            return []
        query = select(MailOutRow).where(MailOutRow.message_id.in_(list(message_ids)))
        return list((await self.session.execute(query)).scalars())

    # --- in ----------------------------------------------------------------------------------------

    async def mail_cursor(self, folder: str, uidvalidity: int) -> int:
        """The highest UID of ``folder`` (at this UIDVALIDITY) already taken in; 0 when none."""
        query = select(func.coalesce(func.max(MailInRow.uid), 0)).where(
            MailInRow.folder == folder, MailInRow.uidvalidity == uidvalidity
        )
        return int((await self.session.execute(query)).scalar_one())

    async def take_in(self, row: MailInRow) -> bool:
        """Keep a message that came in; False when it was taken in before (by any replica, under its key)."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            return False
        return True

    async def claim_taken_in(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[int]:
        return await self.claim_leased(
            MailInRow,
            due=MailInRow.state == PENDING,
            order=MailInRow.id,
            owner=owner,
            now=now,
            lease=lease,
            limit=limit,
        )

    async def locked_taken_in(self, row_id: int, owner: str) -> MailInRow | None:
        row = await self.session.get(MailInRow, row_id, with_for_update=True, populate_existing=True)
        if row is None or row.state != PENDING or row.lease_owner != owner:
            return None
        return row

    async def release_taken_in(self, row_id: int, owner: str, at: datetime) -> None:
        await self.session.execute(
            update(MailInRow).where(MailInRow.id == row_id, MailInRow.lease_owner == owner).values(lease_until=at)
        )

    async def taken_in(self, incident: int | None = None) -> list[MailInRow]:
        query = select(MailInRow).order_by(MailInRow.id)
        if incident is not None:
            query = query.where(MailInRow.incident == incident)
        return list((await self.session.execute(query)).scalars())
