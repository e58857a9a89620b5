"""Reads for the read models (bot/views.py): a page of incidents and what belongs to them, a few queries per page
whatever its size; mixed into Store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select

from bot.customer import BadNews, Commitment, CommitmentState, CustomerUpdate
from bot.domain import EventKind, IncidentState, Person, TimelineEvent
from bot.figures import IMPACT_EVENTS
from bot.followups import OPEN_STATES, FollowUp
from bot.store.base import StoreBase
from bot.store.customer import _commitment, bad_news_value
from bot.store.followups import PENDING, _follow_up
from bot.store.tables import (
    BadNewsRow,
    CommitmentRow,
    EventRow,
    FollowUpRow,
    IncidentRow,
    MailOutRow,
    ReminderRow,
    RoomAddressRow,
    UpdateRow,
)
from bot.store.zoned import in_zones_of_now

_OPEN_FOLLOW_UP = [s.value for s in OPEN_STATES]
_OPEN_COMMITMENT = [CommitmentState.OPEN.value, CommitmentState.AT_RISK.value]


def _not_closed() -> ColumnElement[bool]:
    return IncidentRow.state != IncidentState.CLOSED.value


class ViewStore(StoreBase):
    """Batched reads across incidents for lists and overviews, mixed into bot.store.Store."""

    async def incident_rows(
        self,
        *,
        states: Sequence[str] | None,
        severity: int | None,
        customer: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[IncidentRow], int]:
        """One page of incidents (worst severity first, then oldest; closed ones alone: the last closed first) and how
        many match in all."""
        where: list[ColumnElement[bool]] = []
        if states is not None:
            where.append(IncidentRow.state.in_(list(states)))
        if severity is not None:
            where.append(IncidentRow.severity == severity)
        if customer is not None:
            where.append(func.lower(IncidentRow.customer) == customer.lower())
        total = (await self.session.execute(select(func.count()).select_from(IncidentRow).where(*where))).scalar_one()
        query = (
            select(IncidentRow)
            .where(*where)
            .order_by(
                *(
                    (IncidentRow.closed_at.desc(), IncidentRow.number.desc())
                    if states is not None and set(states) == {IncidentState.CLOSED.value}
                    else (IncidentRow.severity, IncidentRow.number)
                )
            )
            .limit(limit)
            .offset(offset)
        )
        return list((await self.session.execute(query)).scalars()), int(total)

    async def latest_updates(self, numbers: Sequence[int]) -> dict[int, CustomerUpdate]:
        """Each incident's last customer update (U<n> with the highest n)."""
        if not numbers:
            return {}
        last = (
            select(UpdateRow.incident, func.max(UpdateRow.number).label("n"))
            .where(UpdateRow.incident.in_(list(numbers)))
            .group_by(UpdateRow.incident)
            .subquery()
        )
        query = select(UpdateRow).join(last, (UpdateRow.incident == last.c.incident) & (UpdateRow.number == last.c.n))
        return {
            r.incident: CustomerUpdate(
                r.incident, r.number, r.text, Person(r.author_id, r.author_name), r.at, r.next_due
            )
            for r in (await self.session.execute(query)).scalars()
        }

    async def untold_counts(self, numbers: Sequence[int]) -> dict[int, int]:
        """Pieces of bad news not yet told, per incident."""
        query = (
            select(BadNewsRow.incident, func.count())
            .where(
                BadNewsRow.incident.in_(list(numbers)), BadNewsRow.answered_at.is_(None), BadNewsRow.moot_at.is_(None)
            )
            .group_by(BadNewsRow.incident)
        )
        return {int(n): int(count) for n, count in (await self.session.execute(query)).all()}

    async def open_follow_up_counts(self, numbers: Sequence[int]) -> dict[int, int]:
        """Follow-ups still waiting (waiting, overdue or escalated), per incident."""
        query = (
            select(FollowUpRow.incident, func.count())
            .where(FollowUpRow.incident.in_(list(numbers)), FollowUpRow.state.in_(_OPEN_FOLLOW_UP))
            .group_by(FollowUpRow.incident)
        )
        return {int(n): int(count) for n, count in (await self.session.execute(query)).all()}

    async def pending_dues(self, numbers: Sequence[int], kind: str) -> dict[int, datetime]:
        """When each incident's pending incident-wide reminder of ``kind`` fires."""
        query = select(ReminderRow.incident, ReminderRow.due_at).where(
            ReminderRow.incident.in_(list(numbers)),
            ReminderRow.kind == kind,
            ReminderRow.subject == 0,
            ReminderRow.state == PENDING,
        )
        return {int(n): at for n, at in (await self.session.execute(query)).all()}

    async def addresses_of(self, room_ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """The stored address (platform, data) of each of these rooms that has one."""
        if not room_ids:
            return {}
        query = select(RoomAddressRow).where(RoomAddressRow.room_id.in_(list(room_ids)))
        return {r.room_id: (r.platform, json.loads(r.data)) for r in (await self.session.execute(query)).scalars()}

    async def follow_ups_of_open_incidents(
        self,
        *,
        vendor: str | None = None,
        states: Sequence[str] | None = None,
        due_before: datetime | None = None,
    ) -> list[FollowUp]:
        """The follow-ups of every incident not closed (in ``states``, due before ``due_before``), earliest due
        first: the filters run in the database, so the overview's overdue list does not load every follow-up."""
        query = (
            select(FollowUpRow)
            .join(IncidentRow, IncidentRow.number == FollowUpRow.incident)
            .where(_not_closed())
            .order_by(FollowUpRow.due, FollowUpRow.incident, FollowUpRow.number)
        )
        if vendor is not None:
            query = query.where(func.lower(FollowUpRow.vendor) == vendor.lower())
        if states is not None:
            query = query.where(FollowUpRow.state.in_(list(states)))
        if due_before is not None:
            query = query.where(FollowUpRow.due < due_before)
        return [_follow_up(r) for r in (await self.session.execute(query)).scalars()]

    async def commitments_of_open_incidents(self) -> list[Commitment]:
        """Every commitment of every incident not closed, earliest due first."""
        query = (
            select(CommitmentRow)
            .join(IncidentRow, IncidentRow.number == CommitmentRow.incident)
            .where(_not_closed())
            .order_by(CommitmentRow.due, CommitmentRow.incident, CommitmentRow.number)
        )
        return [_commitment(r) for r in (await self.session.execute(query)).scalars()]

    async def untold_bad_news_of_open_incidents(self) -> list[BadNews]:
        """Bad news not yet told, in incidents not closed, oldest first."""
        query = (
            select(BadNewsRow)
            .join(IncidentRow, IncidentRow.number == BadNewsRow.incident)
            .where(_not_closed(), BadNewsRow.answered_at.is_(None), BadNewsRow.moot_at.is_(None))
            .order_by(BadNewsRow.at, BadNewsRow.incident, BadNewsRow.number)
        )
        found = [bad_news_value(r) for r in (await self.session.execute(query)).scalars()]
        shown = await in_zones_of_now(self.session, sorted({b.incident for b in found}))
        # `what` names times: in each incident's zone of now, as every other view shows them
        return [replace(b, what=shown[b.incident](b.what)) for b in found]

    async def impact_events(self, numbers: Sequence[int]) -> dict[int, list[TimelineEvent]]:
        """Each incident's mitigations, resolutions, reopenings and close, oldest first: what its impact's duration
        (bot/figures.py) is read from."""
        if not numbers:
            return {}
        query = (
            select(EventRow)
            .where(EventRow.incident.in_(list(numbers)), EventRow.kind.in_([k.value for k in IMPACT_EVENTS]))
            .order_by(EventRow.at, EventRow.id)
        )
        found: dict[int, list[TimelineEvent]] = {}
        for r in (await self.session.execute(query)).scalars():
            found.setdefault(r.incident, []).append(
                TimelineEvent(r.at, EventKind(r.kind), None, r.text, json.loads(r.data))
            )
        return found

    # --- the overview's lists: a page of each and how many in all, counted in the database -------------------

    async def overdue_follow_ups(self, *, now: datetime, limit: int) -> tuple[list[FollowUp], int]:
        """The first ``limit`` follow-ups of incidents not closed that are still waited for and past due (the longest
        overdue first), and how many there are in all."""
        where = (_not_closed(), FollowUpRow.state.in_(_OPEN_FOLLOW_UP), FollowUpRow.due < now)
        joined = select(FollowUpRow).join(IncidentRow, IncidentRow.number == FollowUpRow.incident).where(*where)
        query = joined.order_by(FollowUpRow.due, FollowUpRow.incident, FollowUpRow.number).limit(limit)
        found = [_follow_up(r) for r in (await self.session.execute(query)).scalars()]
        return found, await self._count(joined, found, limit)

    async def commitments_at_risk(self, *, now: datetime, limit: int) -> tuple[list[Commitment], int]:
        """The first ``limit`` commitments of incidents not closed that are at risk or open past their due (the
        earliest due first), and how many there are in all."""
        risky = or_(
            CommitmentRow.state == CommitmentState.AT_RISK.value,
            and_(CommitmentRow.state.in_(_OPEN_COMMITMENT), CommitmentRow.due < now),
        )
        joined = (
            select(CommitmentRow)
            .join(IncidentRow, IncidentRow.number == CommitmentRow.incident)
            .where(_not_closed(), risky)
        )
        query = joined.order_by(CommitmentRow.due, CommitmentRow.incident, CommitmentRow.number).limit(limit)
        found = [_commitment(r) for r in (await self.session.execute(query)).scalars()]
        return found, await self._count(joined, found, limit)

    async def untold_bad_news(self, *, limit: int) -> tuple[list[BadNews], int]:
        """The first ``limit`` pieces of bad news not yet told in incidents not closed (the oldest first, their lines
        in each incident's zone of now), and how many there are in all."""
        joined = (
            select(BadNewsRow)
            .join(IncidentRow, IncidentRow.number == BadNewsRow.incident)
            .where(_not_closed(), BadNewsRow.answered_at.is_(None), BadNewsRow.moot_at.is_(None))
        )
        query = joined.order_by(BadNewsRow.at, BadNewsRow.incident, BadNewsRow.number).limit(limit)
        found = [bad_news_value(r) for r in (await self.session.execute(query)).scalars()]
        shown = await in_zones_of_now(self.session, sorted({b.incident for b in found}))
        return [replace(b, what=shown[b.incident](b.what)) for b in found], await self._count(joined, found, limit)

    async def _count(self, query: Select[Any], found: Sequence[object], limit: int) -> int:
        """How many rows ``query`` finds in all, counted by the database only when the page of them is full."""
        if len(found) < limit:
            return len(found)
        counted = select(func.count()).select_from(query.with_only_columns(literal_column("1")).subquery())
        return int((await self.session.execute(counted)).scalar_one())

    async def mails_of(self, numbers: Sequence[int]) -> list[MailOutRow]:
        """The emails owed or sent of these incidents, oldest first."""
        if not numbers:
            return []
        query = select(MailOutRow).where(MailOutRow.incident.in_(list(numbers))).order_by(MailOutRow.id)
        return list((await self.session.execute(query)).scalars())

    async def zones_of(self, numbers: Sequence[int]) -> dict[int, str]:
        """The time zone of each of these incidents."""
        if not numbers:
            return {}
        query = select(IncidentRow.number, IncidentRow.timezone).where(IncidentRow.number.in_(list(numbers)))
        return {int(n): zone for n, zone in (await self.session.execute(query)).all()}
