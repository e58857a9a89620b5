"""Whether anything in the database changed since a moment ago, told without a query.

Read-only answers are kept in memory (bot/answers.py) for as long as the data they show has not changed. That
needs a cheap, honest "has anything changed?" for every writer — this process, another replica, `warroom tick`:

- SQLite: `PRAGMA data_version` on a connection of our own that never writes. SQLite changes that number whenever
  any other connection commits, in this process or another, and reads it from the WAL index in shared memory —
  microseconds, no lock, no thread hop.
- PostgreSQL: every transaction that writes sends `NOTIFY warroom_changed` as it commits (Database.transaction);
  one connection per process LISTENs and counts. While that connection is down nothing can be told, so nothing
  is served from memory until it is back (and what was kept before it dropped is forgotten).

`version()` returns a token that differs after any commit, or None when it cannot tell (an in-memory SQLite
database, a LISTEN connection that is down): None means "read the database".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Hashable
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
CHANNEL = "warroom_changed"
PING_EVERY = 10.0  # seconds between two checks that the LISTEN connection still answers
RECONNECT_MAX = 30.0  # seconds between two attempts to listen again while PostgreSQL is unreachable


class Changes:
    """The change token of one database, and this process's own commits (counted at once, before any NOTIFY)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self._local = 0
        self._probe: sqlite3.Connection | None = None
        self._sqlite_path: str | None = None
        if self.dialect == "sqlite":
            path = parsed.database or ""
            if path and path != ":memory:" and not path.startswith("file::memory:") and "mode=memory" not in path:
                self._sqlite_path = path
        self._dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._heard = 0  # NOTIFYs received
        self._epoch = 0  # LISTEN (re)connections: what was kept across a gap is not trusted
        self._listening = False
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    def committed(self) -> None:
        """This process committed a write: known here at once, whatever the notification's delay."""
        self._local += 1

    def version(self) -> Hashable | None:
        if self.dialect == "sqlite":
            return self._sqlite_version()
        if self.dialect == "postgresql":
            return self._postgres_version()
        return None

    async def close(self) -> None:
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    # --- SQLite ------------------------------------------------------------------------------------

    def _sqlite_version(self) -> Hashable | None:
        if self._sqlite_path is None:
            return None
        try:
            if self._probe is None:
                # Autocommit, so no read transaction stays open and every PRAGMA sees the newest commit; a busy
                # file answers at once with an error (timeout 0) instead of blocking the event loop.
                self._probe = sqlite3.connect(
                    self._sqlite_path, timeout=0, isolation_level=None, check_same_thread=False
                )
            row = self._probe.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return (self._local, row[0])

    # --- PostgreSQL --------------------------------------------------------------------------------

    def _postgres_version(self) -> Hashable | None:
        if self._closed:
            return None
        if self._listener is None:
            try:
                self._listener = asyncio.get_running_loop().create_task(self._listen(), name="warroom-changes")
            except RuntimeError:
                return None
        if not self._listening:
            return None
        return (self._local, self._epoch, self._heard)

    async def _listen(self) -> None:
        import asyncpg

        wait = 1.0
        while not self._closed:
            lost = asyncio.Event()
            connection: Any = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=5)
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._notified)
                self._epoch += 1
                self._listening = True
                wait = 1.0
                while not lost.is_set():  # a connection that went silent is noticed by a ping, not only a reset
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=PING_EVERY)
                        break
                    await connection.execute("SELECT 1", timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # unreachable, refused, dropped: nothing is served from memory meanwhile
                log.warning("cannot listen for database changes (%s); answers are read from the database", err)
            finally:
                self._listening = False
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=1)
            await asyncio.sleep(wait)
            wait = min(wait * 2, RECONNECT_MAX)

    def _notified(self, *_args: Any) -> None:
        self._heard += 1
