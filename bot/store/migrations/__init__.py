"""Alembic migrations, run in-process by `warroom db upgrade` and on start for the embedded default."""

from __future__ import annotations

from pathlib import Path

# isort: off
from bot.store.migrations.quiet import quiet_alembic  # before Alembic is imported: it logs as it loads its plugins

quiet_alembic()
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

# isort: on

quiet_alembic()  # and every logger Alembic made while loading

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
