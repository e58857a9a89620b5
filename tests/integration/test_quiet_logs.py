"""What the logs say on a start and on /readyz: Alembic's routine lines only at DEBUG, a migration applied at INFO."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.store import Database


def _alembic(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("alembic")]


async def test_alembic_says_nothing_at_info_on_a_start_or_a_readiness_check_once_migrated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        with caplog.at_level(logging.INFO):
            await db.upgrade()  # a new database: the migrations are applied, and that is worth a line
            applied = _alembic(caplog)
            assert applied and all(r.getMessage().startswith("Running upgrade") for r in applied)
            assert all(r.levelno == logging.INFO for r in applied)
            caplog.clear()
            await db.upgrade()  # every later start
            assert await db.at_head()  # every /readyz
            assert _alembic(caplog) == []
        with caplog.at_level(logging.DEBUG):
            assert await db.at_head()
            routine = _alembic(caplog)
            assert routine and {r.levelno for r in routine} == {logging.DEBUG}  # still there for whoever asks
            assert any("Context impl" in r.getMessage() for r in routine)
    finally:
        await db.dispose()
