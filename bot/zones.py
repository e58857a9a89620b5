"""Time zones by name: an IANA key, or a city or a country that names one zone (`Paris`, `London`, `Tokyo`).

The names come from the data a zone database already carries: the IANA keys (their last part is a city) and
CLDR's countries and their zones, through Babel. Two zones that keep the same time from now on (Berlin and
Büsingen) are one zone to a person; a name whose zones keep different times (Australia) is ambiguous.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.core import get_global

from bot.errors import BadInput
from bot.when import format_when

_EXAMPLE = "set tz:Europe/Paris"
# Everyday names for countries that CLDR spells otherwise
_COUNTRY_ALIASES = {"usa": "US", "america": "US", "uk": "GB", "britain": "GB", "great britain": "GB", "england": "GB"}
_FROM = datetime(2026, 1, 1, 12, tzinfo=UTC)  # zones compared over a year of weekly instants: today's rules


def find_zone(text: str) -> str:
    """The IANA key ``text`` names: the key itself (any case), a city (`Paris`) or a country (`Japan`, `FR`).

    A name that fits zones keeping different times raises BadInput listing them; so does an unknown name."""
    typed = text.strip()
    if not typed or typed.startswith(("/", ".")) or ".." in typed or len(typed) > 64:
        raise BadInput(f"'{typed[:40]}' is not a time zone", example=_EXAMPLE)
    key = _keys().get(typed.casefold())
    name = _plain(typed)
    found = _cities().get(name, ()) + _countries().get(name, ())
    if key is not None:  # `Japan` and `GB` are old IANA keys too: the zone they name now is the one to keep
        return zones[0] if "/" not in key and found and len(zones := _distinct(found, name)) == 1 else key
    if not found:
        close = difflib.get_close_matches(name, [*_cities(), *_countries()], n=1, cutoff=0.8)
        hint = f" (did you mean {_title(close[0])}?)" if close else ""
        raise BadInput(
            f"'{typed[:40]}' is not a time zone I know{hint}: give an IANA name or a city or country naming one zone",
            example=_EXAMPLE,
        )
    zones = _distinct(found, name)
    if len(zones) > 1:
        raise BadInput(
            f"'{typed[:40]}' has {len(zones)} time zones: {', '.join(zones)}; say which", example=f"set tz:{zones[0]}"
        )
    return zones[0]


def _distinct(zones: tuple[str, ...], name: str) -> list[str]:
    """One zone for each way of keeping time among ``zones`` (east to west): the city named, else the best known."""
    groups: dict[tuple[timedelta | None, ...], list[str]] = {}
    for zone in dict.fromkeys(zones):
        groups.setdefault(_behaviour(zone), []).append(zone)
    golden, rank = _golden(), _rank()
    named = _cities().get(name, ())
    chosen = [min(g, key=lambda z: (z not in named, z not in golden, rank.get(z, 999), z)) for g in groups.values()]
    return sorted(chosen, key=lambda z: (-(_behaviour(z)[0] or timedelta(0)), z))


@cache
def _behaviour(zone: str) -> tuple[timedelta | None, ...]:
    tz = ZoneInfo(zone)
    return tuple((_FROM + timedelta(weeks=w)).astimezone(tz).utcoffset() for w in range(53))


@cache
def _keys() -> dict[str, str]:
    return {k.casefold(): k for k in available_timezones()}


@cache
def _golden() -> frozenset[str]:
    """The zone standing for each region (New York for the US east), as CLDR maps Windows' zones."""
    return frozenset(get_global("windows_zone_mapping").values())


@cache
def _rank() -> dict[str, int]:
    """Each zone's place among its country's in the IANA zone.tab, which lists the main one (Madrid) first."""
    try:
        table = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, OSError):
        return {}
    rows = [line.split("\t") for line in table.splitlines() if line and not line.startswith("#")]
    return {row[2]: i for i, row in enumerate(rows) if len(row) > 2}


@cache
def _cities() -> dict[str, tuple[str, ...]]:
    """`paris` → (`Europe/Paris`,): the city each zone is named after, older names (`calcutta`) too."""
    aliases: Mapping[str, str] = get_global("zone_aliases")
    cities: dict[str, tuple[str, ...]] = {}
    zones = available_timezones()  # once: it walks the zone files, and 600 walks took minutes on a busy machine
    for zone in sorted(zones):
        if "/" not in zone or zone.startswith(("Etc/", "SystemV/", "US/", "Canada/", "Brazil/", "Mexico/", "Chile/")):
            continue
        canonical = aliases.get(zone, zone)
        if canonical not in zones:
            continue
        city = _plain(zone.rsplit("/", 1)[1])
        if canonical not in cities.get(city, ()):
            cities[city] = (*cities.get(city, ()), canonical)
    return cities


@cache
def _countries() -> dict[str, tuple[str, ...]]:
    """`japan` and `jp` → (`Asia/Tokyo`,): each country's zones, by its English name and its ISO code."""
    by_code: Mapping[str, list[str]] = get_global("territory_zones")
    names = Locale("en").territories
    known = available_timezones()
    countries: dict[str, tuple[str, ...]] = {}
    for code, zones in by_code.items():
        usable = tuple(z for z in zones if z in known)
        if len(code) != 2 or not usable:
            continue
        countries[code.casefold()] = usable
        if code in names:
            countries[_plain(names[code])] = usable
    for alias, code in _COUNTRY_ALIASES.items():
        if code in by_code:
            countries[alias] = tuple(z for z in by_code[code] if z in known)
    return countries


def _plain(name: str) -> str:
    """`São_Paulo` → `sao paulo`: how a name is compared (case, accents, underscores and hyphens aside)."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return " ".join(bare.replace("_", " ").replace("-", " ").casefold().split())


def _title(name: str) -> str:
    return name.upper() if len(name) == 2 else name.title()


# How bot.when.format_when writes an instant: `Thu 5 Mar 2026 12:00 EST` (a zone abbreviation, or `+03`)
_SHOWN = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d{2}):(\d{2}) ([A-Z]{2,5}|[+-]\d{2,4})\b"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def is_key(name: str) -> bool:
    """Whether ``name`` is an IANA key exactly as written."""
    return name in _known()


@cache
def _known() -> frozenset[str]:
    """Every IANA key: listing them walks the zone files on disk (a quarter of a second), so it is done once."""
    return frozenset(available_timezones())


def instants(text: str, *, hints: tuple[str, ...] = ()) -> list[tuple[int, int, datetime]]:
    """Where ``text`` writes an instant as bot.when.format_when does: (start, end, the aware instant). An
    abbreviation that names two offsets (CST) is read in the first of ``hints`` that uses it, else skipped."""
    found = []
    for match in _SHOWN.finditer(text):
        day, month, year, hour, minute, abbreviation = match.groups()
        try:
            local = datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute))  # noqa: DTZ001
        except ValueError:
            continue
        if (offset := _offset(local, abbreviation, hints)) is not None:
            found.append((match.start(), match.end(), local.replace(tzinfo=timezone(offset)).astimezone(UTC)))
    return found


def rezone(text: str, tz: ZoneInfo, *, hints: tuple[str, ...] = ()) -> str:
    """``text`` with every instant written in it shown again in ``tz``: a line written before a change of zone
    reads in the zone every view shows now."""
    parts, last = [], 0
    for start, end, at in instants(text, hints=hints):
        parts += [text[last:start], format_when(at, tz)]
        last = end
    return "".join(parts) + text[last:]


@cache
def _offset(local: datetime, abbreviation: str, hints: tuple[str, ...]) -> timedelta | None:
    """The UTC offset ``abbreviation`` stood for at ``local``: in a hinted zone, else in every zone that uses it."""
    for zones in (hints, _users(abbreviation, local.year)):
        offsets = {
            at.utcoffset()
            for zone in zones
            for fold in (0, 1)
            if (at := local.replace(tzinfo=ZoneInfo(zone), fold=fold)).tzname() == abbreviation
        }
        if offsets:
            return offsets.pop() if len(offsets) == 1 else None
    return None


@cache
def _users(abbreviation: str, year: int) -> tuple[str, ...]:
    """The zones that write ``abbreviation`` at some time of ``year``."""
    weeks = [datetime(year, 1, 1, 12, tzinfo=UTC) + timedelta(weeks=w) for w in range(53)]
    return tuple(
        z
        for z in sorted(available_timezones())
        if any(w.astimezone(ZoneInfo(z)).tzname() == abbreviation for w in weeks)
    )
