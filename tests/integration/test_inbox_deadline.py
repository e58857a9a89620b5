"""The inbox's deadline counts from the request's arrival: a replica too busy to start the write still acks in time."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from bot.inbox import Inbox, InboxUnavailable
from bot.store import Database
from bot.store.inbox import accept_statement
from tests.harness import Harness
from tests.integration.test_inbox import key_held

TTL = timedelta(minutes=1)


def payload(text: str, h: Harness) -> dict[str, Any]:
    return {"text": text, "user": "dana", "room": h.room.id, "room_name": h.room.name}


async def test_a_request_that_waited_past_the_deadline_is_not_written_and_never_runs(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    inbox = Inbox(db, h.clock, "slack", deadline=1.5)
    ran: list[str] = []

    async def run(p: Any, already: bool) -> bool:
        ran.append(str(p["text"]))
        return False

    with pytest.raises(InboxUnavailable):  # the ack is due: "nothing was recorded" is true, nothing is written
        await inbox.accept("late", payload("note late", h), ttl=TTL, arrived=time.monotonic() - 2.0)
    async with db.transaction() as store:
        assert await store.inbox_waiting() == 0
    assert await inbox.work(run) == 0 and ran == []
    await inbox.accept("fresh", payload("note fresh", h), ttl=TTL, arrived=time.monotonic())
    assert await inbox.work(run) == 1 and ran == ["note fresh"]


async def test_the_write_gets_only_what_is_left_of_the_deadline(db: Database) -> None:
    h = Harness(db)
    inbox = Inbox(db, h.clock, "slack", deadline=60.0)  # were the whole minute the write's, this would block on
    async with key_held(db, h, "slow"):  # the INSERT waits for another transaction writing the same key
        with pytest.raises(InboxUnavailable):  # 0.2 s of the minute were left when the request got here
            await asyncio.wait_for(
                inbox.accept("slow", payload("note x", h), ttl=TTL, arrived=time.monotonic() - 59.8), timeout=30
            )
    await asyncio.gather(*inbox._late, return_exceptions=True)
    async with db.transaction() as store:
        assert await store.inbox_waiting() == 0


async def test_acks_that_queue_together_commit_together_and_a_given_up_one_is_never_written(db: Database) -> None:
    """SQLite has one writer: acks that queued while it was busy go in one transaction (one commit for all); one
    given up on while still queued is not written, and its caller's "nothing was recorded" stays true."""
    if db.dialect != "sqlite":
        pytest.skip("PostgreSQL writes each ack on its own connection, side by side")
    from sqlalchemy import event

    h = Harness(db)
    commits: list[int] = []
    event.listen(db.engine.sync_engine, "commit", lambda _conn: commits.append(1))

    def ack(key: str) -> Any:
        statement = accept_statement(
            db.dialect, key=key, platform="slack", payload="{}", replay=None, owner="me", now=h.clock.now(),
            lease=TTL,
        )  # fmt: skip
        progress: list[str] = []
        return asyncio.ensure_future(db.insert_now(statement, progress)), progress

    acks = [ack(f"k{n}") for n in range(12)]
    gone, gone_progress = acks.pop(5)
    await asyncio.sleep(0)  # all twelve queued, the writer started
    gone.cancel()
    rows = await asyncio.gather(*(a for a, _ in acks))
    assert all(r is not None for r in rows) and len({r[0] for r in rows}) == 11
    assert len(commits) < 11  # together, not one commit each
    assert gone_progress == []  # never sent: known not recorded
    async with db.read() as store:
        assert await store.inbox_waiting() == 11
