"""Counts as people read them (bot/words.py)."""

from __future__ import annotations

import subprocess
import sys

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


def test_inflect_loads_on_first_count_without_typeguard_left_patched() -> None:
    """Importing inflect under typeguard costs seconds on every `warroom` start (jaraco/inflect#212): bot.words
    loads it only when a count is first written, and leaves typeguard's decorator as it found it."""
    script = (
        "import sys, typeguard\n"
        "checked = typeguard.typechecked\n"
        "from bot.words import count\n"
        "assert 'inflect' not in sys.modules, 'inflect imported with bot.words'\n"
        "print(count(3, 'auto-reply'))\n"
        "assert typeguard.typechecked is checked, 'typeguard left patched'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "3 auto-replies\n", "")
