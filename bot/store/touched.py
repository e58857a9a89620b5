"""Which incidents a transaction changed: what its commit tells (bot/store/changes.py), so that answers kept about
other incidents stay good.

Every write through the Store is seen here: rows the ORM flushes (each row's incident), and statements run through
the session (the incident they name: the rows they insert, the incidents their caller names in the execution
option INCIDENTS, or their WHERE's `incident = …` / `incident IN (…)`; an UPDATE or DELETE that names none is asked
which incidents its rows belong to). A write to a table no kept answer
shows (accepted commands, API tokens, sign-in drafts …) changes none; one whose incident cannot be told changes any.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BindParameter, event, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList, ColumnElement
from sqlalchemy.sql.schema import Table

# Tables no read-only answer shows: writing them makes no kept answer stale.
UNSHOWN = frozenset(
    {
        "inbox",
        "idempotency_keys",
        "api_tokens",
        "api_requests",
        "form_drafts",
        "mail_in",
        "webhook_subscriptions",
        "webhook_deliveries",
        "room_addresses",
        "change_log",
    }
)
WROTE = "warroom_wrote"  # Connection.info (PostgreSQL): a statement of the transaction in progress may have written
_DML = re.compile(r"\s*(insert|update|delete)\b", re.IGNORECASE)
_READ = re.compile(r"\s*(select|with)\b", re.IGNORECASE)
_NEUTRAL = re.compile(r"\s*(savepoint|release|rollback)\b", re.IGNORECASE)
_LOCKS = re.compile(r"\bfor\s+(no\s+key\s+)?update\b", re.IGNORECASE)
_WRITES = re.compile(r"\b(insert|update|delete|merge|nextval|setval|pg_notify|set_config)\b", re.IGNORECASE)
INCIDENTS = "warroom_incidents"  # execution option: the incidents a write's rows belong to, named by its caller
CHANGES_AT = "warroom_changes_at"  # Connection.info: the rows the connection had changed when its transaction began


class Touched:
    """The incidents one transaction changed; ``anything`` when some write's incident could not be told."""

    def __init__(self) -> None:
        self.incidents: set[int] = set()
        self.anything = False

    @property
    def told(self) -> set[int] | None:
        """The incidents changed, or None for "perhaps any"."""
        return None if self.anything else self.incidents

    def add(self, found: Iterable[Any] | None) -> None:
        if found is None:
            self.anything = True
            return
        for n in found:
            if isinstance(n, int):
                self.incidents.add(n)
            else:
                self.anything = True


def watch(session: AsyncSession) -> Touched:
    """Follow the writes of the transaction of ``session``."""
    touched = Touched()

    def on_execute(state: Any) -> None:
        if not (state.is_insert or state.is_update or state.is_delete):
            return
        if state.execution_options.get("warroom_bookkeeping"):
            return
        table = getattr(state.statement, "table", None)
        if not isinstance(table, Table):
            touched.anything = True
            return
        if table.name in UNSHOWN:
            return
        key = "number" if table.name == "incidents" else "incident"
        if key not in table.c:
            touched.anything = True
            return
        if state.is_insert:
            touched.add(_inserted(state.parameters, key))
            return
        if (named := state.execution_options.get(INCIDENTS)) is not None:
            touched.add(named)  # e.g. the outbox's batched delivery marks: it knows its rows' incidents
            return
        found = _named(state.statement.whereclause, table, key)
        if found is None and state.statement.whereclause is not None:
            # e.g. an outbox row marked sent by its id: its incident is read first (an indexed read of a few rows)
            query = select(table.c[key]).where(state.statement.whereclause).distinct()
            many = state.parameters if isinstance(state.parameters, list) else None  # executemany: once per row
            found = [
                n for params in many or [state.parameters or {}] for n in state.session.execute(query, params).scalars()
            ]
        touched.add(found)

    def after_flush(sync_session: Any, _context: Any) -> None:
        for row in (*sync_session.new, *sync_session.dirty, *sync_session.deleted):
            table = getattr(row, "__tablename__", None)
            if table in UNSHOWN:
                continue
            loaded = inspect(row).dict  # what is loaded: reading it never runs a query
            value = loaded.get("number" if table == "incidents" else "incident")
            touched.add([value] if value is not None else None)

    event.listen(session.sync_session, "do_orm_execute", on_execute)
    event.listen(session.sync_session, "after_flush", after_flush)
    return touched


def _inserted(parameters: Any, key: str) -> list[Any] | None:
    rows = parameters if isinstance(parameters, list) else [parameters] if parameters else []
    found = [r.get(key) for r in rows if isinstance(r, dict)]
    return found if found and len(found) == len(rows) and None not in found else None


def _named(where: ColumnElement[bool] | None, table: Table, key: str) -> list[Any] | None:
    """The incidents a WHERE pins its rows to (`key = …` or `key IN (…)` among its ANDed terms), else None."""
    if where is None:
        return None
    terms = where.clauses if isinstance(where, BooleanClauseList) and where.operator is operators.and_ else [where]
    for term in terms:
        if not isinstance(term, BinaryExpression) or not isinstance(term.right, BindParameter):
            continue
        left = term.left
        if getattr(left, "name", None) != key or getattr(getattr(left, "table", None), "name", None) != table.name:
            continue
        value = term.right.effective_value
        if term.operator is operators.eq:
            return [value]
        if term.operator is operators.in_op and isinstance(value, list | tuple):
            return list(value)
    return None


def count_changes(engine: AsyncEngine) -> None:
    """SQLite: note how many rows each connection had changed when its transaction began, so that the end of the
    transaction can tell whether it changed any (a claim that took nothing changes none, and needs no change_log
    row)."""

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        driver: Any = conn.connection.driver_connection  # aiosqlite's connection
        conn.info[CHANGES_AT] = driver.total_changes


async def changed_rows(session: AsyncSession) -> bool:
    """SQLite: whether the session's transaction changed any row so far (its own statements, whatever they were)."""
    conn = await session.connection()
    driver: Any = (await conn.get_raw_connection()).driver_connection
    return bool(driver.total_changes != conn.info.get(CHANGES_AT))


def count_writes(engine: AsyncEngine) -> None:
    """PostgreSQL: note whether each transaction may have written a row, so that one that did not (a claim or a poll
    that found nothing, a read) is rolled back instead of committed. A SELECT that only locks rows, and an INSERT,
    UPDATE or DELETE that matched none, write nothing; anything else the statement text cannot vouch for did."""

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.info.pop(WROTE, None)

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(conn: Connection, cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        if conn.info.get(WROTE) or _NEUTRAL.match(statement):
            return
        if _READ.match(statement) and not _WRITES.search(_LOCKS.sub("", statement)):
            return
        if _DML.match(statement) and not executemany and cursor.rowcount == 0:
            return
        conn.info[WROTE] = True


async def wrote_rows(session: AsyncSession) -> bool:
    """PostgreSQL: whether the session's transaction may have changed a row so far (see count_writes)."""
    conn = await session.connection()
    return bool(conn.info.get(WROTE))
