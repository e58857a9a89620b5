"""The customer side: commitments we made, updates we sent, and bad news waiting to be told."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.domain import Person
from bot.errors import Conflict


class CommitmentState(StrEnum):
    OPEN = "open"
    AT_RISK = "at_risk"
    KEPT = "kept"
    MISSED = "missed"


class Trigger(StrEnum):
    """What makes news bad enough to tell the customer now."""

    COMMITMENT_AT_RISK = "commitment_at_risk"
    COMMITMENT_MISSED = "commitment_missed"
    VENDOR_ESCALATED = "vendor_escalated"
    VENDOR_PLAN_B = "vendor_plan_b"
    ETA_SLIPPED = "eta_slipped"
    SEVERITY_RAISED = "severity_raised"
    REOPENED = "reopened"


@dataclass(frozen=True)
class Commitment:
    """Something we promised the customer, by a time."""

    incident: int
    number: int
    promise: str
    due: datetime
    author: Person
    made_at: datetime
    state: CommitmentState = CommitmentState.OPEN
    at_risk_at: datetime | None = None
    closed_at: datetime | None = None
    note: str | None = None
    needs: tuple[int, ...] = ()  # the follow-ups (V<n>) this promise depends on

    @property
    def ref(self) -> str:
        return f"C{self.number}"

    @property
    def is_open(self) -> bool:
        return self.state in (CommitmentState.OPEN, CommitmentState.AT_RISK)

    def _require_open(self, what: str) -> None:
        if not self.is_open:
            raise Conflict(
                f"{self.ref} is already {self.state.value.replace('_', ' ')}; you cannot {what} — nothing changed"
            )

    def at_risk(self, at: datetime) -> Commitment:
        self._require_open("put it at risk")
        return replace(self, state=CommitmentState.AT_RISK, at_risk_at=at)

    def kept(self, at: datetime, note: str | None = None) -> Commitment:
        self._require_open("mark it kept")
        return replace(self, state=CommitmentState.KEPT, closed_at=at, note=note)

    def missed(self, at: datetime, note: str | None = None) -> Commitment:
        self._require_open("mark it missed")
        return replace(self, state=CommitmentState.MISSED, closed_at=at, note=note)


@dataclass(frozen=True)
class CustomerUpdate:
    """A record that the customer was told something."""

    incident: int
    number: int
    text: str
    author: Person
    at: datetime
    next_due: datetime | None
    exact: bool = False  # the text is exactly what the customer got (the bot sent it, or it was sent as drafted)

    @property
    def ref(self) -> str:
        return f"U{self.number}"


@dataclass(frozen=True)
class BadNews:
    """A slip the customer must hear about, `B<n>`: untold until an update says it told it."""

    incident: int
    number: int
    trigger: Trigger
    what: str  # as the war room says it
    tell: str  # as the customer may hear it (no internal names or notes)
    at: datetime
    draft: str = ""
    repeats: int = 0
    answered_at: datetime | None = None
    update_number: int | None = None
    commitment: int | None = None  # the C<n> it is about, if any
    follow_up: int | None = None  # the V<n> it is about, if any
    moot_at: datetime | None = None  # a promise kept before this was told: there is nothing left to tell

    @property
    def ref(self) -> str:
        return f"B{self.number}"

    @property
    def told(self) -> bool:
        return self.answered_at is not None

    @property
    def pending(self) -> bool:
        """Still to be told: neither told nor made moot."""
        return self.answered_at is None and self.moot_at is None
