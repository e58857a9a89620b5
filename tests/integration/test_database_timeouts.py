"""Every wait on the database ends: connecting, a statement, a pooled connection, SQLite's lock.

The limits are shortened here so that the tests are quick; what is checked is that the wait ends with an error
instead of going on until the test gives up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import bot.store
from bot.store import Database
from tests.silent import silent_postgres

GIVE_UP = 20.0  # seconds: far past every shortened limit, far short of the drivers' own defaults


async def ends_in_error(work: Awaitable[Any]) -> BaseException:
    """The error ``work`` ended with, by itself, before the test gives up on it."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=GIVE_UP)
    if task not in done:
        task.cancel()
        raise AssertionError(f"still waiting after {GIVE_UP}s")
    error = task.exception()
    assert error is not None, "it succeeded"
    return error


async def test_connecting_to_a_silent_database_ends_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.store, "CONNECT_TIMEOUT", 0.3)
    async with silent_postgres() as url:
        db = Database(url)
        try:
            assert isinstance(await ends_in_error(db.at_head()), TimeoutError)
        finally:
            await db.dispose()


async def test_a_statement_that_runs_too_long_is_cut_off(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.store, "STATEMENT_TIMEOUT", 0.3)
    db = Database(postgres_url)

    async def sleep() -> None:
        async with db.transaction() as store:
            await store.session.execute(text("SELECT pg_sleep(60)"))

    try:
        assert isinstance(await ends_in_error(sleep()), TimeoutError)
        async with db.transaction() as store:  # and the pool is still usable afterwards
            assert (await store.session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()


async def test_waiting_for_a_pooled_connection_ends_when_all_are_busy(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.store, "POOL_TIMEOUT", 0.3)
    db = Database(postgres_url)
    try:
        async with AsyncExitStack() as busy:
            for _ in range(10):  # pool_size 5 + max_overflow 5
                await busy.enter_async_context(db.engine.connect())
            error = await ends_in_error(db.at_head())
        assert "QueuePool limit" in str(error)
    finally:
        await db.dispose()


async def test_a_write_behind_a_held_sqlite_lock_ends_in_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.store, "SQLITE_BUSY_TIMEOUT", 0.3)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    holder, waiter = Database(url), Database(url)
    await holder.upgrade()

    async def write() -> None:
        async with waiter.transaction() as store:
            await store.session.execute(text("SELECT 1"))

    try:
        async with holder.transaction() as held:
            await held.session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is held from here
            assert "database is locked" in str(await ends_in_error(write()))
    finally:
        await holder.dispose()
        await waiter.dispose()
