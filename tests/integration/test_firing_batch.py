"""A claim of chases over many incidents fires set-based, in one transaction: each reminder exactly once however
many replicas race for them, and the statements a batch sends do not grow with how many reminders it fires."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select

from bot.reminders import ReminderEngine
from bot.store import Database
from bot.store.tables import EventRow, FollowUpRow, OutboxRow, ReminderRow
from bot.vendors import CHASE
from tests.conftest import START
from tests.harness import Harness
from tests.integration.test_reminder_engine import fired, seed


async def test_chases_over_many_incidents_fire_once_each_with_four_replicas_racing(database_url: str) -> None:
    incidents, per_incident = 12, 3
    seed_db = Database(database_url)
    await seed_db.upgrade()
    chat = await seed(seed_db, incidents=incidents, per_incident=per_incident)
    await seed_db.dispose()
    replicas = [Database(database_url) for _ in range(4)]
    harnesses = [Harness(db, chat=chat, start=START + timedelta(minutes=5)) for db in replicas]
    engines = [  # claims of 5: each spans several incidents, and every replica can get one
        ReminderEngine(h.db, h.clock, h.warroom.reminder_handlers, batch=5, deliver=h.warroom.desk.outbox.deliver)
        for h in harnesses
    ]
    counts = await asyncio.gather(*(e.tick() for e in engines))
    total = incidents * per_incident
    posts = fired(chat)
    assert sum(counts) == total, counts
    assert len(posts) == total and set(posts.values()) == {1}  # no chase missed, none posted twice
    assert sum(await asyncio.gather(*(e.tick() for e in engines))) == 0
    async with replicas[0].transaction() as store:
        chased = Counter(
            (e.incident, e.text.split()[0])
            for e in (await store.session.execute(select(EventRow).where(EventRow.kind == "chased"))).scalars()
        )
        assert len(chased) == total and set(chased.values()) == {1}  # one timeline event per chase
        follow_ups = list((await store.session.execute(select(FollowUpRow))).scalars())
        assert {(f.chases, f.unanswered, f.state) for f in follow_ups} == {(1, 1, "overdue")}
        chases = select(ReminderRow).where(ReminderRow.state == "pending", ReminderRow.kind == CHASE)
        pending = list((await store.session.execute(chases)).scalars())
        assert len({(r.incident, r.subject) for r in pending}) == len(pending) == total  # each chased again once
        assert {r.due_at for r in pending} == {START + timedelta(minutes=5, days=1)}  # tomorrow
    for db in replicas:
        await db.dispose()


async def test_a_batch_sends_as_many_statements_for_twenty_chases_as_for_four(db: Database) -> None:
    def statements_of_a_batch(size: int) -> Any:
        async def run() -> tuple[int, int, Counter[str]]:
            sent: list[str] = []

            def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                sent.append(statement.split()[0] + " " + _table(statement))

            engine = ReminderEngine(h.db, h.clock, h.warroom.reminder_handlers, batch=size)
            event.listen(db.engine.sync_engine, "before_cursor_execute", count)
            try:
                fired_now, claimed, rest = await engine.claim_and_fire(h.clock.now())
            finally:
                event.remove(db.engine.sync_engine, "before_cursor_execute", count)
            assert rest == {}
            return fired_now, claimed, Counter(sent)

        return run()

    await seed(db, incidents=8, per_incident=4)  # 32 chases due, over 8 incidents
    h = Harness(db, start=START + timedelta(minutes=5))
    few_fired, _, few = await statements_of_a_batch(4)
    many_fired, _, many = await statements_of_a_batch(20)
    assert (few_fired, many_fired) == (4, 20)
    if db.dialect == "sqlite":
        # SQLite cannot return the ids of a many-row INSERT in order, so SQLAlchemy inserts those rows one at a
        # time; there each is a call into the library, not a round trip. Everything else is one statement.
        for counted in (few, many):
            for table in ("timeline", "reminders", "outbox"):
                counted[f"INSERT {table}"] = 1
    assert few == many, (few, many)
    assert few["INSERT outbox"] == 1 and few["INSERT timeline"] == 1 and few["INSERT reminders"] == 1
    assert few["UPDATE follow_ups"] == 1 and few["SELECT follow_ups"] == 2  # the follow-ups, their ticket copies
    async with db.transaction() as store:
        owed = (await store.session.execute(select(OutboxRow).where(OutboxRow.state == "pending"))).scalars()
        assert len(list(owed)) == 24  # every chase fired owes its post


def _table(statement: str) -> str:
    words = statement.replace("(", " ").split()
    for before in ("INTO", "UPDATE", "FROM"):
        if before in words:
            return words[words.index(before) + 1]
    return ""
