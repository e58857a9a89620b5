"""Counts as people read them (bot/words.py)."""

from __future__ import annotations

import pytest

from bot.words import count, plural, times


@pytest.mark.parametrize(
    ("n", "noun", "shown"),
    [
        (0, "lesson", "0 lessons"),
        (1, "lesson", "1 lesson"),
        (1, "vendor follow-up", "1 vendor follow-up"),
        (2, "vendor follow-up", "2 vendor follow-ups"),
        (3, "auto-reply", "3 auto-replies"),
        (2, "promise watch", "2 promise watches"),
        (1, "piece", "1 piece"),
        (1200, "chase", "1,200 chases"),
    ],
)
def test_a_count_agrees_with_its_noun(n: int, noun: str, shown: str) -> None:
    assert count(n, noun) == shown


def test_how_often() -> None:
    assert [times(n) for n in (1, 2, 3)] == ["once", "twice", "3 times"]


def test_plural_alone() -> None:
    assert plural("unanswered reminder", 1) == "unanswered reminder"
    assert plural("unanswered reminder", 2) == "unanswered reminders"
