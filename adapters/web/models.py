"""The API's own request and response bodies; the read models themselves come from bot/views.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.views import CommitmentFilter, CommitmentView, FollowUpFilter, FollowUpView, StateFilter, TimelineEntry

MAX_AMOUNT = Decimal(10) ** 12


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IncidentQuery(Strict):
    state: StateFilter | None = Field(None, description="default: every incident not closed (active); all: every one")
    severity: int | None = Field(None, ge=1, le=4)
    customer: str | None = Field(None, max_length=200, description="exact name, any case")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10**9)


class SummaryQuery(Strict):
    format: Literal["markdown", "json"] = "markdown"


class FollowUpQuery(Strict):
    state: FollowUpFilter | None = Field(None, description="overdue: open and past due; open: still waited for")
    vendor: str | None = Field(None, max_length=200, description="exact vendor name, any case")


class CommitmentQuery(Strict):
    state: CommitmentFilter | None = Field(None, description="overdue: open and past due")


class ScorecardQuery(Strict):
    vendor: str | None = Field(None, max_length=200, description="vendors whose name contains this")


class OpenIncident(Strict):
    """What an alert knows: the same fields `/incident open` takes."""

    title: str = Field(min_length=1, max_length=200)
    severity: int | None = Field(None, ge=1, le=4, description="1 (worst) to 4; default: the playbook's")
    customer: str | None = Field(None, min_length=1, max_length=200)
    playbook: str | None = Field(None, min_length=1, max_length=80, description="default: suggested from the title")
    impact: str | None = Field(None, min_length=1, max_length=2000)
    cost_per_hour: Decimal | None = Field(None, gt=0, le=MAX_AMOUNT, decimal_places=2)
    revenue_at_risk: Decimal | None = Field(None, gt=0, le=MAX_AMOUNT, decimal_places=2)
    products: list[str] = Field(default_factory=list, max_length=20)


class RunCommand(Strict):
    text: str = Field(min_length=1, max_length=4000, examples=['vendor northwind "tracking number" due:2h'])


class ReplyMessage(Strict):
    title: str
    text: str = Field(description="the message as plain text")
    tone: str


class CommandReply(Strict):
    ok: bool
    text: str = Field(description="the reply a person typing the command gets, as plain text")
    messages: list[ReplyMessage]


class FollowUpList(Strict):
    items: list[FollowUpView]


class CommitmentList(Strict):
    items: list[CommitmentView]


class Timeline(Strict):
    items: list[TimelineEntry]
