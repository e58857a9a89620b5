"""The read models' shapes: what the API and dashboards show of incidents, as frozen pydantic models.

bot/views.py builds them from the Store; the API's OpenAPI document is generated from them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StateFilter = Literal["open", "mitigated", "resolved", "closed", "active", "all"]
FollowUpFilter = Literal["waiting", "overdue", "escalated", "received", "cancelled", "open"]
CommitmentFilter = Literal["open", "at_risk", "kept", "missed", "overdue"]


class View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IncidentBrief(View):
    """One line of the overview: the incident, its stakes, its update clock and what is waiting."""

    number: int
    ref: str = Field(examples=["INC-1"])
    title: str
    severity: int = Field(ge=1, le=4)
    customer: str | None
    state: str = Field(description="open, mitigated, resolved or closed")
    playbook: str
    opened_at: datetime
    age_seconds: int = Field(description="seconds since it was opened (until it closed, once closed)")
    cost_per_hour: Decimal | None
    cost_so_far: Decimal | None = Field(description="cost per hour times the time of impact so far")
    revenue_at_risk: Decimal | None
    last_update_at: datetime | None = Field(description="when the customer was last updated")
    next_update_due: datetime | None = Field(description="when the next customer update is due; null once resolved")
    update_overdue: bool
    untold_bad_news: int
    open_follow_ups: int
    chat_link: str | None = Field(description="the war room in Slack or Teams, where known")


class IncidentPage(View):
    items: list[IncidentBrief]
    total: int
    limit: int
    offset: int


class Rung(View):
    name: str
    role: str
    contact: str


class FollowUpView(View):
    incident: int
    ref: str = Field(examples=["V1"])
    kind: str = Field(description="vendor, team or rca (the root cause)")
    vendor: str
    ask: str
    reference: str | None
    owner: str
    state: str = Field(description="waiting, overdue, escalated, received or cancelled")
    asked_at: datetime
    due: datetime = Field(description="the latest due time: the vendor's last ETA")
    first_due: datetime = Field(description="the due time it was asked with, kept however often the date moved")
    slips: int = Field(description="later ETAs the vendor gave once the first due time had passed")
    overdue: bool = Field(description="still open and past due")
    days_late: int
    chases: int
    escalations: int
    rung: int = Field(description="the rung of the ladder reached, from 1")
    ladder: list[Rung]
    heard_at: datetime | None
    answer_seconds: int | None = Field(
        default=None,
        description="how long the vendor took to answer: from when it was asked (its first email, when that came "
        "before the answer) to the first word heard back; the scorecard's time to answer averages these",
    )
    received_at: datetime | None
    plan_b: str | None


class CommitmentView(View):
    incident: int
    ref: str = Field(examples=["C1"])
    promise: str
    due: datetime
    state: Literal["open", "at_risk", "kept", "missed"]
    overdue: bool
    made_at: datetime
    made_by: str
    at_risk_at: datetime | None
    closed_at: datetime | None
    note: str | None


class UpdateView(View):
    ref: str = Field(examples=["U1"])
    text: str
    author: str
    at: datetime
    next_due: datetime | None


class BadNewsView(View):
    incident: int
    ref: str = Field(examples=["B1"])
    trigger: str
    what: str = Field(description="as the war room says it")
    tell: str = Field(description="as the customer may hear it")
    raised_at: datetime
    told_at: datetime | None
    told_in: str | None = Field(description="the update that told it, e.g. U2")
    age_seconds: int = Field(description="seconds since it was raised (until it was told)")
    repeats: int
    moot_at: datetime | None = Field(
        default=None, description="when it became moot: the promise it was about was kept before it was told"
    )


class Push(View):
    at: datetime
    onto: str
    what: str
    by: str


class RootCauseView(View):
    ref: str
    owner: str = Field(description="the vendor that owes it, or us")
    asked_at: datetime
    due: datetime
    first_due: datetime = Field(description="the due time it was asked with")
    slips: int = Field(description="later dates given once the first due time had passed")
    heard_at: datetime | None
    answer_seconds: int | None = Field(default=None, description="from when it was asked to the first word heard back")
    delivered_at: datetime | None
    state: str
    chases: int
    pushed: list[Push]


class RoleView(View):
    role: str
    person: str


class LessonView(View):
    ref: str
    text: str
    author: str
    at: datetime


class ActionView(View):
    ref: str
    text: str
    owner: str | None
    due: datetime | None
    done_at: datetime | None
    state: Literal["open", "done"]


class IncidentDetail(IncidentBrief):
    """Everything about one incident that the war room keeps."""

    impact: str | None
    doing: str | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    unresolved_reason: str | None
    roles: list[RoleView]
    follow_ups: list[FollowUpView]
    commitments: list[CommitmentView]
    updates: list[UpdateView]
    bad_news: list[BadNewsView]
    root_cause: RootCauseView | None
    lessons: list[LessonView]
    actions: list[ActionView]


class TimelineEntry(View):
    at: datetime
    kind: str
    actor: str | None
    text: str


class VendorScoreView(View):
    vendor: str
    asks: int
    received: int
    open: int
    overdue_now: int = Field(description="open follow-ups past due right now")
    never_heard: int
    mean_hear_back_seconds: int | None
    mean_receive_seconds: int | None
    longest_silence_seconds: int | None
    chases: int = Field(description="reminders sent because an ask was overdue")
    escalations: int
    slips: int = Field(description="later ETAs given once a follow-up's first due time had passed")
    plan_bs: int
    top_rung: int
    pushes: int


class Scorecard(View):
    vendors: list[VendorScoreView] = Field(description="slowest to answer first")
