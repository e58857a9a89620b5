"""Zones by name: what `tz:` and `--tz` accept, and how a line written in an old zone reads in the new one."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.commands import parse_timezone
from bot.errors import BadInput
from bot.zones import rezone


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Paris", "Europe/Paris"),
        ("London", "Europe/London"),
        ("Tokyo", "Asia/Tokyo"),
        ("new york", "America/New_York"),
        ("São Paulo", "America/Sao_Paulo"),
        ("Calcutta", "Asia/Kolkata"),
        ("europe/paris", "Europe/Paris"),
        ("America/New_York", "America/New_York"),
        ("UTC", "UTC"),
        ("Japan", "Asia/Tokyo"),
        ("Germany", "Europe/Berlin"),
        ("FR", "Europe/Paris"),
        ("UK", "Europe/London"),
    ],
)
def test_a_zone_is_named_by_its_key_a_city_or_a_country(typed: str, zone: str) -> None:
    assert parse_timezone(typed) == zone


def test_a_country_with_several_zones_lists_them_east_to_west() -> None:
    with pytest.raises(BadInput) as err:
        parse_timezone("United States")
    assert str(err.value) == (
        "'United States' has 8 time zones: America/New_York, America/Chicago, America/Denver, America/Phoenix, "
        "America/Los_Angeles, America/Anchorage, America/Adak, Pacific/Honolulu; say which"
        " — e.g. `set tz:America/New_York`"
    )


def test_a_mainland_zone_stands_for_its_country_in_the_candidates() -> None:
    with pytest.raises(BadInput, match="'Spain' has 2 time zones: Europe/Madrid, Atlantic/Canary; say which"):
        parse_timezone("Spain")


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("Pariss", "'Pariss' is not a time zone I know (did you mean Paris?): give an IANA name or a city or country"),
        ("Mars/Olympus", "'Mars/Olympus' is not a time zone I know: give an IANA name or a city or country"),
        ("../etc/passwd", "'../etc/passwd' is not a time zone"),
        ("", "'' is not a time zone"),
    ],
)
def test_an_unknown_zone_is_a_one_line_error_with_an_example(typed: str, error: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_timezone(typed)
    assert str(err.value).startswith(error) and str(err.value).endswith("— e.g. `set tz:Europe/Paris`")


def test_a_line_written_in_the_old_zone_reads_the_same_instant_in_the_new_one() -> None:
    line = "C1 promised: a fix, by Fri 6 Mar 2026 17:00 EST; watched from Sun 1 Nov 2026 01:30 EST"
    assert rezone(line, ZoneInfo("Europe/Paris")) == (
        "C1 promised: a fix, by Fri 6 Mar 2026 23:00 CET; watched from Sun 1 Nov 2026 07:30 CET"
    )


def test_an_abbreviation_of_two_offsets_is_read_in_the_hinted_zone_or_left_alone() -> None:
    line = "due Mon 2 Mar 2026 09:00 CST"
    assert rezone(line, ZoneInfo("Europe/Paris")) == line  # US Central, China or Cuba: not guessed
    assert rezone(line, ZoneInfo("Europe/Paris"), hints=("America/Chicago",)) == "due Mon 2 Mar 2026 16:00 CET"
