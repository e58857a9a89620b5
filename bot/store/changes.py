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

Per incident: each writing transaction also says which incidents it changed (`payload`): in its NOTIFY on
PostgreSQL, in a row of `change_log` on SQLite (read by the same probe when `data_version` moves). `mark()` taken
before a read, and `unchanged_since(mark, incident)` after, tell whether anything that incident shows changed
since: a commit on INC-2 leaves INC-1's kept answers good. A commit that cannot say which incidents it changed (a
writer that does not tell, a gap in what was heard) counts as a change to every incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Hashable, Iterable
from typing import Any, NamedTuple

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
CHANNEL = "warroom_changed"
PING_EVERY = 10.0  # seconds between two checks that the LISTEN connection still answers
RECONNECT_MAX = 30.0  # seconds between two attempts to listen again while PostgreSQL is unreachable
ANY = "*"  # a payload: the commit may have changed any incident
NONE = "-"  # a payload: the commit changed nothing an answer shows (accepted commands, tokens, sign-in drafts)
MAX_PAYLOAD = 4000  # characters: PostgreSQL refuses a NOTIFY payload of 8000 bytes; longer lists say ANY


def payload(incidents: Iterable[int] | None) -> str:
    """What a commit says it changed: the incidents' numbers, ANY when it cannot tell (None), NONE for none."""
    if incidents is None:
        return ANY
    text = ",".join(str(n) for n in sorted(set(incidents)))
    if not text:
        return NONE
    return text if len(text) <= MAX_PAYLOAD else ANY


class Mark(NamedTuple):
    """Where the changes stood when a read began."""

    version: Hashable
    epoch: int
    seq: int


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
        self._seq = 0  # changes told (by this process or heard of), each numbered
        self._last: dict[int, int] = {}  # incident: the number of the last change told of it
        self._last_any = 0  # the number of the last change that may have touched any incident
        self._data_version: int | None = None  # SQLite: the data_version change_log was last read at
        self._log_seq = 0  # SQLite: the last change_log row read

    def committed(self, incidents: Iterable[int] | None = None) -> None:
        """This process committed a write (to ``incidents``; None: perhaps any): known here at once, whatever the
        notification's delay."""
        self._local += 1
        self._told(payload(incidents))

    def _told(self, said: str) -> None:
        """One commit told what it changed (a `payload`)."""
        if said == NONE:
            return
        self._seq += 1
        if said == ANY or not said:
            self._last_any = self._seq
            return
        try:
            numbers = [int(n) for n in said.split(",")]
        except ValueError:
            self._last_any = self._seq
            return
        for n in numbers:
            self._last[n] = self._seq

    def mark(self) -> Mark | None:
        """Where the changes stand now, taken before a read; None when they cannot be told."""
        version = self.version()  # on SQLite this also reads what other processes told since
        return None if version is None else Mark(version, self._epoch, self._seq)

    def unchanged_since(self, mark: Mark, incident: int | None) -> bool:
        """Whether nothing ``incident`` shows (None: anything at all) changed since ``mark`` was taken."""
        version = self.version()
        if version is None or incident is None:
            return version is not None and version == mark.version
        return self._epoch == mark.epoch and max(self._last_any, self._last.get(incident, 0)) <= mark.seq

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
                self._epoch += 1  # what was heard before (if anything) is not continued: a new start
                self._data_version = None
            row = self._probe.execute("PRAGMA data_version").fetchone()
            if row[0] != self._data_version:
                self._read_log(self._probe, first=self._data_version is None)
                self._data_version = row[0]
        except sqlite3.Error:
            return None
        return (self._local, row[0])

    def _read_log(self, probe: sqlite3.Connection, *, first: bool) -> None:
        """What the commits since the last look said they changed (change_log), by this process or another."""
        try:
            if first:
                self._log_seq = probe.execute("SELECT coalesce(max(seq), 0) FROM change_log").fetchone()[0]
                return
            rows = probe.execute(
                "SELECT seq, incidents FROM change_log WHERE seq > ? ORDER BY seq", (self._log_seq,)
            ).fetchall()
        except sqlite3.OperationalError:  # no change_log yet (a schema before it): any change may be anyone's
            self._told(ANY)
            return
        if not rows or rows[0][0] != self._log_seq + 1:
            # a commit that wrote no row (a writer that does not tell) or rows already pruned: it may be anyone's
            self._told(ANY)
        for seq, said in rows:
            self._told(said)
            self._log_seq = seq

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

    def _notified(self, _connection: Any, _pid: int, _channel: str, said: str) -> None:
        self._heard += 1
        self._told(said)  # an empty payload (a writer that does not say): perhaps any incident
