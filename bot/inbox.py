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
from bot.store.inbox import APPLIED, Applying, LeaseLost, accept_statement, applying

log = logging.getLogger(__name__)
SWEEP_EVERY = 60.0  # seconds between two sweeps of expired keys and done commands by one replica
ACCEPT_DEADLINE = 1.5  # seconds: the write must fit inside Slack's 3-second ack with room to spare
# Acks come first: a command waits to start while acks are being written (and for QUIET after the last one), so a
# burst of commands is acked at the rate the database takes one INSERT, and carried out right after it — but never
# waits more than ACKS_FIRST after it was accepted (a steady stream of acks cannot starve the commands).
ACKS_FIRST = 2.0
QUIET = 0.1  # 20 ms let commands start in the gaps of a busy client, and hold the writer the next ack needs
DONE_BATCH = 50  # commands carried out and answered, marked done together in one UPDATE

# What a surface does with one accepted command: (payload, already_applied) → run it and answer the person;
# True when it changed nothing (a rejected command), so the same words sent again at once count as new.
Runner = Callable[[Mapping[str, Any], bool], Awaitable[bool]]


RETRIES = 3  # tries of a command that broke without recording anything, before the person is told it failed
NOTHING_RECORDED = "Warroom cannot reach its database right now, so nothing was recorded. Try again in a minute."
# Said when the commit was sent and did not answer by the deadline: it may have landed. Sending the same words again
# is recognised by the inbox key (a double submit) and runs nothing twice.
MAY_BE_RECORDED = (
    "Warroom's database is slow to answer, so your command may have been recorded — `status` shows it;"
    " sending it again is safe."
)


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
    # Not "nothing was recorded, so you can simply try again": it will be carried out after all, and a person who
    # sends it again after a minute would have it twice.
    head = reply.messages[0].title.split("; nothing was recorded", 1)[0].removesuffix(" Try again.").rstrip(".")
    return f"{head}; it is not recorded yet: I will try it again in two minutes, no need to send it again."


class Accepted(Enum):
    NEW = "new"
    REPEAT = "repeat"  # the same command was accepted a moment ago: a double submit
    REPLAY = "replay"  # the same signed request, seen before on some replica


class TryAgainLater(Exception):
    """Raised by a runner: keep the command in the inbox and run it again once its lease ends."""


class InboxUnavailable(WarroomError):
    """The database could not take the command in time: nothing was recorded."""


class InboxUncertain(WarroomError):
    """The command's commit was sent and did not answer in time: it may have been recorded (and then it runs)."""


Held = tuple[int, int, dict[str, Any], bool]  # row id, claim (attempt), payload, already applied


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
        self._born = clock.now()  # leases under this name that end before _born + lease are a predecessor's
        self._held: list[Held] = []  # accepted here, leased to this replica by the accept itself, not yet run
        self._since: dict[int, float] = {}  # row id → when it was accepted or claimed (monotonic): acks first until
        self._accepting = 0  # acks being written now
        self._last_ack = float("-inf")  # when the last one ended (monotonic)
        self._acks_done = asyncio.Event()  # set while no ack is being written
        self._acks_done.set()
        self._done: list[tuple[int, int]] = []  # (row id, claim) carried out and answered, not yet marked done
        self._working = 0  # calls of work() under way: the last to end marks what is left done
        self._rooms: dict[str, asyncio.Lock] = {}  # one per room seen: its commands run one at a time, in order
        self._late: set[asyncio.Task[Any]] = set()  # writes given up on at the deadline, still finishing

    async def accept(
        self,
        key: str,
        payload: Mapping[str, Any],
        *,
        ttl: timedelta,
        replay: str | None = None,
        arrived: float | None = None,
    ) -> Accepted:
        """Write the command down before it is acknowledged: one INSERT, which also leases the row to this replica.

        ``key`` recognises a double submit within ``ttl``; ``replay`` (a request's signature) a replayed request,
        on any replica. ``arrived`` (time.monotonic()) is when the request came in: the deadline counts from then,
        so a replica too busy to get here quickly still acks in time. Past the deadline: InboxUnavailable when the
        write is known not to have committed (it is cancelled, or never started), InboxUncertain when its commit
        was sent and has not answered (it is left to finish; if it lands, the command runs as if accepted in time).
        """
        budget = self.deadline if arrived is None else self.deadline - (time.monotonic() - arrived)
        if budget <= 0:  # the ack is due already: nothing is written, so nothing can land after it
            waited = self.deadline - budget
            log.warning("a %s command waited %.2fs before its write could start; not accepted", self.platform, waited)
            raise InboxUnavailable("the request waited past the deadline before its write")
        text = json.dumps(payload)
        progress: list[str] = []

        async def write() -> tuple[Accepted, int | None]:
            for _ in range(3):
                now = self.clock.now()
                statement = accept_statement(
                    self.db.dialect,
                    key=key,
                    platform=self.platform,
                    payload=text,
                    replay=replay,
                    owner=self.owner,
                    now=now,
                    lease=self.lease,
                )
                row = await self.db.insert_now(statement, progress)
                if row is not None:
                    return Accepted.NEW, int(row[0])
                progress.clear()
                async with self.db.transaction() as store:  # rare: the key or the signature was there
                    why = await store.why_refused(key, replay, now=now, ttl=ttl)
                if why != "expired":
                    return (Accepted.REPLAY if why == "replay" else Accepted.REPEAT), None
            return Accepted.REPEAT, None

        task = asyncio.ensure_future(write())
        self._accepting += 1
        self._acks_done.clear()
        try:
            done, _ = await asyncio.wait({task}, timeout=budget)
        finally:
            self._accepting -= 1
            self._last_ack = time.monotonic()
            if not self._accepting:
                self._acks_done.set()
        if task not in done:
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            if "committing" in progress:  # the commit is on its way: it may land, and then the command runs
                task.add_done_callback(lambda t: self._landed(t, payload))
                log.warning(
                    "a %s command's commit did not answer in %gs: may be recorded", self.platform, self.deadline
                )
                raise InboxUncertain("the database did not confirm the write in time")
            task.cancel()  # not committed, and now it never will be; its clean-up is not waited for
            task.add_done_callback(_quiet)
            log.warning("inbox could not accept a %s command within %gs", self.platform, self.deadline)
            raise InboxUnavailable("the database did not answer in time")
        try:
            outcome, row_id = task.result()
        except Exception as err:  # a down or refusing database: not kept, unless its commit was under way
            log.warning("inbox could not accept a %s command: %s", self.platform, type(err).__name__)
            if "committing" in progress:
                raise InboxUncertain("the database broke off while confirming the write") from None
            raise InboxUnavailable("the database refused the write") from None
        if row_id is not None:
            self._hold(row_id, payload)
        return outcome

    def _hold(self, row_id: int, payload: Mapping[str, Any]) -> None:
        self._held.append((row_id, 1, {**payload, "attempt": 1}, False))
        self._since[row_id] = time.monotonic()

    async def _acks_first(self, row_id: int) -> None:
        """Wait while acks are being written (and QUIET after the last), at most until ACKS_FIRST after the command
        was accepted: the ack has a deadline the person is waiting on; the command's answer comes right after."""
        until = self._since.pop(row_id, time.monotonic()) + ACKS_FIRST
        while (left := until - time.monotonic()) > 0:
            if self._accepting:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._acks_done.wait(), timeout=left)
                continue
            quiet = self._last_ack + QUIET - time.monotonic()
            if quiet <= 0:
                return
            await asyncio.sleep(min(quiet, left))

    async def _mark_done(self) -> None:
        """Mark what was carried out and answered done, in one statement; on failure the marks are kept for the next
        try (meanwhile the rows stay leased to this replica, and after a restart their person is told "recorded")."""
        marks, self._done = self._done, []
        if not marks:
            return
        try:
            async with self.db.transaction() as store:
                await store.mark_all_done(marks, self.clock.now())
        except BaseException:
            self._done[:0] = marks
            raise

    def _landed(self, task: asyncio.Task[tuple[Accepted, int | None]], payload: Mapping[str, Any]) -> None:
        """A write given up on at the deadline committed after all: the command is carried out as accepted."""
        if task.cancelled() or task.exception() is not None:
            return
        _outcome, row_id = task.result()
        if row_id is not None:
            log.info("a %s command whose commit was late landed after all; carrying it out", self.platform)
            self._hold(row_id, payload)
            self._wake.set()  # no request is left to start its work: the worker does

    async def take_back(self) -> int:
        """At start: what a replica of this name held before it restarted is claimable at once."""
        async with self.db.transaction() as store:
            taken = await store.take_back(self.platform, self.owner, self._born, self.lease)
        if taken:
            log.info("took back %s accepted %s command(s) this replica held before it restarted", taken, self.platform)
            self._wake.set()
        return taken

    async def work(self, run: Runner, *, limit: int = 20, claim: bool = True) -> int:
        """Carry out every accepted command not yet done: a room's commands in order, rooms side by side. Those
        accepted here are run without a claim (the accept leased them); ``claim`` also leases what others left. What
        was carried out is marked done in batches of DONE_BATCH, the rest by the last call of work() to end."""
        self._working += 1
        try:
            return await self._work(run, limit=limit, claim=claim)
        finally:
            self._working -= 1
            if not self._working:
                await self._mark_done()

    async def _work(self, run: Runner, *, limit: int, claim: bool) -> int:
        handled = 0
        while True:
            mine, self._held = self._held, []
            rows: list[Held] = list(mine)
            claimed = 0
            if claim:
                now = self.clock.now()
                if time.monotonic() >= self._next_sweep:
                    self._next_sweep = time.monotonic() + SWEEP_EVERY
                    async with self.db.transaction() as store:
                        await store.sweep_inbox(now)
                async with self.db.transaction() as store:
                    found = await store.claim_commands(self.platform, self.owner, now, self.lease, limit)
                claimed = len(found)
                for row in found:
                    self._since[row.id] = time.monotonic()
                    payload = json.loads(row.payload)
                    payload["attempt"] = row.attempts  # a runner may retry a broken command a few times, then say so
                    rows.append((row.id, row.attempts, payload, row.state == APPLIED))
            by_room: dict[str, list[Held]] = {}
            for held in rows:
                by_room.setdefault(str(held[2].get("room", "")), []).append(held)
            done = await asyncio.gather(*(self._room(commands, run) for commands in by_room.values()))
            handled += sum(done)
            if claimed < limit and not self._held:
                return handled

    async def _room(self, commands: list[Held], run: Runner) -> int:
        """Carry out one room's commands in order. Every accept starts a work() of its own, and commands wait for
        acks together: the room's lock, taken in the order they were accepted (asyncio.Lock wakes its waiters
        first come, first served), keeps its commands one at a time and in that order."""
        room = str(commands[0][2].get("room", ""))
        async with self._rooms.setdefault(room, asyncio.Lock()):
            return await self._in_order(commands, run)

    async def _in_order(self, commands: list[Held], run: Runner) -> int:
        handled = 0
        for row_id, attempt, payload, already in commands:
            await self._acks_first(row_id)
            async with self._slots:
                token = applying.set(None if already else Applying(row_id, attempt))
                try:
                    forget = await run(payload, already)
                except LeaseLost:  # it ran past its lease and another replica claimed it: theirs now, not run here
                    log.warning(
                        "an accepted %s command outlived its lease; another replica carries it out", self.platform
                    )
                    continue
                except TryAgainLater as why:
                    log.warning("an accepted %s command is tried again after its lease: %s", self.platform, why)
                    return handled  # the rest of this room waits, in order, for the retry
                except Exception:
                    log.exception("an accepted %s command failed; it is kept and retried", self.platform)
                    return handled
                finally:
                    applying.reset(token)
            if forget:
                async with self.db.transaction() as store:
                    await store.forget_command(row_id, self.clock.now())
            else:
                self._done.append((row_id, attempt))
                if len(self._done) >= DONE_BATCH:
                    await self._mark_done()
            handled += 1
        return handled

    async def run_forever(self, run: Runner, stop: asyncio.Event, *, interval: float = 5.0) -> None:
        """Work whenever a command is accepted here, and every ``interval`` for what other replicas left; first
        take back what this replica's name held before a restart."""
        try:
            await self.take_back()
        except Exception:
            log.exception("could not take back this replica's leases; they come back when they run out")
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


def _quiet(task: asyncio.Task[Any]) -> None:
    """A write cancelled at the deadline: its end (cancelled, or an error of the dying connection) is expected."""
    if not task.cancelled():
        task.exception()
