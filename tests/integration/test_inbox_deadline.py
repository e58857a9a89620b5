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
    holding, release = asyncio.Event(), asyncio.Event()

    async def blocker() -> None:  # another transaction writing the same key, not yet committed: the INSERT waits
        async with db.transaction() as store:
            await store.session.execute(
                accept_statement(
                    db.dialect, key="slow", platform="slack", payload="{}", replay=None, owner="x", now=h.clock.now(),
                    lease=TTL,
                )
            )  # fmt: skip
            holding.set()
            await release.wait()
            raise RuntimeError("rolled back")

    held = asyncio.create_task(blocker())
    await holding.wait()
    try:
        with pytest.raises(InboxUnavailable):  # 0.2 s of the minute were left when the request got here
            await asyncio.wait_for(
                inbox.accept("slow", payload("note x", h), ttl=TTL, arrived=time.monotonic() - 59.8), timeout=30
            )
    finally:
        release.set()
        await asyncio.gather(held, return_exceptions=True)
    await asyncio.gather(*inbox._late, return_exceptions=True)
    async with db.transaction() as store:
        assert await store.inbox_waiting() == 0
