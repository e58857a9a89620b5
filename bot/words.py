"""Counts as people read them: "1 follow-up", "2 follow-ups", "chased once". Plurals come from inflect (a
well-kept English inflection library), not from a list kept here."""

from __future__ import annotations

from functools import lru_cache

import inflect

_ENGINE = inflect.engine()


@lru_cache(maxsize=512)
def plural(noun: str, n: int = 2) -> str:
    """The noun as it reads after the count ``n``: "follow-up" for 1, "follow-ups" otherwise."""
    return noun if n == 1 else str(_ENGINE.plural_noun(noun, n)) or noun


def count(n: int, noun: str) -> str:
    """``n`` and the noun that agrees with it: "1 lesson", "0 lessons", "3 auto-replies"."""
    return f"{n:,} {plural(noun, n)}"


def times(n: int) -> str:
    """How often: "once", "twice", "3 times"."""
    return {1: "once", 2: "twice"}.get(n, f"{n:,} times")
