"""Whatever is typed, the grammar reads a command or says why not: it never raises anything but Warroom's errors."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.commands import Command, parse, parse_amount
from bot.errors import BadInput, WarroomError
from bot.when import parse_duration, parse_when
from tests.fuzzing import AMOUNTS, TIMES, command_lines

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
# Any character at all, lone surrogates included: a JSON body can carry "\ud800".
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)


@settings(max_examples=1000, deadline=None)
@given(line=st.one_of(command_lines(), ANY_TEXT))
@example(line="invite @lee @lee")
@example(line="sev ²")
@example(line='open "x" sev:² cost:99999999999999999999999999999m/h')
def test_any_line_parses_to_a_command_or_a_reason(line: str) -> None:
    try:
        command = parse(line)
    except WarroomError as err:
        assert str(err)
    else:
        assert isinstance(command, Command)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.sampled_from(TIMES), ANY_TEXT, st.from_regex(r"[0-9 a-z:+-]{1,20}", fullmatch=True)))
def test_any_time_is_read_or_refused_with_a_reason(text: str) -> None:
    for zone in ("UTC", "America/New_York"):
        try:
            at = parse_when(text, now=NOW, tz=ZoneInfo(zone))
        except BadInput:
            continue
        assert at > NOW and at.tzinfo is UTC
    try:
        duration = parse_duration(text)
    except BadInput:
        return
    assert duration.total_seconds() > 0


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.sampled_from(AMOUNTS), ANY_TEXT, st.from_regex(r"[$0-9,.km/h ]{1,24}", fullmatch=True)))
@example(text="0.001")  # rounded to the cent it is nothing: refused, not kept as $0.00
def test_any_amount_is_read_or_refused_with_a_reason(text: str) -> None:
    try:
        amount = parse_amount(text, per_hour=True)
    except BadInput:
        return
    assert 0 < amount <= 10**12


@pytest.mark.parametrize("text", ["note a\x00b", "note half a pair \ud800", 'open "x\udfff" sev:2'])
def test_text_no_database_can_store_is_refused_with_its_code_point(text: str) -> None:
    with pytest.raises(BadInput, match=r"not text \(U\+(0000|D800|DFFF)\)"):
        parse(text)
