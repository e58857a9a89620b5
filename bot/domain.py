"""The war room's values: incidents, roles, timeline, lessons, action items. Frozen; transitions return new ones."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.errors import Conflict

INCIDENT_REF = re.compile(r"^INC-([0-9]+)$", re.IGNORECASE)
REOPEN_WITHIN = timedelta(days=30)  # after that, a crisis that comes back is a new incident


class IncidentState(StrEnum):
    OPEN = "open"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    CLOSED = "closed"


class EventKind(StrEnum):
    """What can land on an incident's timeline."""

    OPENED = "opened"
    ROOM_OPENED = "room_opened"
    INVITED = "invited"
    INVITE_FAILED = "invite_failed"
    SEVERITY = "severity"
    ROLE = "role"
    NOTE = "note"
    LESSON = "lesson"
    ACTION = "action"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    FOLLOW_UP = "follow_up"
    HEARD = "heard"
    RECEIVED = "received"
    FOLLOW_UP_CANCELLED = "follow_up_cancelled"
    CHASED = "chased"
    OVERDUE = "overdue"  # due while the vendor was closed: overdue now, chased when it opens
    ESCALATED = "escalated"
    PLAN_B = "plan_b"
    SNOOZED = "snoozed"
    UPDATE = "update"
    UPDATE_PROMPTED = "update_prompted"
    COMMITMENT = "commitment"
    COMMITMENT_KEPT = "commitment_kept"
    COMMITMENT_AT_RISK = "commitment_at_risk"
    COMMITMENT_MISSED = "commitment_missed"
    BAD_NEWS = "bad_news"
    CHANGED = "changed"
    EXEC_SPONSOR = "exec_sponsor"
    OUTCOME = "outcome"
    NOTICE = "notice"
    EMAIL_SENT = "email_sent"
    EMAIL_RECEIVED = "email_received"
    ACTION_DUE = "action_due"
    ACTION_DONE = "action_done"
    ROOT_CAUSE = "root_cause"
    PUSHED = "rca_pushed"
    WATCH_ENDED = "watch_ended"
    JOINED = "ticket_joined"
    SHARED = "shared"  # a link to the customer's page made, emailed or revoked
    PAGE_OPENED = "page_opened"  # the customer opened their page, first after an update or bad news
    CUSTOMER_ASKED = "customer_asked"  # a question or correction sent from the customer's page


SEVERITY_MEANING = {
    1: "critical: the customer's business is down",
    2: "major: the customer's business is badly degraded",
    3: "minor: degraded with a workaround",
    4: "low: an irritation",
}


def incident_ref(number: int) -> str:
    """The name people use for an incident, `INC-42`."""
    return f"INC-{number}"


@dataclass(frozen=True)
class Person:
    """Someone in the war room: the platform's id and the name people see."""

    id: str
    name: str


@dataclass(frozen=True)
class Incident:
    """A customer crisis and its war room."""

    number: int
    title: str
    severity: int
    state: IncidentState
    customer: str | None
    impact: str | None
    cost_per_hour: Decimal | None
    revenue_at_risk: Decimal | None
    playbook: str
    timezone: str
    opened_by: Person
    opened_at: datetime
    room_id: str | None = None
    room_name: str | None = None
    room_opened_at: datetime | None = None
    kickoff_message_id: str | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    update_prompts: int = 0
    doing: str | None = None
    outcome: str | None = None
    unresolved_reason: str | None = None
    customer_contacts: tuple[str, ...] = ()  # the customer's email addresses (`set customer-contacts:…`)
    headline: str | None = None  # what the customer calls the problem (`set headline:`); drafts never use the title
    # Invisible outside its war room (`set private:yes`, or a private playbook at open); None: as its playbook says
    # (an incident opened before incidents remembered it)
    private: bool | None = None

    @property
    def ref(self) -> str:
        return incident_ref(self.number)

    @property
    def is_closed(self) -> bool:
        return self.state is IncidentState.CLOSED

    def with_severity(self, severity: int) -> Incident:
        """The incident at a new severity; closed incidents cannot change."""
        self.require_open("change its severity")
        return replace(self, severity=severity)

    def mitigate(self, at: datetime) -> Incident:
        """Impact is contained but not fixed."""
        if self.state is not IncidentState.OPEN:
            raise Conflict(f"{self.ref} is {self.state}; only an open incident can be mitigated")
        return replace(self, state=IncidentState.MITIGATED, mitigated_at=at)

    def resolve(self, at: datetime) -> Incident:
        """Service is restored for the customer."""
        if self.state not in (IncidentState.OPEN, IncidentState.MITIGATED):
            raise Conflict(f"{self.ref} is {self.state}; only an open or mitigated incident can be resolved")
        return replace(self, state=IncidentState.RESOLVED, resolved_at=at)

    def reopen(self, at: datetime) -> Incident:
        """The fix did not hold (or the crisis came back after close, within REOPEN_WITHIN)."""
        if self.is_closed and self.closed_at is not None and at - self.closed_at > REOPEN_WITHIN:
            raise Conflict(
                f"{self.ref} closed {(at - self.closed_at).days} days ago; it can be reopened for "
                f"{REOPEN_WITHIN.days} days after close — open a new incident that names {self.ref}"
            )
        if self.state not in (IncidentState.MITIGATED, IncidentState.RESOLVED, IncidentState.CLOSED):
            raise Conflict(
                f"{self.ref} is {self.state}; only a mitigated or resolved incident (or one closed in the last "
                f"{REOPEN_WITHIN.days} days) can be reopened"
            )
        return replace(
            self,
            state=IncidentState.OPEN,
            resolved_at=None,
            mitigated_at=None,
            closed_at=None,
            unresolved_reason=None,  # the timeline keeps why it closed unresolved
        )

    @property
    def closed_unresolved(self) -> bool:
        return self.is_closed and self.unresolved_reason is not None

    @property
    def state_label(self) -> str:
        """`open`, …, `closed`, or `closed unresolved`."""
        return "closed unresolved" if self.closed_unresolved else self.state.value

    def close(self, at: datetime, *, outcome: str | None = None) -> Incident:
        """The war room is done after the fix held; the lessons-learned summary is written."""
        self.require_open("close it")
        if self.state is not IncidentState.RESOLVED:
            raise Conflict(
                f"{self.ref} is {self.state.value}, not resolved: `resolve` it first, or "
                "`close unresolved <reason>` if the fix will not come"
            )
        return replace(self, state=IncidentState.CLOSED, closed_at=at, outcome=outcome or self.outcome)

    def close_unresolved(self, at: datetime, reason: str, *, outcome: str | None = None) -> Incident:
        """The war room ends without a fix: said so, with why; no time to resolve is claimed."""
        self.require_open("close it")
        if self.state is IncidentState.RESOLVED:
            raise Conflict(f"{self.ref} is resolved; close it with plain `close`")
        return replace(
            self,
            state=IncidentState.CLOSED,
            closed_at=at,
            resolved_at=None,
            unresolved_reason=reason,
            outcome=outcome or self.outcome,
        )

    def with_outcome(self, outcome: str) -> Incident:
        """What the crisis cost or won in the end; taken at any time, closed or not."""
        return replace(self, outcome=outcome)

    def require_open(self, what: str) -> None:
        """Refuse, with a message for the user, anything a closed incident can no longer take."""
        if self.is_closed:
            raise Conflict(f"{self.ref} is closed; you cannot {what}")


@dataclass(frozen=True)
class RoleAssignment:
    role: str
    person: Person


@dataclass(frozen=True)
class ResponderRecord:
    """Someone the playbook (or a person) pulled in, and whether the invite went through."""

    handle: str
    team: str
    reason: str
    person: Person | None
    invited: bool


@dataclass(frozen=True)
class TimelineEvent:
    """Something that happened, in words for people and in ``data`` for the summary's figures."""

    at: datetime
    kind: EventKind
    actor: Person | None
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Lesson:
    number: int
    text: str
    author: Person
    at: datetime

    @property
    def ref(self) -> str:
        return f"L{self.number}"


@dataclass(frozen=True)
class ActionItem:
    number: int
    text: str
    owner: Person | None
    due: datetime | None
    author: Person
    at: datetime
    done_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"A{self.number}"

    @property
    def is_open(self) -> bool:
        return self.done_at is None

    def done(self, at: datetime) -> ActionItem:
        if not self.is_open:
            raise Conflict(f"{self.ref} is already done")
        return replace(self, done_at=at)
