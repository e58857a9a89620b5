"""Shared fixtures: a database on SQLite and on PostgreSQL, a recording chat, a clock that only moves when told."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import text

from bot.store import Database
from bot.store.tables import Base
from tests.mailservers import dovecot  # noqa: F401 - the throwaway Dovecot, for every test that asks for it

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = ROOT / "playbooks"
PG_URL = os.environ.get("WARROOM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("WARROOM_REQUIRE_POSTGRES") == "1"
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run offline by construction: any connection outside loopback fails loudly."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            raise RuntimeError(f"test tried to reach {address!r}; tests must stay on this machine")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


def _pg_admin_url() -> str:
    return PG_URL.replace("postgresql://", "postgresql+asyncpg://", 1) if PG_URL.startswith("postgresql://") else PG_URL


async def _pg_execute(url: str, sql: str) -> None:
    import asyncpg

    parsed = urlparse(url)
    conn = await asyncpg.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.path.lstrip("/") or "postgres",
        timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once; dropped afterwards."""
    name = f"warroom_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_execute(PG_URL, f'CREATE DATABASE "{name}"'))
    except Exception as err:  # asyncpg raises OSError, its own errors, or timeouts
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (WARROOM_REQUIRE_POSTGRES=1) but {PG_URL} is unusable: {err}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({type(err).__name__}); set WARROOM_TEST_POSTGRES_URL")
    parsed = urlparse(PG_URL)
    url = parsed._replace(path=f"/{name}").geturl()

    async def migrate() -> None:
        db = Database(url)
        await db.upgrade()
        await db.dispose()

    asyncio.run(migrate())
    yield url
    asyncio.run(_pg_execute(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database, on each engine in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warroom.db'}"
    url: str = request.getfixturevalue("postgres_url")
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)

    async def wipe() -> None:
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await db.dispose()

    asyncio.run(wipe())
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.upgrade()
    yield database
    await database.dispose()
