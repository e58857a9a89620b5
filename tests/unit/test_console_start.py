from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.cli import _console_start
from bot.errors import BadInput

SUN_2000_UTC = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)


def test_start_takes_an_iso_time_in_the_console_zone() -> None:
    start = _console_start("2026-03-02 09:00", "America/New_York", now=SUN_2000_UTC)
    assert start == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_start_takes_a_due_time_phrase_from_the_wall_clock() -> None:
    start = _console_start("tomorrow morning", "America/New_York", now=SUN_2000_UTC)
    assert start == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Mon 2 Mar 09:00 EST
    assert _console_start("next mon 09:00", "America/New_York", now=SUN_2000_UTC) == start


def test_start_refuses_what_it_cannot_read_saying_why() -> None:
    with pytest.raises(BadInput, match=r"--start 'soon' is not a date and time \(I can't read 'soon'"):
        _console_start("soon", "America/New_York", now=SUN_2000_UTC)
