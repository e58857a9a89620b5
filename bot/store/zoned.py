"""Stored lines read in the incident's zone of now: a line written before `set tz:` named its times in the zone of
then, and one view shows one zone."""

from __future__ import annotations

import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import EventKind
from bot.store.tables import EventRow, IncidentRow
from bot.zones import is_key, rezone

_KEY = re.compile(r"[A-Z][A-Za-z_]+(?:/[A-Za-z_+-]+)+")


async def in_zone_of_now(session: AsyncSession, number: int) -> Callable[[str], str]:
    """A function showing a stored line of incident ``number`` in its zone of now. The zones it had before (named
    where it changed) read an abbreviation of two offsets (CST) as it was meant."""
    zone = (await session.execute(select(IncidentRow.timezone).where(IncidentRow.number == number))).scalar()
    if zone is None:
        return lambda text: text
    changes = select(EventRow.text, EventRow.data).where(
        EventRow.incident == number, EventRow.kind == EventKind.CHANGED.value
    )
    named = [k for text, data in (await session.execute(changes)).all() for k in _KEY.findall(f"{text} {data}")]
    hints = tuple(dict.fromkeys(k for k in (zone, *named) if is_key(k)))
    tz = ZoneInfo(zone)
    return lambda text: rezone(text, tz, hints=hints)
