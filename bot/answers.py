"""Answers to read-only commands, kept in memory while nothing they show can have changed.

`status`, `list`, `followups`, `scorecard` and `help` change nothing, and during a crisis many people ask the same
one in the same room. An answer is kept under its command (words as typed, spaces collapsed) and room, and served
again while both hold:

- the database has not changed since it was read (bot/store/changes.py: any commit, by any replica or process);
- it is less than MAX_AGE old on the core's clock. Durations are shown to the minute ("open 2h 15m"), so an answer
  kept for half a minute is never more than that behind the clock; a clock moved back (the console's /clock) reads
  afresh.

When the database cannot say whether it changed (an in-memory SQLite database, PostgreSQL's LISTEN connection
down), nothing is kept: every answer is read afresh. Answers that failed (a surprise, not a refusal) are never kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.chat import Reply

MAX_AGE = timedelta(seconds=30)
SIZE = 1024  # answers kept per process: a busy deployment has tens of open war rooms, each asked a few things


class Versioned(Protocol):
    def version(self) -> Hashable | None: ...


@dataclass(frozen=True)
class _Kept:
    reply: Reply
    version: Hashable
    at: datetime


class Answers:
    def __init__(self, changes: Versioned, *, size: int = SIZE, max_age: timedelta = MAX_AGE) -> None:
        self.changes, self.size, self.max_age = changes, size, max_age
        self._kept: OrderedDict[Hashable, _Kept] = OrderedDict()
        self.hits = self.misses = 0

    def about(self, incident: int) -> None:
        """Said while reading an answer: it shows this incident alone."""

    def kept(self, key: Hashable, now: datetime) -> Reply | None:
        """The answer kept under ``key`` if it is still good, else None (nothing waits: adapters call this in acks)."""
        return self._good(key, self.changes.version(), now)

    async def answer(self, key: Hashable, now: datetime, read: Callable[[], Awaitable[Reply]]) -> Reply:
        """The kept answer under ``key`` if it is still good, else ``read()`` (kept when the version is known)."""
        version = self.changes.version()  # before the read: a commit during it makes what is read stale at once
        if (good := self._good(key, version, now)) is not None:
            return good
        self.misses += 1
        reply = await read()
        if version is None or reply.failed:
            self._kept.pop(key, None)
            return reply
        self._kept[key] = _Kept(reply, version, now)
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return reply

    def _good(self, key: Hashable, version: Hashable | None, now: datetime) -> Reply | None:
        kept = self._kept.get(key)
        if version is None or kept is None or kept.version != version or not kept.at <= now < kept.at + self.max_age:
            return None
        self._kept.move_to_end(key)
        self.hits += 1
        return kept.reply
