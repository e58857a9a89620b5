"""Read-only answers kept in memory: served again only while nothing they show has changed — SQLite and PostgreSQL.

The replica that keeps an answer is not always the one that changes the data: another replica, `warroom tick` or
an operator's console writes to the same database, and the next `status` here must show it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from bot import commands as c
from bot.chat import Invocation, RoomRef, UserRef
from bot.render import plain_text
from bot.store import Database
from tests.harness import LOBBY, Harness


async def status_text(h: Harness) -> str:
    reply = await h.run("status")
    assert reply.ok
    return "\n".join(plain_text(m) for m in reply.messages)


async def until_shown(h: Harness, wanted: str, *, seconds: float = 5.0) -> str:
    """`status` until it shows ``wanted``: another replica's change reaches this one as its commit is notified."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        shown = await status_text(h)
        if wanted in shown or loop.time() > deadline:
            return shown
        await asyncio.sleep(0.01)


async def warmed(h: Harness) -> None:
    """Ask until an answer is kept (on PostgreSQL the first asks start listening for changes)."""
    for _ in range(500):
        before = h.warroom.answers.hits
        await status_text(h)
        if h.warroom.answers.hits > before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no answer was ever kept")


async def test_a_repeated_status_is_answered_from_memory_until_something_changes(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2 customer:Acme')
    await warmed(h)
    first = h.warroom.answers.hits
    await status_text(h)
    assert h.warroom.answers.hits == first + 1  # nothing changed: no read

    await h.ok('vendor northwind "RMA tracking number" due:2h')
    shown = await status_text(h)
    assert "RMA tracking number" in shown  # this replica's own change shows at once


async def test_a_change_made_by_another_replica_shows_in_the_next_status(database_url: str, db: Database) -> None:
    here = Harness(db)
    await here.ok('open "Registers down" sev:2 customer:Acme')
    await warmed(here)
    assert "RMA tracking number" not in await status_text(here)

    other_db = Database(database_url)  # another replica: its own engine, its own pool, same database
    try:
        there = Harness(other_db)
        there.clock = here.clock
        reply = await there.warroom.handle(
            Invocation('vendor northwind "RMA tracking number" due:2h', UserRef("lee", "lee"), here.room)
        )
        assert reply.ok, reply.messages[0].title
        assert "RMA tracking number" in await until_shown(here, "RMA tracking number")
    finally:
        await other_db.dispose()


async def test_a_kept_answer_ages_with_the_clock(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2 customer:Acme')
    await warmed(h)
    listed = plain_text((await h.run("list")).messages[0])
    h.later(timedelta(hours=3))  # no write at all: only the clock moved
    later = plain_text((await h.run("list")).messages[0])
    assert listed != later and "3h" in later


async def test_a_refused_read_is_kept_but_a_new_war_room_replaces_it(db: Database) -> None:
    h = Harness(db)
    lobby = h.room
    for _ in range(2):
        reply = await h.run("status")
        assert not reply.ok and "not a war room" in plain_text(reply.messages[0])
    await h.ok('open "Registers down" sev:2 customer:Acme')
    again = await h.run("status", room=lobby)
    assert not again.ok  # the lobby is still not a war room
    assert (await h.run("status")).ok  # the new room is


async def test_a_lost_listen_connection_reads_afresh_and_misses_nothing(database_url: str, db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite tells changes through the file itself; only PostgreSQL needs a LISTEN connection")
    here = Harness(db)
    await here.ok('open "Registers down" sev:2 customer:Acme')
    await warmed(here)
    async with db.engine.connect() as conn:  # the connection drops, as when PostgreSQL restarts or a proxy cuts it
        ended = await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
        assert ended.scalars().all() == [True]
    other_db = Database(database_url)
    try:
        there = Harness(other_db)
        there.clock = here.clock
        reply = await there.warroom.handle(
            Invocation('vendor northwind "RMA tracking number" due:2h', UserRef("lee", "lee"), here.room)
        )
        assert reply.ok
        assert "RMA tracking number" in await until_shown(here, "RMA tracking number")
    finally:
        await other_db.dispose()


async def test_a_kept_status_is_dropped_by_a_commit_on_its_incident_only(database_url: str, db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2 customer:Acme')
    first = h.room
    h.room = LOBBY
    await h.ok('open "Scanners down" sev:3 customer:Globex')
    second = h.room
    h.room = first
    await warmed(h)

    h.room = second
    await h.ok('vendor contoso "scanner firmware" due:2h')  # a commit on INC-2
    h.room = first
    hits = h.warroom.answers.hits
    shown = await status_text(h)
    assert h.warroom.answers.hits == hits + 1  # INC-1's answer is still good: given again, nothing read
    assert "scanner firmware" not in shown

    await h.ok('vendor northwind "RMA tracking number" due:2h')  # a commit on INC-1
    assert "RMA tracking number" in await status_text(h)  # read afresh at once
    await warmed(h)

    other_db = Database(database_url)  # another replica (another process's commits: the same)
    try:
        there = Harness(other_db)
        there.clock = h.clock
        reply = await there.warroom.handle(
            Invocation('vendor fabrikam "spare scanner" due:3h', UserRef("lee", "lee"), second)
        )
        assert reply.ok, reply.messages[0].title
        assert "spare scanner" in await until_shown_in(h, second, "spare scanner")  # INC-2's own status sees it
        hits = h.warroom.answers.hits
        await status_text(h)
        assert h.warroom.answers.hits == hits + 1  # and INC-1's kept answer was not dropped by it

        reply = await there.warroom.handle(
            Invocation('vendor tailspin "new registers" due:3h', UserRef("lee", "lee"), first)
        )
        assert reply.ok, reply.messages[0].title
        assert "new registers" in await until_shown(h, "new registers")
    finally:
        await other_db.dispose()


async def until_shown_in(h: Harness, room: RoomRef, wanted: str, *, seconds: float = 5.0) -> str:
    here = h.room
    h.room = room
    try:
        return await until_shown(h, wanted, seconds=seconds)
    finally:
        h.room = here


async def test_status_reads_the_incident_and_all_it_shows_in_at_most_three_statements(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2 customer:Acme')
    await h.ok('vendor northwind "RMA tracking number" due:2h')
    await h.ok('commit "replacement registers" due:4h')
    await h.ok('update "we are rolling back" next:1h')
    await h.ok('action "check the rollback"')
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        reply = await h.warroom._run(c.parse("status"), Invocation("status", UserRef("dana", "dana"), h.room))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    shown = "\n".join(plain_text(m) for m in reply.messages)
    for part in ("RMA tracking number", "replacement registers", "U1", "check the rollback", "commander"):
        assert part in shown, part
    assert len(seen) <= 3, [s[:150] for s in seen]  # on SQLite the first is its BEGIN
