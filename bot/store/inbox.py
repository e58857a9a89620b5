"""Storage of the inbox: accepted commands, claimed under a lease, marked applied with their first write."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.store.base import StoreBase
from bot.store.tables import InboxRow

PENDING, APPLIED, DONE = "pending", "applied", "done"
KEEP_DONE = timedelta(days=1)  # done rows are kept this long: a double submit inside it is recognised


@dataclass
class Applying:
    """The inbox row whose command is running in this task; its first committed write marks it applied.

    ``attempt`` is the claim this task holds (the row's attempts when it was claimed): marking the row applied
    requires it still, so a task whose lease was taken over by another replica cannot commit the command's write
    too — the command never runs twice, even when its first run outlives its lease."""

    row_id: int
    attempt: int = 1
    applied: bool = False


class LeaseLost(Exception):
    """The command's row was claimed by another replica since this task claimed it: its write is rolled back."""


def accept_statement(
    dialect: str,
    *,
    key: str,
    platform: str,
    payload: str,
    replay: str | None,
    owner: str,
    now: datetime,
    lease: timedelta,
) -> Insert:
    """The whole ack: one INSERT … ON CONFLICT DO NOTHING RETURNING id of a row already leased to the replica that
    accepted it (it carries the command out itself; no claim follows). No row comes back when the key (a double
    submit, a redelivery) or the signature (a replay) is already there."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(InboxRow)
        .values(
            key=key[:200],
            platform=platform,
            payload=payload,
            replay=replay[:200] if replay else None,
            state=PENDING,
            attempts=1,
            lease_owner=owner,
            lease_until=now + lease,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(InboxRow.id)
    )


# Set by the inbox worker around one command. Database.transaction marks the row applied inside the command's
# first write transaction, so a replica that dies after that commit never runs the command twice.
applying: ContextVar[Applying | None] = ContextVar("warroom_inbox_applying", default=None)


class InboxStore(StoreBase):
    """The inbox, mixed into bot.store.Store; every method runs in the caller's transaction."""

    async def why_refused(self, key: str, replay: str | None, *, now: datetime, ttl: timedelta) -> str:
        """Why an accept inserted nothing: "repeat" (the key is held and fresh), "replay" (the signature was seen),
        or "expired" (the key's command is done and older than ``ttl``: dropped here, so it can be accepted anew)."""
        key = key[:200]
        if replay is not None:
            seen = await self.session.execute(select(InboxRow.id).where(InboxRow.replay == replay[:200]))
            if seen.first() is not None:
                return "replay"
        expired = await self.session.execute(
            delete(InboxRow)
            .where(InboxRow.key == key, InboxRow.state == DONE, InboxRow.created_at < now - ttl)
            .returning(InboxRow.id)
        )
        if expired.first() is not None:
            return "expired"
        held = await self.session.execute(select(InboxRow.id).where(InboxRow.key == key))
        return "repeat" if held.first() is not None else "expired"  # gone meanwhile: try again

    async def sweep_inbox(self, now: datetime) -> int:
        """Drop done commands past their day (the worker does it now and then, never the ack)."""
        result = await self.session.execute(
            delete(InboxRow).where(InboxRow.state == DONE, InboxRow.done_at < now - KEEP_DONE)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def forget_command(self, row_id: int, now: datetime) -> None:
        """Set aside a command that changed nothing, so the same words sent again at once are a new command (its
        signature stays: a replay of that request is still recognised)."""
        await self.session.execute(
            update(InboxRow)
            .where(InboxRow.id == row_id)
            .values(key=f"forgotten:{row_id}", state=DONE, done_at=now, lease_owner=None, lease_until=None)
        )

    async def take_back(self, platform: str, owner: str, born: datetime, lease: timedelta) -> int:
        """A replica restarted under the same name (at ``born``): what its predecessor held is claimable at once (by
        it or by any replica) instead of when the leases run out. A lease taken since ``born`` ends after
        ``born + lease``: those are this process's own and stay."""
        result = await self.session.execute(
            update(InboxRow)
            .where(
                InboxRow.platform == platform,
                InboxRow.lease_owner == owner,
                InboxRow.state != DONE,
                InboxRow.lease_until < born + lease,
            )
            .values(lease_owner=None, lease_until=None)
            .execution_options(warroom_bookkeeping=True)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

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

    async def mark_applied(self, row_id: int, attempt: int) -> bool:
        """Mark the command applied in its first write's transaction; False when another claim holds the row now
        (the caller rolls the write back) or it was applied already."""
        result = await self.session.execute(
            update(InboxRow)
            .where(InboxRow.id == row_id, InboxRow.state == PENDING, InboxRow.attempts == attempt)
            .values(state=APPLIED)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def mark_all_done(self, done: list[tuple[int, int]], now: datetime) -> None:
        """Done, for a batch of (row id, claim) that were carried out and answered: one UPDATE for all of them."""
        if done:
            await self.session.execute(
                update(InboxRow)
                .where(or_(*(and_(InboxRow.id == row_id, InboxRow.attempts == attempt) for row_id, attempt in done)))
                .values(state=DONE, done_at=now, lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )

    async def inbox_waiting(self, platform: str | None = None) -> int:
        query = select(func.count()).select_from(InboxRow).where(InboxRow.state != DONE)
        if platform is not None:
            query = query.where(InboxRow.platform == platform)
        return int((await self.session.execute(query)).scalar_one())
