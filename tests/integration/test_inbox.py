"""The durable inbox: accepted commands survive a dead replica and never run twice — SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.chat import Invocation, RoomRef, UserRef
from bot.inbox import MAY_BE_RECORDED, Accepted, Inbox, InboxUnavailable, InboxUncertain
from bot.reminders import ReminderEngine
from bot.store import Database
from bot.store.inbox import accept_statement
from tests.harness import LOBBY, Harness

TTL = timedelta(minutes=1)


@asynccontextmanager
async def key_held(db: Database, h: Harness, key: str) -> AsyncIterator[None]:
    """Another transaction writes ``key``'s inbox row and does not commit while inside: an INSERT of the same key
    waits for it. On leaving, that transaction rolls back."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def blocker() -> None:
        async with db.transaction() as store:
            await store.session.execute(
                accept_statement(
                    db.dialect, key=key, platform="slack", payload="{}", replay=None, owner="x", now=h.clock.now(),
                    lease=TTL,
                )
            )  # fmt: skip
            holding.set()
            await release.wait()
            raise RuntimeError("rolled back")

    held = asyncio.create_task(blocker())
    await holding.wait()
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(held, return_exceptions=True)


def payload(text: str, room: RoomRef) -> dict[str, Any]:
    return {"text": text, "user": "dana", "room": room.id, "room_name": room.name}


class Surface:
    """What a chat surface does with an accepted command: run it through the core, answer the person."""

    def __init__(self, h: Harness) -> None:
        self.h, self.answers = h, []  # type: tuple[Harness, list[str]]

    async def run(self, p: Mapping[str, Any], already: bool) -> bool:
        if already:
            self.answers.append(f"recorded: {p['text']}")
            return False
        invocation = Invocation(p["text"], UserRef(p["user"], p["user"]), RoomRef(p["room"], p["room_name"]))
        reply = await self.h.warroom.handle(invocation)
        self.answers.append(reply.messages[0].title)
        return not reply.ok


async def notes(db: Database) -> list[str]:
    async with db.transaction() as store:
        return [e.text for e in await store.timeline(1) if e.kind == "note"]


async def test_accepted_commands_are_carried_out_once_even_by_another_replica(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    inbox = Inbox(db, h.clock, "slack")
    for n in range(5):
        assert await inbox.accept(f"k{n}", payload(f"note step {n}", h.room), ttl=TTL) is Accepted.NEW
    again = await inbox.accept("k0", payload("note step 0", h.room), ttl=TTL)
    assert again is Accepted.REPEAT  # a double submit is one command
    assert await inbox.accept("k9", payload("note x", h.room), ttl=TTL, replay="sig-1") is Accepted.NEW
    assert await inbox.accept("k10", payload("note x", h.room), ttl=TTL, replay="sig-1") is Accepted.REPLAY
    surface = Surface(h)
    assert await inbox.work(surface.run) == 6
    assert await notes(db) == [*(f"step {n}" for n in range(5)), "x"]
    assert await inbox.work(surface.run) == 0


async def test_a_replica_killed_mid_command_loses_nothing_and_runs_nothing_twice(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    dying = Inbox(db, h.clock, "slack")
    await dying.accept("a", payload("note first", h.room), ttl=TTL)
    await dying.accept("b", payload("note second", h.room), ttl=TTL)
    started = asyncio.Event()

    async def dies_after_its_write(p: Mapping[str, Any], already: bool) -> bool:
        await Surface(h).run(p, already)  # the note is committed …
        started.set()
        await asyncio.Event().wait()  # … and the replica dies before it answers or marks it done

    task = asyncio.create_task(dying.work(dies_after_its_write))
    await started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    survivor, surface = Inbox(db, h.clock, "slack"), Surface(h)
    assert await survivor.work(surface.run) == 0  # the dead replica's lease still holds
    h.later(dying.lease * 2)
    assert await survivor.work(surface.run) == 2
    assert await notes(db) == ["first", "second"]  # first once (not re-run), second carried out
    assert surface.answers[0] == "recorded: note first" and surface.answers[1].startswith("INC-1: noted at")


async def test_a_rejected_command_is_not_marked_applied_and_answers_again(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    inbox, surface = Inbox(db, h.clock, "slack"), Surface(h)
    await inbox.accept("x", payload("sev 9", h.room), ttl=TTL)
    assert await inbox.work(surface.run) == 1
    assert surface.answers[0].startswith("severity must be 1 (worst) to 4")
    again = await inbox.accept("x", payload("sev 9", h.room), ttl=TTL)
    assert again is Accepted.NEW  # it changed nothing, so sending it again at once is not a double submit


async def test_a_database_that_cannot_take_the_command_in_time_is_reported_at_once(db: Database) -> None:
    h = Harness(db)
    inbox = Inbox(db, h.clock, "slack", deadline=0.2)
    async with key_held(db, h, "slow"):
        with pytest.raises(InboxUnavailable):  # the INSERT never got to its commit: known not recorded
            await inbox.accept("slow", payload("note x", LOBBY), ttl=TTL)
    await asyncio.gather(*inbox._late, return_exceptions=True)
    async with db.transaction() as store:
        assert await store.inbox_waiting() == 0
    assert await inbox.work(Surface(h).run) == 0  # nothing is carried out later either


async def test_a_commit_that_does_not_answer_in_time_is_said_to_maybe_be_recorded_and_runs_once(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    inbox, surface = Inbox(db, h.clock, "slack", deadline=0.2), Surface(h)
    answered = asyncio.Event()
    real = db.insert_now

    async def slow_commit(statement: Any, progress: list[str]) -> Any:  # the commit is sent, its answer is late
        async with db.engine.connect() as conn:
            row = (await conn.execute(statement)).first()
            progress.append("committing")
            await answered.wait()
            await conn.commit()
        return row

    db.insert_now = slow_commit  # type: ignore[method-assign]
    try:
        with pytest.raises(InboxUncertain):
            await inbox.accept("k", payload("note maybe", h.room), ttl=TTL)
    finally:
        db.insert_now = real  # type: ignore[method-assign]
    assert "may have been recorded — `status` shows it; sending it again is safe" in MAY_BE_RECORDED
    answered.set()  # the commit lands after all: the command is carried out, once
    await asyncio.gather(*inbox._late, return_exceptions=True)
    assert await inbox.work(surface.run, claim=False) == 1
    assert await notes(db) == ["maybe"]
    # The person, told it may have been recorded, sends it again: the inbox key makes it a double submit.
    assert await inbox.accept("k", payload("note maybe", h.room), ttl=TTL) is Accepted.REPEAT
    assert await Inbox(db, h.clock, "slack").work(surface.run) == 0
    assert await notes(db) == ["maybe"]


async def test_the_request_and_a_worker_never_both_run_one_command(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    request = Inbox(db, h.clock, "slack")
    assert await request.accept("k", payload("note once", h.room), ttl=TTL) is Accepted.NEW
    worker, other = Inbox(db, h.clock, "slack"), Surface(h)
    assert await worker.work(other.run) == 0  # the accept leased the row to the request: no worker claims it
    slow, go = asyncio.Event(), asyncio.Event()

    async def outlives_its_lease(p: Mapping[str, Any], already: bool) -> bool:
        slow.set()
        await go.wait()  # the request's command is slow to start its write …
        return await Surface(h).run(p, already)

    running = asyncio.create_task(request.work(outlives_its_lease, claim=False))
    await slow.wait()
    h.later(request.lease * 2)  # … past its lease: another replica claims it and carries it out
    assert await worker.work(other.run) == 1
    go.set()
    assert await running == 0  # the request's write is refused: it no longer holds the row
    assert await notes(db) == ["once"]
    assert len(other.answers) == 1 and other.answers[0].startswith("INC-1: noted at")


async def test_a_replica_restarted_under_its_name_takes_back_its_commands_at_once(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    before = Inbox(db, h.clock, "slack", owner="pod-0:slack")
    await before.accept("k", payload("note after restart", h.room), ttl=TTL)  # … and the replica dies here
    surface = Surface(h)
    assert await Inbox(db, h.clock, "slack", owner="pod-1:slack").work(surface.run) == 0  # its lease holds for others
    h.later(timedelta(seconds=20))  # the pod comes back
    again = Inbox(db, h.clock, "slack", owner="pod-0:slack")  # the same name, a new process
    await again.accept("fresh", payload("note fresh", h.room), ttl=TTL)  # its own, accepted before its worker starts
    stop = asyncio.Event()
    worker = asyncio.create_task(again.run_forever(surface.run, stop, interval=0.05))
    for _ in range(400):
        if len(await notes(db)) == 2:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await worker
    assert sorted(await notes(db)) == ["after restart", "fresh"]  # no lease ran out: each ran once
    assert sorted(surface.answers)[0].startswith("INC-1: noted at")


async def test_an_error_reply_says_truthfully_whether_anything_was_recorded(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    real = db.transaction

    def down():  # type: ignore[no-untyped-def]
        raise OSError("connection refused")  # the database is down: nothing can be written

    db.transaction = down  # type: ignore[method-assign]
    try:
        reply = await h.run("note the distributor called")
    finally:
        db.transaction = real  # type: ignore[method-assign]
    assert not reply.ok and reply.messages[0].title.endswith("nothing was recorded, so you can simply try again.")
    assert await notes(db) == []

    handlers = dict(h.warroom._handlers)

    async def fails_after_writing(cmd: object, inv: Invocation) -> Any:
        await handlers[type(cmd)](cmd, inv)  # type: ignore[index]
        raise RuntimeError("the reply could not be built")

    from bot import commands as c

    h.warroom._handlers[c.AddNote] = fails_after_writing  # type: ignore[assignment]
    reply = await h.run("note the distributor called")
    assert reply.messages[0].title.endswith("part of it was recorded before it failed; `status` shows what.")
    assert await notes(db) == ["the distributor called"]


async def test_a_replica_stopping_hands_back_what_it_claimed_so_others_take_it_at_once(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    await h.ok('vendor northwind "a unit" due:1h')
    leaving = Inbox(db, h.clock, "slack")
    await leaving.accept("k", payload("note late", h.room), ttl=TTL)
    h.later(timedelta(hours=2))
    now = h.clock.now()
    async with db.transaction() as store:
        await store.enqueue(h.room.id, h.room.name, "{}", incident=1, now=now)
        assert await store.claim_commands("slack", leaving.owner, now, leaving.lease, 10)
        assert await store.claim_deliveries(leaving.owner, now, leaving.lease, 10)
    claimed = await h.engine.claim(now)  # the engine's claim too
    assert claimed
    async with db.transaction() as store:
        assert await store.hand_back(leaving.owner) == 2
        assert await store.hand_back(h.engine.owner) == len(claimed)
    async with db.transaction() as store:  # another replica, right away: nothing waits for a lease to run out
        assert len(await store.claim_commands("slack", "other", now, leaving.lease, 10)) == 1
        assert len(await store.claim_deliveries("other", now, leaving.lease, 10)) == 1
    assert sorted(await ReminderEngine(db, h.clock, {}).claim(now)) == sorted(claimed)


async def test_commands_carried_out_together_are_marked_done_in_one_statement(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    inbox, surface = Inbox(db, h.clock, "slack"), Surface(h)
    for n in range(5):
        await inbox.accept(f"k{n}", payload(f"note step {n}", h.room), ttl=TTL)
    updates: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE INBOX"):
            updates.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        assert await inbox.work(surface.run, claim=False) == 5
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    # Each note marks its row applied in its own transaction; then one UPDATE marks all five done (not five more).
    assert len(updates) == 6
    async with db.transaction() as store:
        assert await store.inbox_waiting("slack") == 0
    assert await notes(db) == [f"step {n}" for n in range(5)]


async def test_a_command_waits_while_an_ack_is_being_written_but_not_for_ever(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    inbox, surface = Inbox(db, h.clock, "slack", deadline=60), Surface(h)  # a slow machine: no accept gives up
    await inbox.accept("a", payload("note first", h.room), ttl=TTL)
    gate, real = asyncio.Event(), db.insert_now

    async def held_insert(statement: Any, progress: list[str]) -> Any:
        await gate.wait()
        return await real(statement, progress)

    monkeypatch.setattr(db, "insert_now", held_insert)
    acking = asyncio.create_task(inbox.accept("b", payload("note second", h.room), ttl=TTL))
    await asyncio.sleep(0)
    working = asyncio.create_task(inbox.work(surface.run, claim=False))
    await asyncio.sleep(0.3)
    assert surface.answers == []  # the accepted command waits: the ack being written goes first
    gate.set()
    assert await acking is Accepted.NEW
    assert await working == 2  # then both run, the one accepted meanwhile included
    assert await notes(db) == ["first", "second"]

    monkeypatch.setattr("bot.inbox.ACKS_FIRST", 0.05)  # a stream of acks never starves a command past its bound
    await inbox.accept("c", payload("note third", h.room), ttl=TTL)  # the gate is open
    gate.clear()
    acking = asyncio.create_task(inbox.accept("d", payload("note fourth", h.room), ttl=TTL))
    await asyncio.sleep(0)
    assert await inbox.work(surface.run, claim=False) == 1  # ran while the ack was still being written
    assert await notes(db) == ["first", "second", "third"]
    gate.set()
    assert await acking is Accepted.NEW


async def test_a_burst_of_commands_in_one_room_is_carried_out_in_the_order_it_was_accepted(db: Database) -> None:
    """Each accept starts the local work (as the Slack surface does); with acks first, the commands of a burst
    wait together, and must still run one room's commands in the order they were accepted."""
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    inbox, surface = Inbox(db, h.clock, "slack"), Surface(h)
    started = []
    for n in range(12):
        await inbox.accept(f"k{n}", payload(f"note step {n}", h.room), ttl=TTL)
        started.append(asyncio.create_task(inbox.work(surface.run, claim=False)))
    await asyncio.wait_for(asyncio.gather(*started), timeout=60)
    assert await notes(db) == [f"step {n}" for n in range(12)]
