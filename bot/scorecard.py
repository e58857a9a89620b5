"""The vendor scorecard: across incidents, who answers, who delivers, who needs chasing up the ladder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean

from bot.chat import Bullets, Message, Section
from bot.figures import answer_time, asked_at
from bot.followups import TEAM, FollowUp
from bot.when import format_duration
from bot.words import count, times


@dataclass(frozen=True)
class VendorScore:
    vendor: str
    asks: int
    received: int
    open: int
    never_heard: int
    longest_silence: timedelta | None
    mean_hear_back: timedelta | None
    mean_receive: timedelta | None
    chases: int
    escalations: int
    plan_bs: int
    top_rung: int
    pushes: int = 0  # times its root-cause analysis was pushed onto us or the customer
    slips: int = 0  # later ETAs it gave once a follow-up's first due time had passed

    @property
    def rank_key(self) -> tuple[float, int, int]:
        """Worst first: slowest to answer (a silence counts as long as it lasted), most chased, most escalated."""
        waits = [w.total_seconds() for w in (self.mean_hear_back, self.longest_silence) if w is not None]
        return (-max(waits, default=0.0), -self.chases, -self.escalations)


def vendor_scores(
    follow_ups: Iterable[FollowUp], *, now: datetime, emailed: Mapping[tuple[int, int], datetime] | None = None
) -> list[VendorScore]:
    """Score each vendor; a follow-up never heard back is a silence from asked until now or until it closed.

    Asks of our own teams and root causes we own are not a vendor's; a vendor ticket several incidents waited on
    counts once (its copies are left out: see `tickets`), but every push of a root-cause analysis counts. Only the
    follow-ups given count: a reader who may not see an incident is given none of its follow-ups. ``emailed`` is when
    Warroom first emailed a follow-up: the vendor's answer time (bot.figures.answer_time) runs from that email."""
    emailed = emailed or {}

    by_vendor: dict[str, list[FollowUp]] = {}
    pushes: dict[str, int] = {}
    given = list(follow_ups)
    for f in given:
        if f.kind == TEAM or f.vendor == "us":
            continue
        pushes[f.vendor] = pushes.get(f.vendor, 0) + len(f.pushes)
    for f in tickets(given):
        if f.kind != TEAM and f.vendor != "us":
            by_vendor.setdefault(f.vendor, []).append(f)
    scores = []
    for vendor, fs in by_vendor.items():
        waits = [w for f in fs if (w := answer_time(f, emailed)) is not None]
        silences = [(f.closed_at or now) - asked_at(f, emailed) for f in fs if f.heard_at is None]
        receipts = [f.received_at - f.asked_at for f in fs if f.received_at]
        scores.append(
            VendorScore(
                vendor=vendor,
                asks=len(fs),
                received=len(receipts),
                open=sum(f.is_open for f in fs),
                never_heard=len(silences),
                longest_silence=max(silences, default=None),
                mean_hear_back=_mean(waits),
                mean_receive=_mean(receipts),
                chases=sum(f.chases for f in fs),
                escalations=sum(f.escalations for f in fs),
                plan_bs=sum(f.plan_b_at is not None for f in fs),
                top_rung=max(min(f.rung, len(f.ladder) - 1) for f in fs) + 1,
                pushes=pushes.get(vendor, 0),
                slips=sum(f.slips for f in fs),
            )
        )
    return sorted(scores, key=lambda s: (s.rank_key, s.vendor))


def tickets(follow_ups: Iterable[FollowUp]) -> list[FollowUp]:
    """Each ticket once: the follow-ups that lead their chase, and for a lead that is not among ``follow_ups`` (its
    incident is private to a room the reader is not in) its first copy in their place, as the ticket would stand had
    that incident never existed."""
    given = list(follow_ups)
    present = {(f.incident, f.number) for f in given}
    standing_in: set[tuple[int, int]] = set()
    found = []
    for f in given:
        if f.lead is None:
            found.append(f)
        elif f.lead not in present and f.lead not in standing_in:
            standing_in.add(f.lead)
            found.append(f)
    return found


def _mean(values: list[timedelta]) -> timedelta | None:
    return timedelta(seconds=mean(v.total_seconds() for v in values)) if values else None


def _d(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else "—"


def scorecard_message(scores: list[VendorScore]) -> Message:
    if not scores:
        return Message("No vendor follow-ups yet.", (Section.of("The scorecard fills as `vendor` asks are made."),))
    lines = tuple(
        f"{i}. {s.vendor}: hears back in {_d(s.mean_hear_back)}, delivers in {_d(s.mean_receive)}; "
        f"{count(s.asks, 'ask')}, {s.received} received, {s.open} open, {count(s.chases, 'chase')}, "
        f"{count(s.escalations, 'escalation')}, "
        f"rung {s.top_rung} reached"
        + (f", slipped its date {times(s.slips)}" if s.slips else "")
        + (f", Plan B {times(s.plan_bs)}" if s.plan_bs else "")
        + (f", pushed its root-cause analysis onto others {times(s.pushes)}" if s.pushes else "")
        + (
            f", never answered {times(s.never_heard)} (longest silence {_d(s.longest_silence)})"
            if s.never_heard
            else ""
        )
        for i, s in enumerate(scores, 1)
    )
    return Message("Vendor scorecard, slowest to answer first", (Bullets(lines),))
