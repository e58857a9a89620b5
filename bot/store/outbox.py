"""Storage of the outbox: messages owed to rooms, claimed under a lease and delivered outside any write."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, update

from bot.store.base import StoreBase
from bot.store.tables import OutboxRow
from bot.store.touched import INCIDENTS

PENDING, SENT, REFUSED = "pending", "sent", "refused"
FULL, SHORT, NOTICE = "full", "short", "notice"  # what a row sends: the message, its short version, a notice


class OutboxStore(StoreBase):
    """The outbox, mixed into bot.store.Store; every method runs in the caller's transaction."""

    async def enqueue(
        self,
        room_id: str,
        room_name: str,
        message: str,
        *,
        incident: int | None,
        now: datetime,
        thread_of: int | None = None,
        form: str = FULL,
        flush: bool = True,
        leased: tuple[str, datetime] | None = None,
    ) -> OutboxRow:
        """Owe ``message`` (serialised) to a room; it is delivered once the transaction commits — as a reply in
        the thread of the row ``thread_of`` when given, once that row's post exists. ``flush=False``: the row
        has no id until the caller flushes (a batch of posts flushed together is one INSERT). ``leased``: (owner,
        until) — born leased to the deliverer that posts it right after the commit, so that no claim is needed
        (another replica takes it over when the lease runs out, as any claimed row)."""
        row = OutboxRow(
            thread_of=thread_of,
            form=form,
            key=f"wr-{uuid.uuid4().hex}",
            incident=incident,
            room_id=room_id,
            room_name=room_name,
            message=message,
            state=PENDING,
            attempts=1 if leased else 0,  # born leased: as if claimed once
            next_attempt_at=now,
            created_at=now,
            lease_owner=leased[0] if leased else None,
            lease_until=leased[1] if leased else None,
            maybe_posted=False,
            batch_key=None,
            last_error=None,
            message_id=None,
            sent_at=None,
        )
        self.session.add(row)
        if flush:
            await self.session.flush()
        return row

    async def claim_deliveries(
        self, owner: str, now: datetime, lease: timedelta, limit: int, *, only: Sequence[int] | None = None
    ) -> list[OutboxRow]:
        """Lease what is due to this deliverer (other replicas skip it until the lease runs out), oldest first;
        ``only`` these rows when given (what one command just decided to post)."""
        due = (OutboxRow.state == PENDING) & (OutboxRow.next_attempt_at <= now)
        if only is not None:
            due = due & OutboxRow.id.in_(list(only))
        ids = await self.claim_leased(
            OutboxRow,
            due=due,
            order=OutboxRow.id,
            owner=owner,
            now=now,
            lease=lease,
            limit=limit,
            # A lease still held here was never settled: its replica died mid-post, and the post may be there.
            also={"maybe_posted": or_(OutboxRow.maybe_posted, OutboxRow.lease_owner.is_not(None))},
        )
        if not ids:
            return []
        rows = (await self.session.execute(select(OutboxRow).where(OutboxRow.id.in_(ids)))).scalars()
        return sorted(rows, key=lambda r: r.id)

    async def delivered(self, ids: list[int], owner: str, message_id: str, now: datetime) -> None:
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids), OutboxRow.lease_owner == owner)
            .values(state=SENT, sent_at=now, message_id=message_id, lease_owner=None, lease_until=None)
        )

    async def delivered_many(
        self, posts: Sequence[tuple[Sequence[int], str]], owner: str, now: datetime, *, incidents: Sequence[int | None]
    ) -> None:
        """Mark many delivered posts at once (one statement, executed for each row): each post's rows and its id.
        ``incidents``: those of the rows (the deliverer has them, None for a post of no incident), named so that
        the commit tells which incidents changed without reading each row's back."""
        rows = [{"row": i, "posted": message_id} for ids, message_id in posts for i in ids]
        if not rows:
            return
        table = cast(Table, OutboxRow.__table__)  # Core: executed once per row, in one call
        named = sorted({n for n in incidents if n is not None})  # a post of no incident is in no kept answer
        await self.session.execute(
            update(table)
            .where(table.c.id == bindparam("row"), table.c.lease_owner == owner)
            .values(state=SENT, sent_at=now, message_id=bindparam("posted"), lease_owner=None, lease_until=None)
            .execution_options(**{INCIDENTS: named}),  # bot/store/touched.py reads nothing back
            rows,
        )

    async def retry_later(self, ids: list[int], owner: str, at: datetime, error: str, *, maybe_posted: bool) -> None:
        """Try again at ``at``; ``maybe_posted`` when the platform may have taken it (the next try looks it up)."""
        values: dict[str, object] = {"next_attempt_at": at, "last_error": error[:500], "lease_owner": None}
        values["lease_until"] = None
        if maybe_posted:
            values["maybe_posted"] = True  # and a batch keeps its key: the platform may hold it under that key
        else:
            values["batch_key"] = None  # certainly not taken: free to join the next catch-up with what piles up
        await self.session.execute(
            update(OutboxRow).where(OutboxRow.id.in_(ids), OutboxRow.lease_owner == owner).values(**values)
        )

    async def shorten(self, ids: list[int], owner: str, error: str) -> None:
        """The platform refused these rows' message in full: from now on their short version is what is sent."""
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids), OutboxRow.lease_owner == owner)
            .values(form=SHORT, last_error=error[:500], maybe_posted=False)
        )

    async def give_up(self, ids: list[int], owner: str, error: str) -> None:
        """The platform refused even the short version: nothing more is sent for these rows."""
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids), OutboxRow.lease_owner == owner)
            .values(state=REFUSED, last_error=error[:500], lease_owner=None, lease_until=None)
        )

    async def thread_heads(self, ids: Sequence[int]) -> dict[int, OutboxRow]:
        """The rows that posts reply to, by id."""
        if not ids:
            return {}
        rows = (await self.session.execute(select(OutboxRow).where(OutboxRow.id.in_(list(ids))))).scalars()
        return {r.id: r for r in rows}

    async def thread_rows(self, head: int) -> list[OutboxRow]:
        """The replies owed in the thread of one row, in order."""
        query = select(OutboxRow).where(OutboxRow.thread_of == head).order_by(OutboxRow.id)
        return list((await self.session.execute(query)).scalars())

    async def claim_batch(self, key: str, owner: str, now: datetime, lease: timedelta) -> list[OutboxRow] | None:
        """Every pending row of a catch-up batch, leased to ``owner``; None when another replica holds part of it
        (then the batch waits: sending part of it under its key would mark the rest delivered unseen)."""
        rows = list(
            (
                await self.session.execute(
                    select(OutboxRow).where(OutboxRow.batch_key == key, OutboxRow.state == PENDING).with_for_update()
                )
            ).scalars()
        )
        if any(r.lease_owner not in (None, owner) and r.lease_until and r.lease_until >= now for r in rows):
            return None
        for r in rows:
            r.lease_owner, r.lease_until = owner, now + lease
        return sorted(rows, key=lambda r: r.id)

    async def batch(self, ids: list[int], key: str) -> None:
        """These rows go out together in one catch-up post under ``key``, now and in every retry of it."""
        await self.session.execute(update(OutboxRow).where(OutboxRow.id.in_(ids)).values(batch_key=key))

    async def backlog(self, incident: int | None = None) -> tuple[int, datetime | None]:
        """How many messages wait to be delivered (for one incident, or all), and since when."""
        query = select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.state == PENDING)
        if incident is not None:
            query = query.where(OutboxRow.incident == incident)
        count, oldest = (await self.session.execute(query)).one()
        return int(count), oldest

    async def outbox_row(self, row_id: int) -> OutboxRow | None:
        return await self.session.get(OutboxRow, row_id)
