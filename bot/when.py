"""People's times: `30m`, `3bd`, `eod`, `fri 17:00`, ISO 8601 — read in an incident's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class BusinessHours:
    """When a vendor answers: weekdays (0=Monday … 6=Sunday) and a daily window, in ``tz``."""

    tz: ZoneInfo
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    start: time = time(9, 0)
    end: time = time(17, 0)

    def next_open(self, at: datetime) -> datetime:
        """The earliest aware UTC instant >= ``at`` inside business hours."""
        raise NotImplementedError


def parse_when(
    text: str, *, now: datetime, tz: ZoneInfo, business_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
) -> datetime:
    """Read a person's time expression as an aware UTC datetime strictly after ``now``."""
    raise NotImplementedError


def parse_duration(text: str) -> timedelta:
    """Read `30m`, `4h`, `2d`, `1w` (also combined: `1h30m`) as a positive timedelta."""
    raise NotImplementedError


def format_when(at: datetime, tz: ZoneInfo) -> str:
    """Show an instant in a time zone, e.g. `Tue 24 Nov 2026 09:00 CET`."""
    raise NotImplementedError


def format_duration(delta: timedelta) -> str:
    """Show a duration the way people say it: `45m`, `2h 15m`, `3d 4h`."""
    raise NotImplementedError
