"""Each figure of bot/figures.py on its own: impact and its cost, silences against the cadence in force, due
times, the vendor answer time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot import figures
from bot.domain import EventKind, Incident, IncidentState, Person, TimelineEvent

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
H = timedelta(hours=1)
CADENCE = {1: H, 2: 4 * H, 3: 24 * H}


def event(hours: float, kind: EventKind, **data: object) -> TimelineEvent:
    return TimelineEvent(T0 + timedelta(hours=hours), kind, None, kind.value, data)


def incident(**changes: object) -> Incident:
    base = Incident(
        number=1,
        title="Registers frozen",
        severity=1,
        state=IncidentState.OPEN,
        customer="Globex",
        impact=None,
        cost_per_hour=Decimal(45_000),
        revenue_at_risk=None,
        playbook="default",
        timezone="UTC",
        opened_by=Person("dana", "dana"),
        opened_at=T0,
    )
    return base.__class__(**{**base.__dict__, **changes})


# --- impact --------------------------------------------------------------------------------------------------------


def test_impact_runs_from_opening_to_mitigation_not_to_resolution() -> None:
    events = [event(7, EventKind.MITIGATED), event(26, EventKind.RESOLVED), event(26.5, EventKind.CLOSED)]
    assert figures.impact_duration(T0, events, T0 + 30 * H) == 7 * H


def test_impact_without_mitigation_runs_to_resolution() -> None:
    assert figures.impact_duration(T0, [event(5, EventKind.RESOLVED)], T0 + 30 * H) == 5 * H


def test_impact_still_running_runs_to_now_and_a_close_ends_it() -> None:
    assert figures.impact_duration(T0, [], T0 + 3 * H) == 3 * H
    assert figures.impact_duration(T0, [event(4, EventKind.CLOSED)], T0 + 9 * H) == 4 * H


def test_a_reopening_brings_the_impact_back_until_the_next_mitigation() -> None:
    events = [
        event(2, EventKind.MITIGATED),
        event(3, EventKind.RESOLVED),
        event(5, EventKind.REOPENED),
        event(6, EventKind.MITIGATED),
        event(7, EventKind.RESOLVED),
    ]
    assert figures.impact_duration(T0, events, T0 + 30 * H) == 3 * H


def test_other_events_do_not_touch_the_impact() -> None:
    events = [event(1, EventKind.SEVERITY, to=3), event(2, EventKind.NOTE), event(4, EventKind.MITIGATED)]
    assert figures.impact_duration(T0, events, T0 + 30 * H) == 4 * H


def test_cost_of_impact_is_the_stated_cost_per_hour_over_the_impact_whenever_it_was_typed() -> None:
    # `cost 45k/h` typed at 11:30 describes the impact since 08:30: 7h at $45,000, not 4h
    events = [event(7, EventKind.MITIGATED), event(26, EventKind.RESOLVED)]
    assert figures.impact_cost(incident(), events, T0 + 30 * H) == Decimal(315_000)
    assert figures.impact_cost(incident(cost_per_hour=None), events, T0 + 30 * H) is None


def test_cost_of_impact_rounds_to_the_unit() -> None:
    assert figures.cost_of_impact(Decimal(1000), timedelta(minutes=1)) == Decimal(17)
    assert figures.cost_of_impact(Decimal("1e29"), 2 * H) == Decimal("2e29")


# --- silences ------------------------------------------------------------------------------------------------------


def test_a_silence_within_one_severity_is_judged_against_its_cadence() -> None:
    inc = incident(resolved_at=T0 + 5 * H)
    timeline = [event(0, EventKind.OPENED, severity=1)]
    [gap] = figures.silences(inc, timeline, [], CADENCE)
    assert (gap["minutes"], gap["cadence_minutes"], gap["over_minutes"], gap["stretches"]) == (300.0, 60.0, 240.0, [])


def test_a_silence_across_a_lower_severity_is_judged_against_each_cadence_in_turn() -> None:
    # the frozen registers: last word 15:20, severity 3 from 19:00, resolved 10:30 the next day
    inc = incident(severity=3, resolved_at=T0 + 26 * H)
    timeline = [event(0, EventKind.OPENED, severity=1), event(10.5, EventKind.SEVERITY, to=3)]
    said = [T0, T0 + timedelta(hours=6, minutes=50)]
    longest = figures.longest_silence(figures.silences(inc, timeline, said, CADENCE))
    assert longest is not None
    assert (longest["minutes"], longest["severity"], longest["cadence_minutes"]) == (1150.0, 3, 1440.0)
    assert longest["over_minutes"] == 160.0  # it had passed severity 1's hour by 2h 40m at 19:00
    assert [(s["severity"], s["cadence_minutes"], s["over_minutes"]) for s in longest["stretches"]] == [
        (1, 60.0, 160.0),
        (3, 1440.0, 0.0),
    ]


def test_a_silence_across_a_higher_severity_overruns_at_once() -> None:
    inc = incident(severity=1, resolved_at=T0 + 5.5 * H)
    timeline = [event(0, EventKind.OPENED, severity=3), event(5, EventKind.SEVERITY, to=1)]
    [gap] = figures.silences(inc, timeline, [], CADENCE)
    assert (gap["severity"], gap["cadence_minutes"], gap["over_minutes"]) == (1, 60.0, 270.0)


def test_a_playbook_switch_changes_the_cadence_from_its_moment() -> None:
    inc = incident(resolved_at=T0 + 3 * H)
    switch = event(2, EventKind.CHANGED, cadence_before={"1": 4 * 3600})
    timeline = [event(0, EventKind.OPENED, severity=1), switch]
    [gap] = figures.silences(inc, timeline, [], CADENCE)  # 4h before the switch, 1h after
    assert [(s["cadence_minutes"], s["over_minutes"]) for s in gap["stretches"]] == [(240.0, 0.0), (60.0, 120.0)]


def test_an_open_incident_has_no_last_gap_yet() -> None:
    assert figures.silences(incident(), [], [T0 + H], CADENCE)[0]["minutes"] == 60.0
    assert figures.longest_silence([]) is None


# --- due times and answer times ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    incident: int = 1
    number: int = 1
    asked_at: datetime = T0
    heard_at: datetime | None = None
    first_due: datetime = T0 + 24 * H
    due: datetime = T0 + 24 * H


@dataclass(frozen=True)
class Mail:
    incident: int
    follow_up: int | None
    sent_at: datetime | None


def test_first_and_last_due_times() -> None:
    moved = figures.due_times(Ask(due=T0 + 72 * H))
    assert (moved.first, moved.last, moved.moved) == (T0 + 24 * H, T0 + 72 * H, True)
    assert not figures.due_times(Ask()).moved


def test_answer_time_runs_from_the_ask_when_nothing_was_emailed() -> None:
    assert figures.answer_time(Ask(heard_at=T0 + 5 * H)) == 5 * H
    assert figures.answer_time(Ask()) is None


def test_answer_time_runs_from_the_first_email_sent_before_the_answer() -> None:
    emailed = figures.first_emails(
        [Mail(1, 1, T0 + 3 * H), Mail(1, 1, T0 + 2 * H), Mail(1, None, T0), Mail(1, 2, None)]
    )
    assert emailed == {(1, 1): T0 + 2 * H}
    assert figures.answer_time(Ask(heard_at=T0 + 5 * H), emailed) == 3 * H
    # an email sent after the answer was a chase, not the ask
    assert figures.answer_time(Ask(heard_at=T0 + H), emailed) == H
