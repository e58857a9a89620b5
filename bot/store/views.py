"""Reads for the read models (bot/views.py): a page of incidents and what belongs to them, a few queries per page
whatever its size; mixed into Store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, and_, cast, func, literal, or_, select

from bot.customer import BadNews, Commitment, CommitmentState
from bot.domain import EventKind, IncidentState, TimelineEvent
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
_ACTIVE = {s.value for s in IncidentState if s is not IncidentState.CLOSED}
_OPEN_COMMITMENT = [CommitmentState.OPEN.value, CommitmentState.AT_RISK.value]


def _not_closed() -> ColumnElement[bool]:
    return IncidentRow.state != IncidentState.CLOSED.value


@dataclass(frozen=True)
class Visible:
    """Which incidents a read may show, as one SQL condition (bot/access.py says who may see what).

    Every incident (``everything``), or the public ones — not set private, and of a playbook in ``public_playbooks``
    when nobody set it either way (a playbook since removed counts as private) — and those of the war room
    ``room_id``: a private incident does not exist outside its room."""

    everything: bool = False
    public_playbooks: frozenset[str] = frozenset()
    room_id: str | None = None

    def condition(self) -> ColumnElement[bool] | None:
        """The condition on IncidentRow, or None when every incident may be shown."""
        if self.everything:
            return None
        public = or_(
            IncidentRow.private.is_(False),
            and_(
                IncidentRow.private.is_(None),
                func.lower(func.trim(IncidentRow.playbook)).in_(sorted(self.public_playbooks)),
            ),
        )
        return or_(public, IncidentRow.room_id == self.room_id) if self.room_id else public


EVERY_INCIDENT = Visible(everything=True)


@dataclass(frozen=True)
class BriefParts:
    """What a list shows of an incident beyond its own row, read in the same statement as the row."""

    last_update: tuple[datetime, datetime | None] | None  # the last customer update's time and next due
    pending_due: datetime | None  # when the pending update prompt fires
    untold: int  # pieces of bad news not yet told
    open_follow_ups: int  # follow-ups still waited for
    address: tuple[str, dict[str, Any]] | None  # the war room's stored address (platform, data)
    impact: list[TimelineEvent]  # mitigations, resolutions, reopenings and close (bot/figures.py), oldest first


def _parts(row: Any) -> BriefParts:
    """A page row's parts, from the columns `ViewStore._brief_columns` added."""
    impact = [
        TimelineEvent(_moment(e["at"]), EventKind(e["kind"]), None, "", {}) for e in json.loads(row.impact or "[]")
    ]
    return BriefParts(
        last_update=(row.last_at, row.next_due) if row.last_at is not None else None,
        pending_due=row.pending_due,
        untold=int(row.untold),
        open_follow_ups=int(row.waiting),
        address=(row.platform, json.loads(row.address)) if row.address is not None else None,
        impact=sorted(impact, key=lambda e: e.at),
    )


def _moment(value: str) -> datetime:
    """A stored time as the database's JSON has it: SQLite's text (naive UTC), PostgreSQL's ISO 8601 with an offset."""
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _seen(where: list[ColumnElement[bool]], visible: Visible) -> list[ColumnElement[bool]]:
    condition = visible.condition()
    return where if condition is None else [*where, condition]


class ViewStore(StoreBase):
    """Batched reads across incidents for lists and overviews, mixed into bot.store.Store."""

    dialect: str

    async def incident_rows(
        self,
        *,
        states: Sequence[str] | None,
        severity: int | None = None,
        customer: str | None = None,
        number: int | None = None,
        limit: int,
        offset: int,
        visible: Visible = EVERY_INCIDENT,
        prompt: str,
    ) -> tuple[list[tuple[IncidentRow, BriefParts]], int]:
        """One page of incidents (worst severity first, then oldest; closed ones alone: the last closed first), each
        with what a list shows of it, and how many match in all: one statement, whatever the page's length (a
        second, the count alone, only for a page past the end). ``prompt``: the kind of reminder that prompts the
        next customer update."""
        where: list[ColumnElement[bool]] = []
        if states is not None and set(states) == _ACTIVE:
            # the same rows as the IN: read in table order, which beats an index lookup per row while most are open
            where.append(_not_closed())
        elif states is not None:
            where.append(IncidentRow.state.in_(list(states)))
        if severity is not None:
            where.append(IncidentRow.severity == severity)
        if customer is not None:
            where.append(func.lower(IncidentRow.customer) == customer.lower())
        if number is not None:
            where.append(IncidentRow.number == number)
        where = _seen(where, visible)
        order: tuple[Any, ...]
        if states is not None and set(states) == {IncidentState.CLOSED.value}:
            order = (IncidentRow.closed_at.desc(), IncidentRow.number.desc())
        else:
            order = (IncidentRow.severity, IncidentRow.number)
        # The page's numbers are sorted alone (a narrow sort), then joined to their rows and parts.
        page = select(IncidentRow.number).where(*where).order_by(*order).limit(limit).offset(offset).subquery("page")
        total = select(func.count()).select_from(IncidentRow).where(*where)
        query = (
            select(IncidentRow, total.correlate(None).scalar_subquery().label("total"), *self._brief_columns(prompt))
            .join(page, page.c.number == IncidentRow.number)
            .order_by(*order)
        )
        found = (await self.session.execute(query)).all()
        if not found:
            return [], int((await self.session.execute(total)).scalar_one()) if offset else 0
        return [(r[0], _parts(r)) for r in found], int(found[0].total)

    def _brief_columns(self, prompt: str) -> list[Any]:
        """Subqueries correlated to IncidentRow, one value each per incident: its parts (see `_parts`)."""
        n = IncidentRow.number
        last = select(UpdateRow).where(UpdateRow.incident == n).order_by(UpdateRow.number.desc()).limit(1)
        impact = (EventRow.incident == n, EventRow.kind.in_([k.value for k in IMPACT_EVENTS]))
        pairs = (literal("at"), EventRow.at, literal("kind"), EventRow.kind)
        if self.dialect == "postgresql":
            events: Any = cast(func.json_agg(func.json_build_object(*pairs)), Text)
        else:
            events = func.json_group_array(func.json_object(*pairs))
        return [
            last.with_only_columns(UpdateRow.at).scalar_subquery().label("last_at"),
            last.with_only_columns(UpdateRow.next_due).scalar_subquery().label("next_due"),
            select(func.min(ReminderRow.due_at))
            .where(
                ReminderRow.incident == n,
                ReminderRow.kind == prompt,
                ReminderRow.subject == 0,
                ReminderRow.state == PENDING,
            )
            .scalar_subquery()
            .label("pending_due"),
            select(func.count())
            .select_from(BadNewsRow)
            .where(BadNewsRow.incident == n, BadNewsRow.answered_at.is_(None), BadNewsRow.moot_at.is_(None))
            .scalar_subquery()
            .label("untold"),
            select(func.count())
            .select_from(FollowUpRow)
            .where(FollowUpRow.incident == n, FollowUpRow.state.in_(_OPEN_FOLLOW_UP))
            .scalar_subquery()
            .label("waiting"),
            select(RoomAddressRow.platform)
            .where(RoomAddressRow.room_id == IncidentRow.room_id)
            .scalar_subquery()
            .label("platform"),
            select(RoomAddressRow.data)
            .where(RoomAddressRow.room_id == IncidentRow.room_id)
            .scalar_subquery()
            .label("address"),
            select(events).where(*impact).scalar_subquery().label("impact"),
        ]

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

    async def visible_follow_ups(self, visible: Visible, *, vendor: str | None = None) -> list[FollowUp]:
        """Every follow-up of the ``visible`` incidents, open or closed (of ``vendor`` alone, any case), by incident
        and number: what the scorecard and a vendor's page read."""
        query = select(FollowUpRow).order_by(FollowUpRow.incident, FollowUpRow.number)
        condition = visible.condition()
        if condition is not None:
            query = query.join(IncidentRow, IncidentRow.number == FollowUpRow.incident).where(condition)
        if vendor is not None:
            query = query.where(func.lower(FollowUpRow.vendor) == vendor.lower())
        return [_follow_up(r) for r in (await self.session.execute(query)).scalars()]

    # --- the overview's lists: a page of each and how many in all, counted in the database -------------------

    async def overdue_follow_ups(
        self, *, now: datetime, limit: int, visible: Visible = EVERY_INCIDENT
    ) -> tuple[list[FollowUp], int]:
        """The first ``limit`` follow-ups of incidents not closed (and ``visible``) that are still waited for and past
        due (the longest overdue first), and how many there are in all."""
        where = _seen([_not_closed(), FollowUpRow.state.in_(_OPEN_FOLLOW_UP), FollowUpRow.due < now], visible)
        joined = select(FollowUpRow).join(IncidentRow, IncidentRow.number == FollowUpRow.incident).where(*where)
        found = await self._page_of(joined, (FollowUpRow.due, FollowUpRow.incident, FollowUpRow.number), limit)
        return [_follow_up(r) for r in found[0]], found[1]

    async def commitments_at_risk(
        self, *, now: datetime, limit: int, visible: Visible = EVERY_INCIDENT
    ) -> tuple[list[Commitment], int]:
        """The first ``limit`` commitments of incidents not closed (and ``visible``) that are at risk or open past
        their due (the earliest due first), and how many there are in all."""
        risky = or_(
            CommitmentRow.state == CommitmentState.AT_RISK.value,
            and_(CommitmentRow.state.in_(_OPEN_COMMITMENT), CommitmentRow.due < now),
        )
        joined = (
            select(CommitmentRow)
            .join(IncidentRow, IncidentRow.number == CommitmentRow.incident)
            .where(*_seen([_not_closed(), risky], visible))
        )
        found = await self._page_of(joined, (CommitmentRow.due, CommitmentRow.incident, CommitmentRow.number), limit)
        return [_commitment(r) for r in found[0]], found[1]

    async def untold_bad_news(self, *, limit: int, visible: Visible = EVERY_INCIDENT) -> tuple[list[BadNews], int]:
        """The first ``limit`` pieces of bad news not yet told in incidents not closed (and ``visible``; the oldest
        first, their lines in each incident's zone of now), and how many there are in all."""
        untold = [_not_closed(), BadNewsRow.answered_at.is_(None), BadNewsRow.moot_at.is_(None)]
        joined = select(BadNewsRow).join(IncidentRow, IncidentRow.number == BadNewsRow.incident)
        joined = joined.where(*_seen(untold, visible))
        rows, total = await self._page_of(joined, (BadNewsRow.at, BadNewsRow.incident, BadNewsRow.number), limit)
        found = [bad_news_value(r) for r in rows]
        shown = await in_zones_of_now(self.session, sorted({b.incident for b in found}))
        return [replace(b, what=shown[b.incident](b.what)) for b in found], total

    async def _page_of(self, query: Select[Any], order: Sequence[Any], limit: int) -> tuple[list[Any], int]:
        """The first ``limit`` rows ``query`` finds in ``order``, and how many it finds in all: one statement, the
        count a subquery the database runs once."""
        counted = query.with_only_columns(func.count()).correlate(None).scalar_subquery().label("total")
        rows = (await self.session.execute(query.add_columns(counted).order_by(*order).limit(limit))).all()
        return [r[0] for r in rows], int(rows[0].total) if rows else 0

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
