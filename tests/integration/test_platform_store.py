"""What the chat adapters store: idempotency keys and room addresses, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.store import Database
from tests.conftest import START


async def test_a_key_is_new_once_within_its_ttl_even_when_replicas_race(database_url: str) -> None:
    replicas = [Database(database_url) for _ in range(3)]
    await replicas[0].upgrade()

    async def claim(db: Database) -> bool:
        async with db.transaction() as store:
            return await store.first_time("slack:Ev123", now=START, ttl=timedelta(minutes=5))

    results = await asyncio.gather(*(claim(db) for db in replicas))
    assert sorted(results) == [False, False, True]
    async with replicas[0].transaction() as store:
        assert await store.first_time("slack:Ev123", now=START + timedelta(minutes=6), ttl=timedelta(minutes=5))
    for db in replicas:
        await db.dispose()


async def test_room_addresses_survive_a_restart(database_url: str) -> None:
    db = Database(database_url)
    await db.upgrade()
    async with db.transaction() as store:
        await store.save_room_address("19:abc@thread.tacv2", "teams", {"serviceUrl": "http://x"}, now=START)
        await store.save_room_address("19:abc@thread.tacv2", "teams", {"serviceUrl": "http://y"}, now=START)
    await db.dispose()
    again = Database(database_url)
    async with again.transaction() as store:
        assert await store.room_address("19:abc@thread.tacv2") == {"serviceUrl": "http://y"}
        assert await store.room_address("nowhere") is None
        assert list(await store.room_addresses("teams")) == ["19:abc@thread.tacv2"]
    await again.dispose()


async def test_a_short_lived_key_does_not_expire_longer_lived_ones_and_a_key_can_be_forgotten(
    database_url: str,
) -> None:
    db = Database(database_url)
    await db.upgrade()
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    async with db.transaction() as store:
        assert await store.first_time("slack:event:Ev1", now=START, ttl=hour)
        assert await store.first_time("slack:command:abc", now=START + timedelta(minutes=5), ttl=minute)
        assert not await store.first_time("slack:event:Ev1", now=START + timedelta(minutes=5), ttl=hour)
        await store.forget("slack:command:abc")
        assert await store.first_time("slack:command:abc", now=START + timedelta(minutes=5), ttl=minute)
        assert await store.first_time("slack:event:Ev1", now=START + timedelta(hours=2), ttl=hour)
    await db.dispose()
