"""Every figure Warroom shows about an incident, computed once, here, from the timeline: the summary, the scorecard,
the dashboard, the API and `/metrics` all read them from this module, so that they add up and agree.

- **Impact**: the customer is hurt from opening until mitigation (or resolution where there was none), and again
  from each reopening; a close ends it. The cost of impact is that time at the cost per hour stated for the
  impact, whenever it was typed.
- **Silences**: every stretch the customer heard nothing, each judged against the cadence of the severity (and the
  playbook) in force at each moment of it.
- **Due times**: a follow-up's (or root cause's) first due time is the one it was asked with; its last is the
  latest date the vendor gave.
- **Answer time**: how long a vendor took to answer an ask, from when the vendor was asked (the first email Warroom
  sent it, when that came before the answer; otherwise the ask) to the first word heard back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, Protocol

from bot.domain import EventKind, Incident, TimelineEvent

_MICROSECONDS_PER_HOUR = Decimal(3_600_000_000)
IMPACT_EVENTS = (EventKind.MITIGATED, EventKind.RESOLVED, EventKind.REOPENED, EventKind.CLOSED)


# --- impact and its cost ---------------------------------------------------------------------------------------


def cost_of_impact(cost_per_hour: Decimal, duration: timedelta) -> Decimal:
    """Cost per hour times the duration, to the unit, for any amount: never Decimal's InvalidOperation."""
    microseconds = Decimal(duration // timedelta(microseconds=1))
    # The default context (28 digits) cannot quantize 10^29 an hour times a duration: size the context to the
    # product, with room to spare for the fraction that rounding reads.
    context = Context(prec=max(28, cost_per_hour.adjusted() + microseconds.adjusted() + 20), rounding=ROUND_HALF_EVEN)
    cost = context.divide(context.multiply(cost_per_hour, microseconds), _MICROSECONDS_PER_HOUR)
    return cost.quantize(Decimal(1), context=context)


def impact_duration(opened_at: datetime, events: Iterable[TimelineEvent], now: datetime) -> timedelta:
    """How long the customer was hurt: from opening to the first mitigation or resolution, again from each reopening
    to the next; a close ends it, and an impact still running runs to ``now``. Events other than mitigation,
    resolution, reopening and close are ignored, so the whole timeline may be given."""
    total = timedelta(0)
    since: datetime | None = opened_at
    for e in sorted((e for e in events if e.kind in IMPACT_EVENTS), key=lambda e: e.at):
        if e.kind is EventKind.REOPENED:
            since = since or e.at
        elif since is not None:
            total += max(timedelta(0), e.at - since)
            since = None
    if since is not None:
        total += max(timedelta(0), now - since)
    return total


def impact_cost(incident: Incident, events: Iterable[TimelineEvent], now: datetime) -> Decimal | None:
    """The cost of impact so far (or in all, once it ended), or None when no cost per hour was stated."""
    if not incident.cost_per_hour:
        return None
    return cost_of_impact(incident.cost_per_hour, impact_duration(incident.opened_at, events, now))


# --- silences against the cadence in force ------------------------------------------------------------------------


def severity_at(timeline: Sequence[TimelineEvent], at: datetime, default: int) -> int:
    """The severity in force at ``at``, as the timeline tells it."""
    severity = default
    for e in timeline:
        if e.at > at:
            break
        if e.kind is EventKind.OPENED and "severity" in e.data:
            severity = int(e.data["severity"])
        elif e.kind is EventKind.SEVERITY and "to" in e.data:
            severity = int(e.data["to"])
    return severity


def switched_playbook(e: TimelineEvent) -> bool:
    return e.kind is EventKind.CHANGED and "cadence_before" in e.data


def cadence_at(
    timeline: Sequence[TimelineEvent], at: datetime, current: Mapping[int, timedelta]
) -> Mapping[int, timedelta]:
    """The cadence of the playbook in force at ``at``: the one the first later `set playbook:` switched away from."""
    for e in timeline:
        if e.at > at and switched_playbook(e):
            return {int(s): timedelta(seconds=float(v)) for s, v in e.data["cadence_before"].items()}
    return current


def _minutes(delta: timedelta | None) -> float | None:
    return round(delta.total_seconds() / 60, 1) if delta is not None else None


def silences(
    incident: Incident,
    timeline: Sequence[TimelineEvent],
    said_at: Iterable[datetime],
    cadence: Mapping[int, timedelta],
) -> list[dict[str, Any]]:
    """Every stretch the customer heard nothing, from opening to resolution (or close), as JSON-ready data.

    ``said_at`` is when each customer update was sent. A gap is cut where the severity or the playbook changed;
    each stretch is judged against the cadence in force during it: the silence so far at the end of the stretch
    against that cadence. A gap overran by its worst stretch. ``severity`` and ``cadence_minutes`` are those in
    force at the gap's end; ``stretches`` lists each one when there were several."""
    end = incident.resolved_at or incident.closed_at
    points = [incident.opened_at, *(at for at in said_at if end is None or at <= end)]
    if end is not None:
        points.append(end)
    changes = [e.at for e in timeline if e.kind is EventKind.SEVERITY or switched_playbook(e)]
    gaps = []
    for start, stop in zip(points, points[1:], strict=False):
        cuts = [start, *(t for t in changes if start < t < stop), stop]
        stretches: list[dict[str, Any]] = []
        for seg_start, seg_end in zip(cuts, cuts[1:], strict=False):
            severity = severity_at(timeline, seg_start, incident.severity)
            limit = cadence_at(timeline, seg_start, cadence).get(severity)
            over = (seg_end - start) - limit if limit is not None else None  # the silence so far, against its cadence
            stretches.append(
                {
                    "from": seg_start.isoformat(),
                    "to": seg_end.isoformat(),
                    "severity": severity,
                    "cadence_minutes": _minutes(limit),
                    "over_minutes": _minutes(max(over, timedelta(0))) if over is not None else 0.0,
                }
            )
        last = stretches[-1] if stretches else None
        gaps.append(
            {
                "from": start.isoformat(),
                "to": stop.isoformat(),
                "minutes": _minutes(stop - start),
                "severity": last["severity"] if last else severity_at(timeline, start, incident.severity),
                "cadence_minutes": last["cadence_minutes"] if last else None,
                "over_minutes": max((s["over_minutes"] for s in stretches), default=0.0),
                "stretches": stretches if len(stretches) > 1 else [],
            }
        )
    return gaps


def longest_silence(gaps: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    return max(gaps, key=lambda g: g["minutes"], default=None)


# --- due times and answer times -------------------------------------------------------------------------------


class _Asked(Protocol):
    @property
    def incident(self) -> int: ...
    @property
    def number(self) -> int: ...
    @property
    def asked_at(self) -> datetime: ...
    @property
    def heard_at(self) -> datetime | None: ...
    @property
    def first_due(self) -> datetime: ...
    @property
    def due(self) -> datetime: ...


@dataclass(frozen=True)
class DueTimes:
    first: datetime  # the due time it was asked with
    last: datetime  # the latest the vendor gave

    @property
    def moved(self) -> bool:
        return self.first != self.last


def due_times(f: _Asked) -> DueTimes:
    """The first and the last due time of a follow-up or root cause."""
    return DueTimes(f.first_due, f.due)


class _Mail(Protocol):
    @property
    def incident(self) -> int: ...
    @property
    def follow_up(self) -> int | None: ...
    @property
    def sent_at(self) -> datetime | None: ...


def first_emails(mails: Iterable[_Mail]) -> dict[tuple[int, int], datetime]:
    """When Warroom first emailed each follow-up, by (incident, follow-up number)."""
    first: dict[tuple[int, int], datetime] = {}
    for m in mails:
        if m.follow_up is not None and m.sent_at is not None:
            key = (m.incident, m.follow_up)
            if key not in first or m.sent_at < first[key]:
                first[key] = m.sent_at
    return first


def asked_at(f: _Asked, emailed: Mapping[tuple[int, int], datetime] | None = None) -> datetime:
    """When the vendor was asked: the first email Warroom sent it, when that came before the answer; else the ask."""
    sent = (emailed or {}).get((f.incident, f.number))
    return (
        sent if sent is not None and sent >= f.asked_at and (f.heard_at is None or sent <= f.heard_at) else f.asked_at
    )


def answer_time(f: _Asked, emailed: Mapping[tuple[int, int], datetime] | None = None) -> timedelta | None:
    """How long the vendor took to answer: from when it was asked to the first word heard back (None: not yet)."""
    return f.heard_at - asked_at(f, emailed) if f.heard_at is not None else None
