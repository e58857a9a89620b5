"""Storage of vendor follow-ups and reminders; mixed into Store, inside the caller's transaction."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from bot.errors import NotFound
from bot.followups import OPEN_STATES, FollowUp, FollowUpState, Push, hours_from_json, hours_to_json
from bot.playbooks import LadderRung
from bot.store.base import StoreBase
from bot.store.tables import CommitmentRow, FollowUpRow, IncidentRow, ReminderRow, WebhookSubscriptionRow
from bot.when import Every

PENDING, DONE, CANCELLED = "pending", "done", "cancelled"
FOLLOW_UP = "follow_up"  # the kind of reminder that chases a follow-up


def _follow_up(row: FollowUpRow) -> FollowUp:
    from bot.domain import Person

    return FollowUp(
        incident=row.incident,
        number=row.number,
        vendor=row.vendor,
        known_vendor=row.known_vendor,
        ask=row.ask,
        reference=row.reference,
        owner=Person(row.owner_id, row.owner_name),
        due=row.due,
        asked_at=row.asked_at,
        ladder=tuple(LadderRung(**r) for r in json.loads(row.ladder)),
        plan_b=row.plan_b,
        timezone=row.timezone,
        business_hours=hours_from_json(json.loads(row.business_hours) if row.business_hours else None),
        remind_every=timedelta(seconds=row.remind_every_seconds),
        escalate_after=row.escalate_after,
        state=FollowUpState(row.state),
        chases=row.chases,
        unanswered=row.unanswered,
        rung=row.rung,
        escalations=row.escalations,
        heard_at=row.heard_at,
        last_heard_at=row.last_heard_at,
        received_at=row.received_at,
        closed_note=row.closed_note,
        closed_at=row.closed_at,
        plan_b_at=row.plan_b_at,
        customer_name=row.customer_name,
        customer_text=row.customer_text,
        kind=row.kind,
        every_business_days=row.every_business_days,
        lead=(row.lead_incident, row.lead_number) if row.lead_incident and row.lead_number else None,
        pushes=tuple(
            Push(datetime.fromisoformat(p["at"]), p["what"], p["onto"], p["by"]) for p in json.loads(row.pushes or "[]")
        ),
        original_due=row.first_due,
        slips=row.slips,
        climbed_at=row.climbed_at,
        reach_top=Every(business_days=row.reach_top_business_days)
        if row.reach_top_business_days
        else Every(timedelta(seconds=row.reach_top_seconds)),
    )


def _fill(row: FollowUpRow, f: FollowUp) -> None:
    row.vendor, row.known_vendor, row.ask, row.reference = f.vendor, f.known_vendor, f.ask, f.reference
    row.owner_id, row.owner_name, row.due, row.asked_at = f.owner.id, f.owner.name, f.due, f.asked_at
    row.ladder = json.dumps(
        [
            {"name": r.name, "role": r.role, "contact": r.contact, "person_id": r.person_id, "holds": r.holds}
            for r in f.ladder
        ]
    )
    row.plan_b, row.timezone = f.plan_b, f.timezone
    hours = hours_to_json(f.business_hours)
    row.business_hours = json.dumps(hours) if hours else None
    row.remind_every_seconds = int(f.remind_every.total_seconds())
    row.escalate_after, row.state, row.chases, row.unanswered = f.escalate_after, f.state.value, f.chases, f.unanswered
    row.rung, row.escalations, row.heard_at, row.last_heard_at = f.rung, f.escalations, f.heard_at, f.last_heard_at
    row.received_at, row.closed_note, row.plan_b_at = f.received_at, f.closed_note, f.plan_b_at
    row.closed_at, row.customer_name, row.customer_text = f.closed_at, f.customer_name, f.customer_text
    row.kind, row.every_business_days = f.kind, f.every_business_days
    row.lead_incident, row.lead_number = f.lead if f.lead else (None, None)
    row.pushes = json.dumps([{"at": p.at.isoformat(), "what": p.what, "onto": p.onto, "by": p.by} for p in f.pushes])
    row.first_due, row.slips, row.climbed_at = f.first_due, f.slips, f.climbed_at
    row.reach_top_seconds = int(f.reach_top.delta.total_seconds())
    row.reach_top_business_days = f.reach_top.business_days


class FollowUpStore(StoreBase):
    """Follow-ups and reminders, mixed into bot.store.Store."""

    async def add_follow_up(self, draft: FollowUp) -> FollowUp:
        """Insert a follow-up, numbering it V<n> within its incident."""
        number = await self.next_number(FollowUpRow, draft.incident)
        row = FollowUpRow(incident=draft.incident, number=number)
        follow_up = replace(draft, number=number, original_due=draft.first_due)
        _fill(row, follow_up)
        self.session.add(row)
        return follow_up

    async def _follow_up_row(self, incident: int, number: int) -> FollowUpRow:
        loaded = self.follow_up_rows.get((incident, number))
        if loaded is not None:
            return loaded
        query = select(FollowUpRow).where(FollowUpRow.incident == incident, FollowUpRow.number == number)
        row = (await self.session.execute(query)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"INC-{incident} has no V{number}; `vendors` lists its follow-ups")
        return row

    async def follow_up(self, incident: int, number: int) -> FollowUp:
        return _follow_up(await self._follow_up_row(incident, number))

    async def save_follow_up(self, follow_up: FollowUp) -> None:
        _fill(await self._follow_up_row(follow_up.incident, follow_up.number), follow_up)

    async def follow_ups(self, incident: int | None = None) -> list[FollowUp]:
        """One incident's follow-ups, or every follow-up there is (for the scorecard)."""
        query = select(FollowUpRow).order_by(FollowUpRow.incident, FollowUpRow.number)
        if incident is not None:
            query = query.where(FollowUpRow.incident == incident)
        return [_follow_up(r) for r in (await self.session.execute(query)).scalars()]

    async def open_ticket(self, vendor: str, reference: str, *, besides: int) -> FollowUp | None:
        """The open follow-up, in another open incident, that chases this vendor ticket itself (not a copy)."""
        query = (
            select(FollowUpRow)
            .join(IncidentRow, IncidentRow.number == FollowUpRow.incident)
            .where(
                func.lower(FollowUpRow.vendor) == vendor.lower(),
                func.lower(FollowUpRow.reference) == reference.strip().lower(),
                FollowUpRow.incident != besides,
                FollowUpRow.lead_incident.is_(None),
                FollowUpRow.state.in_([s.value for s in OPEN_STATES]),
                IncidentRow.state != "closed",
            )
            .order_by(FollowUpRow.asked_at, FollowUpRow.id)
            .limit(1)
        )
        row = (await self.session.execute(query)).scalar_one_or_none()
        return _follow_up(row) if row else None

    async def ticket_copies(self, incident: int, number: int) -> list[FollowUp]:
        """The follow-ups of other incidents that share this one's vendor ticket (it chases for all of them)."""
        loaded = self.copy_rows.get((incident, number))
        if loaded is not None:
            return [_follow_up(r) for r in loaded]
        query = (
            select(FollowUpRow)
            .where(FollowUpRow.lead_incident == incident, FollowUpRow.lead_number == number)
            .order_by(FollowUpRow.incident, FollowUpRow.number)
        )
        return [_follow_up(r) for r in (await self.session.execute(query)).scalars()]

    async def load_for_firing(self, incident: int, subjects: list[int]) -> None:
        """Read, in one query each, the follow-ups a batch of chases on one incident is about and the copies of
        their vendor tickets in other incidents; the chases then find them here instead of reading one at a time.
        The caller holds the incident's row lock, so nothing else moves them meanwhile."""
        await self.load_batch([(incident, n) for n in subjects])

    async def load_batch(self, subjects: list[tuple[int, int]], *, commitments: bool = False) -> None:
        """Read what a claimed batch of chases, over any number of incidents, is about, one query per kind of data:
        the follow-ups, the copies of their vendor tickets in other incidents, the webhook subscriptions, and
        (``commitments``) the promises of those incidents. The caller holds every one of those incidents' row locks."""
        if not subjects:
            return
        wanted = set(subjects)
        incidents = sorted({i for i, _ in wanted})
        numbers = sorted({n for _, n in wanted})
        query = select(FollowUpRow).where(FollowUpRow.incident.in_(incidents), FollowUpRow.number.in_(numbers))
        for row in (await self.session.execute(query)).scalars():
            if (row.incident, row.number) in wanted:
                self.follow_up_rows[(row.incident, row.number)] = row
        copies: dict[tuple[int, int], list[FollowUpRow]] = {key: [] for key in wanted}
        query = (
            select(FollowUpRow)
            .where(FollowUpRow.lead_incident.in_(incidents), FollowUpRow.lead_number.in_(numbers))
            .order_by(FollowUpRow.incident, FollowUpRow.number)
        )
        for row in (await self.session.execute(query)).scalars():
            key = (row.lead_incident or 0, row.lead_number or 0)
            if key in copies:
                copies[key].append(row)
        self.copy_rows.update(copies)
        if self.subscription_rows is None:  # the webhooks its timeline events may owe (read here, before any write)
            self.subscription_rows = list((await self.session.execute(select(WebhookSubscriptionRow))).scalars())
        if commitments:
            rows: dict[int, list[CommitmentRow]] = {i: [] for i in incidents}
            promises = (
                select(CommitmentRow)
                .where(CommitmentRow.incident.in_(incidents))
                .order_by(CommitmentRow.incident, CommitmentRow.number)
            )
            for promise in (await self.session.execute(promises)).scalars():
                rows[promise.incident].append(promise)
            self.commitment_rows.update(rows)

    async def lock_for_firing(self, incidents: list[int]) -> set[int]:
        """Lock the rows of these incidents, in one statement and in number order (so two batches never wait on
        each other in a circle), skipping those a command or another replica holds now; returns those locked. The
        incidents skipped (busy, or deleted) are fired one at a time after, which waits for the lock."""
        if not incidents:
            return set()
        query = (
            select(IncidentRow)
            .where(IncidentRow.number.in_(sorted(incidents)))
            .order_by(IncidentRow.number)
            .with_for_update(skip_locked=True)
        )
        rows = list((await self.session.execute(query)).scalars())
        self.held += rows
        locked = {row.number for row in rows}
        self.locked |= locked
        return locked

    async def start_firing(
        self, ids: list[int], owner: str, now: datetime, *, incidents: list[int] | None = None
    ) -> list[ReminderRow]:
        """Mark this owner's claimed reminders fired, all in one statement; returns those that still were pending
        and leased to it (the rest were moved, cancelled or taken over meanwhile, and are not fired). ``incidents``:
        theirs, when known, named in the statement so the commit can tell what changed without reading it back."""
        query = (
            update(ReminderRow)
            .where(
                *([ReminderRow.incident.in_(incidents)] if incidents is not None else []),
                ReminderRow.id.in_(ids),
                ReminderRow.state == PENDING,
                ReminderRow.lease_owner == owner,
            )
            .values(state=DONE, fired_at=now)
            .returning(ReminderRow)
            .execution_options(synchronize_session=False)
        )
        rows = list((await self.session.execute(query)).scalars())
        # A subject had one pending reminder (a unique index) and it has just fired: none is pending now.
        self.none_pending.update((r.incident, r.kind, r.subject) for r in rows)
        return sorted(rows, key=lambda r: (r.due_at, r.id))

    # reminders ------------------------------------------------------------------------------------

    async def schedule(self, incident: int, kind: str, subject: int, at: datetime, *, now: datetime) -> None:
        """Make the one pending reminder for this subject fire at ``at`` (moving it if it exists)."""
        if (incident, kind, subject) in self.none_pending:  # it has just fired in this transaction
            self.none_pending.discard((incident, kind, subject))
            self.session.add(
                ReminderRow(
                    incident=incident, kind=kind, subject=subject, due_at=at, state=PENDING, attempts=0, created_at=now
                )
            )
            return
        query = select(ReminderRow).where(
            ReminderRow.incident == incident,
            ReminderRow.kind == kind,
            ReminderRow.subject == subject,
            ReminderRow.state == PENDING,
        )
        row = (await self.session.execute(query)).scalar_one_or_none()
        if row is None:
            self.session.add(
                ReminderRow(
                    incident=incident, kind=kind, subject=subject, due_at=at, state=PENDING, attempts=0, created_at=now
                )
            )
        else:
            row.due_at, row.lease_owner, row.lease_until = at, None, None

    async def cancel_reminders(self, incident: int, kind: str | None = None, subject: int | None = None) -> int:
        """Stop pending reminders: all of an incident's, or one kind's, or one subject's."""
        query = update(ReminderRow).where(ReminderRow.incident == incident, ReminderRow.state == PENDING)
        if kind is not None:
            query = query.where(ReminderRow.kind == kind)
        if subject is not None:
            query = query.where(ReminderRow.subject == subject)
        result = await self.session.execute(query.values(state=CANCELLED))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def stopped_at(self, incident: int, kind: str, subject: int) -> datetime | None:
        """When this subject's reminder was to fire, if its latest reminder was cancelled (by close) rather than
        fired; None when it fired, or never was."""
        query = (
            select(ReminderRow)
            .where(ReminderRow.incident == incident, ReminderRow.kind == kind, ReminderRow.subject == subject)
            .order_by(ReminderRow.id.desc())
            .limit(1)
        )
        row = (await self.session.execute(query)).scalar_one_or_none()
        return row.due_at if row is not None and row.state == CANCELLED else None

    async def pending_reminder(self, incident: int, kind: str, subject: int) -> ReminderRow | None:
        query = select(ReminderRow).where(
            ReminderRow.incident == incident,
            ReminderRow.kind == kind,
            ReminderRow.subject == subject,
            ReminderRow.state == PENDING,
        )
        return (await self.session.execute(query)).scalar_one_or_none()
