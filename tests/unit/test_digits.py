"""Numbers are read in ASCII digits only: `int()` and `isdigit()` disagree on '²', and dateutil reads '١٠' as 10."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from adapters.teams.pacing import retry_after
from bot.commands import parse, parse_amount
from bot.errors import BadInput
from bot.when import parse_duration, parse_when

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["١h", "²h", "3²m", "¹bd", "tomorrow ١٠:٠٠", "fri ١٧:٠٠", "2026-11-2٥", "٢٥ nov", "١٠:٠٠"]
)
def test_a_time_in_other_digits_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(BadInput, match="0-9"):
        parse_when(text, now=NOW, tz=ZoneInfo("UTC"))


@pytest.mark.parametrize("text", ["١h", "²h", "1h٣٠m"])
def test_a_duration_in_other_digits_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(BadInput, match="0-9"):
        parse_duration(text)


@pytest.mark.parametrize(
    "command",
    [
        'open "Registers down" sev:²',
        'open "Registers down" sev:١',
        "sev ²",
        "sev ٣",
        "status INC-١",
        "vendor heard V١ shipping friday",
        "commit kept C٢",
        'commit "unit on site" due:1d needs:V١',
        "update told them tells:B١",
        'open "Registers down" cost:١٠k/h',
    ],
)
def test_numbers_in_other_digits_are_bad_input(command: str) -> None:
    with pytest.raises(BadInput):
        parse(command)


@pytest.mark.parametrize("text", ["١٠٠", "²", "1²", "١k"])
def test_amounts_are_ascii_digits(text: str) -> None:
    with pytest.raises(BadInput, match="as an amount"):
        parse_amount(text)


def test_a_retry_after_in_other_digits_is_unreadable_not_a_crash() -> None:
    assert retry_after({"Retry-After": "²"}) is None
    assert retry_after({"Retry-After": "١٢"}) is None
    assert retry_after({"Retry-After": "1.5"}) == 1.5
