"""Answers to read-only commands, kept in memory while nothing they show can have changed.

`status`, `list`, `followups`, `scorecard` and `help` change nothing, and during a crisis many people ask the same
one in the same room. An answer is kept under its command (words as typed, spaces collapsed) and room, and served
again while both hold:

- nothing it shows has changed since it was read (bot/store/changes.py: a commit by any replica or process). An
  answer about one incident (`status`) says so while it is read (`about`): only a commit that changed that incident,
  or one that cannot say which it changed, makes it stale. Any other answer is stale after any commit;
- it is less than MAX_AGE old on the core's clock. Durations are shown to the minute ("open 2h 15m"), so an answer
  kept for half a minute is never more than that behind the clock; a clock moved back (the console's /clock) reads
  afresh.

When the database cannot say whether it changed (an in-memory SQLite database, PostgreSQL's LISTEN connection
down), nothing is kept: every answer is read afresh. Answers that failed (a surprise, not a refusal) are never kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.chat import Reply
from bot.store.changes import Mark

MAX_AGE = timedelta(seconds=30)
SIZE = 1024  # answers kept per process: a busy deployment has tens of open war rooms, each asked a few things


class Versioned(Protocol):
    def mark(self) -> Mark | None: ...

    def unchanged_since(self, mark: Mark, incident: int | None) -> bool: ...


@dataclass(frozen=True)
class _Kept:
    reply: Reply
    mark: Mark
    at: datetime
    about: int | None  # the one incident the answer shows; None: it may show any


_about: ContextVar[list[int] | None] = ContextVar("warroom_answer_about", default=None)


class Answers:
    def __init__(self, changes: Versioned, *, size: int = SIZE, max_age: timedelta = MAX_AGE) -> None:
        self.changes, self.size, self.max_age = changes, size, max_age
        self._kept: OrderedDict[Hashable, _Kept] = OrderedDict()
        self.hits = self.misses = 0

    def about(self, incident: int) -> None:
        """Said while an answer is read: it shows this incident alone (anything else it reads is the same for all)."""
        said = _about.get()
        if said is not None:
            said.append(incident)

    def kept(self, key: Hashable, now: datetime) -> Reply | None:
        """The answer kept under ``key`` if it is still good, else None (nothing waits: adapters call this in acks)."""
        return self._good(key, now)

    async def answer(self, key: Hashable, now: datetime, read: Callable[[], Awaitable[Reply]]) -> Reply:
        """The kept answer under ``key`` if it is still good, else ``read()`` (kept when the changes can be told)."""
        if (good := self._good(key, now)) is not None:
            return good
        mark = self.changes.mark()  # before the read: a commit during it makes what is read stale at once
        self.misses += 1
        said: list[int] = []
        token = _about.set(said)
        try:
            reply = await read()
        finally:
            _about.reset(token)
        if mark is None or reply.failed:
            self._kept.pop(key, None)
            return reply
        about = said[0] if len(set(said)) == 1 else None
        self._kept[key] = _Kept(reply, mark, now, about)
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return reply

    def _good(self, key: Hashable, now: datetime) -> Reply | None:
        kept = self._kept.get(key)
        if kept is None or not kept.at <= now < kept.at + self.max_age:
            return None
        if not self.changes.unchanged_since(kept.mark, kept.about):
            return None
        self._kept.move_to_end(key)
        self.hits += 1
        return kept.reply
