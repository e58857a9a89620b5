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
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from enum import Enum
from typing import Any

from bot.chat import Message, Reply, Tone
from bot.clock import Clock
from bot.errors import WarroomError
from bot.store import Database
from bot.store.inbox import APPLIED, Applying, applying

log = logging.getLogger(__name__)
SWEEP_EVERY = 60.0  # seconds between two sweeps of expired keys and done commands by one replica
ACCEPT_DEADLINE = 1.5  # seconds: the write must fit inside Slack's 3-second ack with room to spare

# What a surface does with one accepted command: (payload, already_applied) → run it and answer the person;
# True when it changed nothing (a rejected command), so the same words sent again at once count as new.
Runner = Callable[[Mapping[str, Any], bool], Awaitable[bool]]
REPLAY_WINDOW = timedelta(minutes=10)  # a signature is valid five minutes either side of its timestamp


RETRIES = 3  # tries of a command that broke without recording anything, before the person is told it failed
NOTHING_RECORDED = "Warroom cannot reach its database right now, so nothing was recorded. Try again in a minute."


def recorded_before_restart(payload: Mapping[str, Any], *, quote: str = "") -> Reply:
    """The answer to a command whose first write committed before its replica died: it is not run again."""
    typed = " ".join(str(payload["text"]).split())[:80]
    said = f"✔ Recorded: {quote}{typed}{quote} (I restarted before I could confirm it)."
    return Reply((Message(said, tone=Tone.SUCCESS),))


def try_again(reply: Reply, payload: Mapping[str, Any]) -> str | None:
    """What to tell the person when their command broke (a database hiccup, a deadlock), recorded nothing and has
    tries left: the runner says it, then raises TryAgainLater, and the command runs again once its lease ends
    instead of being lost to a transient failure. None when the reply stands."""
    claim = applying.get()
    if not reply.failed or (claim and claim.applied) or int(payload.get("attempt", 1)) >= RETRIES:
        return None
    return reply.messages[0].title.removesuffix(" Try again.") + " I will try it again in two minutes."


class Accepted(Enum):
    NEW = "new"
    REPEAT = "repeat"  # the same command was accepted a moment ago: a double submit
    REPLAY = "replay"  # the same signed request, seen before on some replica


class TryAgainLater(Exception):
    """Raised by a runner: keep the command in the inbox and run it again once its lease ends."""


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
        concurrency: int = 4,
    ) -> None:
        self.db, self.clock, self.platform = db, clock, platform
        self.owner = owner or uuid.uuid4().hex[:12]
        self.lease, self.deadline = lease, deadline
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._next_sweep = 0.0

    async def accept(
        self, key: str, payload: Mapping[str, Any], *, ttl: timedelta, replay: str | None = None
    ) -> Accepted:
        """Write the command down before it is acknowledged; InboxUnavailable past the deadline.

        ``key`` recognises a double submit within ``ttl``; ``replay`` (a request's signature) a replayed request,
        on any replica, for as long as the signature is valid. Both are checked in the same write.
        """

        async def write() -> Accepted:
            now = self.clock.now()
            sweep = time.monotonic() >= self._next_sweep  # old keys and done rows go once a minute, not per ack
            async with self.db.transaction() as store:
                if replay is not None and not await store.first_time(replay, now=now, ttl=REPLAY_WINDOW, sweep=sweep):
                    return Accepted.REPLAY
                fresh = await store.accept(key, self.platform, json.dumps(payload), now=now, ttl=ttl, sweep=sweep)
            if sweep:
                self._next_sweep = time.monotonic() + SWEEP_EVERY
            return Accepted.NEW if fresh else Accepted.REPEAT

        try:
            outcome = await asyncio.wait_for(write(), timeout=self.deadline)
        except Exception as err:  # a slow, down or refusing database all mean: not kept
            log.warning("inbox could not accept a %s command: %s", self.platform, type(err).__name__)
            raise InboxUnavailable("the database did not answer in time") from None
        if outcome is Accepted.NEW:
            self._wake.set()
        return outcome

    async def work(self, run: Runner, *, limit: int = 20) -> int:
        """Carry out every accepted command not yet done: a room's commands in order, rooms side by side."""
        handled = 0
        while True:
            async with self.db.transaction() as store:
                rows = await store.claim_commands(self.platform, self.owner, self.clock.now(), self.lease, limit)
            by_room: dict[str, list[tuple[int, dict[str, Any], bool]]] = {}
            for row in rows:
                payload = json.loads(row.payload)
                payload["attempt"] = row.attempts  # a runner may retry a broken command a few times, then say so
                by_room.setdefault(str(payload.get("room", "")), []).append((row.id, payload, row.state == APPLIED))
            done = await asyncio.gather(*(self._room(commands, run) for commands in by_room.values()))
            handled += sum(done)
            if len(rows) < limit:
                return handled

    async def _room(self, commands: list[tuple[int, dict[str, Any], bool]], run: Runner) -> int:
        handled = 0
        for row_id, payload, already in commands:
            async with self._slots:
                token = applying.set(None if already else Applying(row_id))
                try:
                    forget = await run(payload, already)
                except TryAgainLater as why:
                    log.warning("an accepted %s command is tried again after its lease: %s", self.platform, why)
                    return handled  # the rest of this room waits, in order, for the retry
                except Exception:
                    log.exception("an accepted %s command failed; it is kept and retried", self.platform)
                    return handled
                finally:
                    applying.reset(token)
            async with self.db.transaction() as store:
                if forget:
                    await store.forget_command(row_id)
                else:
                    await store.mark_done(row_id, self.owner, self.clock.now())
            handled += 1
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
