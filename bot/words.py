"""Counts as people read them: "1 follow-up", "2 follow-ups", "chased once". Plurals come from inflect (a
well-kept English inflection library), not from a list kept here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import inflect


def _unchecked(target: Any = None, /, **_: Any) -> Any:
    """typeguard's ``@typechecked`` as a no-op, in both its bare and its called form."""
    return target if target is not None else (lambda f: f)


@cache
def _engine() -> inflect.engine:
    """inflect's engine, made on first use. inflect wraps its methods in typeguard's ``@typechecked``, which
    re-parses and re-compiles inflect's whole module once per method when it is imported: seconds on every
    `warroom` start (jaraco/inflect#212). We only ever pass it a str and an int, so it is imported with that
    decorator as a no-op (what ``python -O`` does), and typeguard is left as it was for anyone else."""
    if "inflect" not in sys.modules:
        import typeguard

        checked: Callable[..., Any] = typeguard.typechecked
        typeguard.typechecked = _unchecked
        try:
            import inflect
        finally:
            typeguard.typechecked = checked
    import inflect

    return inflect.engine()


@lru_cache(maxsize=512)
def plural(noun: str, n: int = 2) -> str:
    """The noun as it reads after the count ``n``: "follow-up" for 1, "follow-ups" otherwise."""
    return noun if n == 1 else str(_engine().plural_noun(noun, n)) or noun


def count(n: int, noun: str) -> str:
    """``n`` and the noun that agrees with it: "1 lesson", "0 lessons", "3 auto-replies"."""
    return f"{n:,} {plural(noun, n)}"


def times(n: int) -> str:
    """How often: "once", "twice", "3 times"."""
    return {1: "once", 2: "twice"}.get(n, f"{n:,} times")
