"""Alembic's chatter at DEBUG: "Context impl SQLiteImpl.", "Will assume non-transactional DDL." on every start and
every /readyz, "setup plugin …" as it loads, tell an operator nothing. A migration actually applied ("Running upgrade
0014 -> 0015") stays at INFO."""

from __future__ import annotations

import logging

# The loggers Alembic speaks through while it is imported, made first so that they carry the filter from the start.
EARLY = ("alembic.runtime.plugins", "alembic.runtime.migration")


class AtDebug(logging.Filter):
    """An INFO record of Alembic's, but a migration applied, lowered to DEBUG (and dropped unless DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.getMessage().startswith(("Running upgrade", "Running downgrade")):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)  # its level was checked before the change


AT_DEBUG = AtDebug()


def quiet_alembic() -> None:
    """Put the filter on Alembic's loggers: the early ones, and every one that exists by now (idempotent)."""
    for name in EARLY:
        logging.getLogger(name)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (name == "alembic" or name.startswith("alembic.")) and isinstance(logger, logging.Logger):
            logger.addFilter(AT_DEBUG)  # once: a logger keeps one copy of a filter
