"""Vendor follow-ups: what we wait for from a third party, and how it moves up the vendor's ladder."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain import Person
from bot.errors import Conflict
from bot.playbooks import DEFAULT_REACH_TOP, LadderRung
from bot.when import BusinessHours, Every, WorkingTime

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FollowUpState(StrEnum):
    WAITING = "waiting"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    RECEIVED = "received"
    CANCELLED = "cancelled"


AFTER_PLAN_B = timedelta(weeks=1)
OPEN_STATES = (FollowUpState.WAITING, FollowUpState.OVERDUE, FollowUpState.ESCALATED)
VENDOR, TEAM, ROOT_CAUSE = "vendor", "team", "rca"  # what a follow-up waits for: a third party, our team, the RCA
US = "us"  # who owns a root cause when it is our own side
# What every incident waiting on one vendor ticket sees alike: the chase's state, copied to each of them.
SHARED_FIELDS = (
    "state", "chases", "unanswered", "rung", "escalations", "heard_at", "last_heard_at", "received_at",
    "plan_b_at", "due", "original_due", "slips", "climbed_at", "ladder",
)  # fmt: skip


@dataclass(frozen=True)
class Push:
    """What a root cause's owner tried to hand to someone else: to us, or to the customer."""

    at: datetime
    what: str
    onto: str  # "us" | "customer"
    by: str  # who recorded it


@dataclass(frozen=True)
class FollowUp:
    """A dated ask of a vendor, with an owner, a ladder to climb and a Plan B when the ladder runs out."""

    incident: int
    number: int
    vendor: str
    known_vendor: bool
    ask: str
    reference: str | None
    owner: Person
    due: datetime
    asked_at: datetime
    ladder: tuple[LadderRung, ...]
    plan_b: str | None
    timezone: str
    business_hours: BusinessHours | None
    remind_every: timedelta
    escalate_after: int
    state: FollowUpState = FollowUpState.WAITING
    chases: int = 0
    unanswered: int = 0
    rung: int = 0
    escalations: int = 0
    heard_at: datetime | None = None
    last_heard_at: datetime | None = None
    received_at: datetime | None = None
    closed_note: str | None = None
    closed_at: datetime | None = None
    plan_b_at: datetime | None = None
    customer_name: str | None = None
    kind: str = VENDOR
    every_business_days: int = 0  # chased every N business days instead of every ``remind_every``
    lead: tuple[int, int] | None = None  # (incident, number) of the follow-up whose chase this one shares
    pushes: tuple[Push, ...] = ()
    customer_text: str | None = None  # `customer:"…"`: what the customer hears of it, instead of a neutral phrase
    original_due: datetime | None = None  # the due time it was asked with (None until stored: ``due``)
    slips: int = 0  # later ETAs the vendor gave once that first due time had passed
    climbed_at: datetime | None = None  # when it last climbed a rung
    reach_top: Every = DEFAULT_REACH_TOP  # how long after the first due time the top rung must be reached

    @property
    def first_due(self) -> datetime:
        """The due time it was asked with: kept however often the vendor moves its date."""
        return self.original_due or self.due

    @property
    def ref(self) -> str:
        return f"V{self.number}"

    @property
    def every(self) -> Every:
        return Every(business_days=self.every_business_days) if self.every_business_days else Every(self.remind_every)

    @property
    def is_root_cause(self) -> bool:
        return self.kind == ROOT_CAUSE

    @property
    def waits_on(self) -> str:
        """Who we wait on, as the war room says it: the vendor, or our own team."""
        return f"our team {self.vendor}" if self.kind == TEAM else self.vendor

    def mirror(self, lead: FollowUp) -> FollowUp:
        """This incident's copy of a shared vendor ticket, brought level with the follow-up that chases it."""
        return replace(self, **{name: getattr(lead, name) for name in SHARED_FIELDS})

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def contact(self) -> LadderRung | None:
        """Who we chase now; None once the ladder is exhausted."""
        return self.ladder[self.rung] if self.rung < len(self.ladder) else None

    @property
    def ladder_exhausted(self) -> bool:
        return self.rung >= len(self.ladder) - 1 and self.unanswered >= self.escalate_after

    def _require_open(self, what: str) -> None:
        if not self.is_open:
            raise Conflict(f"{self.ref} is already {self.state}; you cannot {what} — nothing changed")

    def heard(self, at: datetime, new_due: datetime | None) -> FollowUp:
        """The vendor answered: the chase count starts again, and a new due time may be set."""
        self._require_open("record that you heard back")
        return replace(
            self,
            state=FollowUpState.WAITING,
            unanswered=0,
            heard_at=self.heard_at or at,
            last_heard_at=at,
            due=new_due or self.due,
        )

    def received(self, at: datetime, note: str | None) -> FollowUp:
        self._require_open("mark it received")
        return replace(
            self,
            state=FollowUpState.RECEIVED,
            received_at=at,
            heard_at=self.heard_at or at,
            closed_note=note,
            closed_at=at,
        )

    def cancelled(self, at: datetime, note: str) -> FollowUp:
        self._require_open("cancel it")
        return replace(self, state=FollowUpState.CANCELLED, closed_note=note, closed_at=at)

    def slipped_to(self, new_due: datetime | None, at: datetime) -> bool:
        """Whether a new ETA given ``at`` is a slip: later than the current one, once the first due time passed."""
        return new_due is not None and new_due > self.due and at > self.first_due

    def went_overdue(self) -> FollowUp:
        """Its due time passed with nothing received (the chase itself may wait for the vendor's hours)."""
        return replace(self, state=FollowUpState.OVERDUE) if self.state is FollowUpState.WAITING else self

    def chased(self) -> FollowUp:
        """One more unanswered reminder."""
        state = FollowUpState.OVERDUE if self.state is FollowUpState.WAITING else self.state
        return replace(self, state=state, chases=self.chases + 1, unanswered=self.unanswered + 1)

    def escalated(self, at: datetime) -> FollowUp:
        """Climb one rung (it may run off the top: then Plan B is due)."""
        self._require_open("escalate it")
        return replace(
            self,
            state=FollowUpState.ESCALATED,
            rung=self.rung + 1,
            unanswered=0,
            escalations=self.escalations + 1,
            climbed_at=at,
        )

    def with_plan_b(self, at: datetime) -> FollowUp:
        return replace(self, plan_b_at=at)

    @property
    def working_time(self) -> WorkingTime:
        """The time its ladder's deadline is counted in: the vendor's business hours, else whole weekdays."""
        return WorkingTime.of(self.business_hours, ZoneInfo(self.timezone))

    def top_by(self) -> datetime:
        """When the ladder must have reached its top rung: ``reach_top`` of working time after the first due time."""
        clock = self.working_time
        return clock.add(self.first_due, clock.amount(self.reach_top))

    def climb_by(self) -> datetime | None:
        """When it must climb its next rung to reach the top in time: the rungs left share the time left, from the
        last climb (or the first due time). None at the top, or once Plan B is posted."""
        left = len(self.ladder) - 1 - self.rung
        if left <= 0 or self.plan_b_at is not None:
            return None
        clock = self.working_time
        since = max(self.first_due, self.climbed_at or self.first_due)
        return clock.add(since, clock.between(since, self.top_by()) / left)

    def must_climb(self, now: datetime) -> bool:
        """Out of time on its rung: it climbs now, however few chases went unanswered — once the vendor was chased
        for being late (a follow-up that just went overdue, or heard back, is chased first)."""
        at = self.climb_by()
        chased = self.state is FollowUpState.ESCALATED or (self.state is FollowUpState.OVERDUE and self.unanswered > 0)
        return at is not None and at <= now and chased

    def next_reminder(self, after: datetime) -> datetime:
        """The next chase: ``remind_every`` after ``after`` (a week once Plan B is posted: the ask stays visible
        until someone cancels it, without flooding the room), moved into the vendor's business hours — or sooner,
        when the ladder must climb before then to reach its top in time."""
        if self.plan_b_at:
            at = after + max(self.every.approximate, AFTER_PLAN_B)
        else:
            days = self.business_hours.days if self.business_hours else frozenset({0, 1, 2, 3, 4})
            at = self.every.after(after, ZoneInfo(self.timezone), days)
        at = self.business_hours.next_open(at) if self.business_hours else at
        climb = self.climb_by()
        return climb if climb is not None and after < climb < at else at

    def first_reminder(self) -> datetime:
        """The due time itself: it goes overdue then, even when the vendor's chase must wait for its hours."""
        return self.due


def root_cause(follow_ups: list[FollowUp]) -> FollowUp | None:
    """The incident's root cause R: the follow-up that tracks it (a cancelled one no longer does)."""
    owned = [f for f in follow_ups if f.is_root_cause and f.state is not FollowUpState.CANCELLED]
    return owned[-1] if owned else None


def earlier_root_causes(follow_ups: list[FollowUp]) -> list[FollowUp]:
    """Who owned the root cause before its current owner (`rca owner` moved it, or the ask was cancelled)."""
    current = root_cause(follow_ups)
    return [f for f in follow_ups if f.is_root_cause and f is not current and f.state is FollowUpState.CANCELLED]


def pushed_onto(push: Push) -> str:
    return "the customer" if push.onto == "customer" else "us"


def hours_to_json(hours: BusinessHours | None) -> dict[str, Any] | None:
    if hours is None:
        return None
    return {
        "tz": str(hours.tz),
        "days": sorted(hours.days),
        "start": hours.start.isoformat(),
        "end": hours.end.isoformat(),
    }


def hours_from_json(data: dict[str, Any] | None) -> BusinessHours | None:
    if not data:
        return None
    return BusinessHours(
        ZoneInfo(data["tz"]),
        frozenset(data["days"]),
        time.fromisoformat(data["start"]),
        time.fromisoformat(data["end"]),
    )


def routes(ladder: tuple[LadderRung, ...], vendor: str) -> set[str]:
    """The organisations a ladder reaches, by email domain; phone numbers and names are the vendor's own."""
    domains = {r.contact.rsplit("@", 1)[1].lower() for r in ladder if EMAIL.match(r.contact.strip())}
    return domains or {vendor}
