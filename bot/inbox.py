"""The durable inbox: a command is written down before it is acknowledged, and carried out from there.

A surface accepts a command (one short write, with a deadline) and only then acks it as accepted; any
replica's worker claims accepted commands under a lease and runs them. A replica killed mid-command loses
nothing: its lease runs out and another replica picks the command up. A command whose first write had
committed is not run twice — the row was marked applied in that same transaction — and its person is told
it was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.errors import WarroomError
from bot.store import Database
from bot.store.inbox import APPLIED, Applying, applying

log = logging.getLogger(__name__)
ACCEPT_DEADLINE = 1.5  # seconds: the write must fit inside Slack's 3-second ack with room to spare

# What a surface does with one accepted command: (payload, already_applied) → run it and answer the person.
Runner = Callable[[Mapping[str, Any], bool], Awaitable[None]]


class InboxUnavailable(WarroomError):
    """The database could not take the command in time: nothing was recorded."""


class Inbox:
    """Accepted commands of one platform: ``accept`` before the ack, ``work`` after it."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        platform: str,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        deadline: float = ACCEPT_DEADLINE,
    ) -> None:
        self.db, self.clock, self.platform = db, clock, platform
        self.owner = owner or uuid.uuid4().hex[:12]
        self.lease, self.deadline = lease, deadline
        self._wake = asyncio.Event()

    async def accept(self, key: str, payload: Mapping[str, Any]) -> bool:
        """Write the command down (False: the same key was accepted before); InboxUnavailable past the deadline."""

        async def write() -> bool:
            async with self.db.transaction() as store:
                return await store.accept(key, self.platform, json.dumps(payload), now=self.clock.now())

        try:
            fresh = await asyncio.wait_for(write(), timeout=self.deadline)
        except (TimeoutError, OSError, Exception) as err:  # a slow, down or refusing database all mean: not kept
            log.warning("inbox could not accept a %s command: %s", self.platform, type(err).__name__)
            raise InboxUnavailable("the database did not answer in time") from None
        self._wake.set()
        return fresh

    async def work(self, run: Runner, *, limit: int = 20) -> int:
        """Carry out every accepted command not yet done; returns how many were handled."""
        handled = 0
        while True:
            async with self.db.transaction() as store:
                rows = await store.claim_commands(self.platform, self.owner, self.clock.now(), self.lease, limit)
            for row in rows:
                payload, already = json.loads(row.payload), row.state == APPLIED
                token = applying.set(None if already else Applying(row.id))
                try:
                    await run(payload, already)
                except Exception:
                    log.exception("an accepted %s command failed; it is kept and retried", self.platform)
                    continue
                finally:
                    applying.reset(token)
                async with self.db.transaction() as store:
                    await store.mark_done(row.id, self.owner, self.clock.now())
                handled += 1
            if len(rows) < limit:
                return handled

    async def run_forever(self, run: Runner, stop: asyncio.Event, *, interval: float = 5.0) -> None:
        """Work whenever a command is accepted here, and every ``interval`` for what other replicas left."""
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.work(run)
            except Exception:
                log.exception("inbox worker failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
                await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
