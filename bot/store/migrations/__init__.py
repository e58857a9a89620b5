"""Alembic migrations, run in-process by `warroom db upgrade` and on start for the embedded default."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

HERE = Path(__file__).parent


def config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at this folder, optionally bound to an open connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection) -> None:
    """Upgrade to head on an open (sync) connection; called through AsyncConnection.run_sync."""
    command.upgrade(config(connection), "head")


def is_current(connection: Connection) -> bool:
    """True when the database's revision is the newest one."""
    heads = set(ScriptDirectory.from_config(config()).get_heads())
    return set(MigrationContext.configure(connection).get_current_heads()) == heads
