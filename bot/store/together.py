"""Several tables' rows for one incident in a single statement: each part a JSON array built by the database, turned
back into the same row objects (and so the same domain values) that a query per table would give.

`status` shows an incident's roles, action items, follow-ups, promises, customer updates, pending update prompt,
posts owed and bad news: one statement instead of one per table, so a read costs one round trip however many
parts it shows."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Numeric, ScalarSelect, Select, Text, cast, func, inspect, literal, select
from sqlalchemy.types import Boolean

from bot.store.tables import Base, UTCDateTime

R = TypeVar("R", bound=Base)


@dataclass(frozen=True)
class Part:
    """One table's rows: ``where`` them, ordered by ``order`` (the columns' attribute names)."""

    table: type[Base]
    where: Sequence[ColumnElement[bool]]
    order: tuple[str, ...] = field(default=())


def json_rows(dialect: str, part: Part) -> ScalarSelect[Any]:
    """A scalar subquery: the part's rows as one JSON array of objects (their columns by attribute name)."""
    pairs: list[Any] = []
    for key, column in inspect(part.table).columns.items():
        pairs += [literal(key), column]
    if dialect == "postgresql":
        inner: Select[Any] = select(func.json_build_object(*pairs).label("j")).where(*part.where)
        # as text: asyncpg would parse JSON itself, and money would come back as floats
        return select(cast(func.json_agg(inner.subquery().c.j), Text)).scalar_subquery()
    inner = select(func.json_object(*pairs).label("j")).where(*part.where)
    rows = inner.subquery()
    return select(func.json_group_array(func.json(rows.c.j))).scalar_subquery()


def from_json(part: Part, data: str | None) -> list[Any]:
    """The part's rows as (detached) row objects, from what `json_rows` made of them, in ``part.order``."""
    if not data:
        return []
    columns = inspect(part.table).columns
    convert: dict[str, Callable[[Any], Any]] = {key: _converter(column.type) for key, column in columns.items()}
    rows = [
        part.table(**{key: None if value is None else convert[key](value) for key, value in item.items()})
        for item in json.loads(data, parse_float=Decimal)
    ]
    if part.order:
        rows.sort(key=lambda r: tuple(getattr(r, k) for k in part.order))
    return rows


def _converter(kind: Any) -> Callable[[Any], Any]:
    if isinstance(kind, UTCDateTime):
        return _moment
    if isinstance(kind, Boolean):
        return bool
    if isinstance(kind, Numeric):
        scale = kind.scale
        return lambda v: Decimal(str(v)).quantize(Decimal(1).scaleb(-scale)) if scale is not None else Decimal(str(v))
    return _as_is


def _moment(value: str) -> datetime:
    """A stored time as JSON has it: SQLite's text (naive UTC), PostgreSQL's ISO 8601 with its offset."""
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _as_is(value: Any) -> Any:
    return value


def together(dialect: str, parts: Mapping[str, Part], scalars: Mapping[str, Any] | None = None) -> Select[Any]:
    """One statement of one row: each part's JSON array, and each of ``scalars`` (scalar subqueries), by name."""
    columns = [json_rows(dialect, part).label(name) for name, part in parts.items()]
    columns += [value.label(name) for name, value in (scalars or {}).items()]
    return select(*columns)
