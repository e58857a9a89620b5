"""Stored lines read in the incident's zone of now: a line written before `set tz:` named its times in the zone of
then, and one view shows one zone."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
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
    return (await in_zones_of_now(session, [number])).get(number, _as_is)


async def in_zones_of_now(session: AsyncSession, numbers: Sequence[int]) -> dict[int, Callable[[str], str]]:
    """`in_zone_of_now` for several incidents at once, in two queries however many there are (a page's)."""
    if not numbers:
        return {}
    query = select(IncidentRow.number, IncidentRow.timezone).where(IncidentRow.number.in_(numbers))
    zones: dict[int, str] = {number: zone for number, zone in (await session.execute(query)).all()}
    changes = select(EventRow.incident, EventRow.text, EventRow.data).where(
        EventRow.incident.in_(numbers), EventRow.kind == EventKind.CHANGED.value
    )
    named: dict[int, list[tuple[str, str | None]]] = {}
    for incident, text, data in (await session.execute(changes)).all():
        named.setdefault(incident, []).append((text, data))
    return {number: zone_of_now(zone, named.get(number, [])) for number, zone in zones.items()}


def zone_of_now(zone: str, changes: Iterable[tuple[str, str | None]]) -> Callable[[str], str]:
    """`in_zone_of_now` from what was already read: the incident's zone and the (text, data) of its `changed`
    events, where the zones it had before are named."""
    named = [k for text, data in changes for k in _KEY.findall(f"{text} {data}")]
    hints = tuple(dict.fromkeys(k for k in (zone, *named) if is_key(k)))
    return _shower(ZoneInfo(zone), hints)


def _shower(tz: ZoneInfo, hints: tuple[str, ...]) -> Callable[[str], str]:
    return lambda text: rezone(text, tz, hints=hints)


def _as_is(text: str) -> str:
    return text
