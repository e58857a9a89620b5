from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import BadInput
from bot.when import BusinessHours, format_duration, format_when, parse_duration, parse_when

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# Tuesday 24 Nov 2026, 09:00 in Berlin (CET, UTC+1).
TUE_0900_BERLIN = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def when(text: str, now: datetime = TUE_0900_BERLIN, tz: ZoneInfo = BERLIN, **kw: frozenset[int]) -> datetime:
    return parse_when(text, now=now, tz=tz, **kw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", utc(2026, 11, 24, 8, 30)),
        ("4h", utc(2026, 11, 24, 12, 0)),
        ("2d", utc(2026, 11, 26, 8, 0)),
        ("1w", utc(2026, 12, 1, 8, 0)),
        ("1h30m", utc(2026, 11, 24, 9, 30)),
        ("1h 30m", utc(2026, 11, 24, 9, 30)),
        ("3bd", utc(2026, 11, 27, 8, 0)),
        ("eod", utc(2026, 11, 24, 16, 0)),
        ("today 15:00", utc(2026, 11, 24, 14, 0)),
        ("tomorrow", utc(2026, 11, 25, 8, 0)),
        ("tomorrow 09:00", utc(2026, 11, 25, 8, 0)),
        ("  TOMORROW at 10:30 ", utc(2026, 11, 25, 9, 30)),
        ("fri 17:00", utc(2026, 11, 27, 16, 0)),
        ("friday", utc(2026, 11, 27, 8, 0)),
        ("mon 9am", utc(2026, 11, 30, 8, 0)),
        ("thurs 5:30pm", utc(2026, 11, 26, 16, 30)),
        ("2026-11-25 10:00", utc(2026, 11, 25, 9, 0)),
        ("2026-11-25", utc(2026, 11, 25, 8, 0)),
        ("2026-11-25 9am", utc(2026, 11, 25, 8, 0)),
        ("2026-11-25T10:00:00Z", utc(2026, 11, 25, 10, 0)),
        ("2026-11-25T10:00+01:00", utc(2026, 11, 25, 9, 0)),
        ("2026-11-25t10:00-05:00", utc(2026, 11, 25, 15, 0)),
        ("2026-11-25T10:00", utc(2026, 11, 25, 9, 0)),
        ("25 nov 10:00", utc(2026, 11, 25, 9, 0)),
        ("Nov 25 2026 5pm", utc(2026, 11, 25, 16, 0)),
        ("dec 1", utc(2026, 12, 1, 8, 0)),
        ("in 3 days", utc(2026, 11, 27, 8, 0)),  # how a busy team says it
        ("In 2 hours", utc(2026, 11, 24, 10, 0)),
        ("in 30 mins", utc(2026, 11, 24, 8, 30)),
        ("in 1 week", utc(2026, 12, 1, 8, 0)),
        ("in 3d", utc(2026, 11, 27, 8, 0)),
        ("2 days", utc(2026, 11, 26, 8, 0)),
        ("3 dec", utc(2026, 12, 3, 8, 0)),  # a date, not three of something
    ],
)
def test_every_form_reads_in_the_incident_time_zone(text: str, expected: datetime) -> None:
    assert when(text) == expected


def test_result_is_aware_utc() -> None:
    assert when("tomorrow").tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["someday", "soon", "", "   ", "25:99", "today 25:99", "-2h", "0m", "0bd", "5", "2026", "11/12",
     "today", "fri 5", "nov", "1.5h", "3x", "2026-13-01", "feb 29", "25 nov 10:00 CET", "99999999999w",
     "in 0 days", "in 3 bananas", "in days", "in -2 hours"],
)  # fmt: skip
def test_garbage_is_bad_input_quoting_what_was_typed(text: str) -> None:
    with pytest.raises(BadInput) as caught:
        when(text)
    assert f"'{text.strip()}'" in str(caught.value) or not text.strip()
    assert caught.value.example


@pytest.mark.parametrize("text", ["today 08:00", "2026-11-24 08:59", "2026-11-24T08:00:00Z", "1 jan 2026"])
def test_the_past_is_bad_input(text: str) -> None:
    with pytest.raises(BadInput, match="in the past"):
        when(text)


def test_now_itself_is_not_strictly_after_now() -> None:
    with pytest.raises(BadInput, match="in the past"):
        when("today 09:00")


def test_weekday_today_counts_only_while_the_time_is_ahead() -> None:
    assert when("tue 10:00") == utc(2026, 11, 24, 9, 0)
    assert when("tue 08:00") == utc(2026, 12, 1, 7, 0)
    assert when("tuesday") == utc(2026, 12, 1, 8, 0)  # bare 09:00 equals now, so next week


def test_eod_after_five_is_the_next_business_day() -> None:
    tue_1800 = utc(2026, 11, 24, 17, 0)
    assert when("eod", now=tue_1800) == utc(2026, 11, 25, 16, 0)
    fri_1800 = utc(2026, 11, 27, 17, 0)
    assert when("eod", now=fri_1800) == utc(2026, 11, 30, 16, 0)


def test_business_days_skip_the_weekend() -> None:
    thu_1000 = utc(2026, 11, 26, 9, 0)
    assert when("3bd", now=thu_1000) == utc(2026, 12, 1, 9, 0)
    sat_1000 = utc(2026, 11, 28, 9, 0)
    assert when("1bd", now=sat_1000) == utc(2026, 11, 30, 9, 0)
    assert when("6bd", now=thu_1000) == utc(2026, 12, 4, 9, 0)


def test_business_days_follow_the_given_working_week() -> None:
    sun_to_thu = frozenset({6, 0, 1, 2, 3})
    thu_1000 = utc(2026, 11, 26, 9, 0)
    assert when("1bd", now=thu_1000, business_days=sun_to_thu) == utc(2026, 11, 29, 9, 0)


def test_two_days_keeps_local_time_across_us_spring_forward() -> None:
    fri_1000_est = utc(2026, 3, 6, 15, 0)  # 10:00 EST
    assert when("2d", now=fri_1000_est, tz=NEW_YORK) == utc(2026, 3, 8, 14, 0)  # 10:00 EDT
    assert when("48h", now=fri_1000_est, tz=NEW_YORK) == utc(2026, 3, 8, 15, 0)  # 11:00 EDT


def test_two_days_keeps_local_time_across_eu_fall_back() -> None:
    fri_1000_cest = utc(2026, 10, 23, 8, 0)
    assert when("2d", now=fri_1000_cest) == utc(2026, 10, 25, 9, 0)  # 10:00 CET
    assert when("1bd", now=fri_1000_cest) == utc(2026, 10, 26, 9, 0)


def test_business_day_keeps_local_time_across_us_fall_back() -> None:
    fri_1000_edt = utc(2026, 10, 30, 14, 0)
    assert when("1bd", now=fri_1000_edt, tz=NEW_YORK) == utc(2026, 11, 2, 15, 0)  # 10:00 EST


def test_gap_time_shifts_forward_at_eu_spring_forward() -> None:
    # 02:30 does not exist on 29 Mar in Berlin; it reads as 03:30 CEST.
    assert when("2026-03-29 02:30", now=utc(2026, 3, 28, 0, 0)) == utc(2026, 3, 29, 1, 30)


def test_days_landing_in_a_gap_shift_forward() -> None:
    fri_0230_cet = utc(2026, 3, 27, 1, 30)
    assert when("2d", now=fri_0230_cet) == utc(2026, 3, 29, 1, 30)


def test_gap_time_shifts_forward_at_us_spring_forward() -> None:
    assert when("sun 02:30", now=utc(2026, 3, 7, 12, 0), tz=NEW_YORK) == utc(2026, 3, 8, 7, 30)


def test_ambiguous_time_takes_first_occurrence_at_eu_fall_back() -> None:
    assert when("2026-10-25 02:30", now=utc(2026, 10, 24, 0, 0)) == utc(2026, 10, 25, 0, 30)


def test_ambiguous_time_takes_first_occurrence_at_us_fall_back() -> None:
    sat_noon_edt = utc(2026, 10, 31, 16, 0)
    assert when("tomorrow 01:30", now=sat_noon_edt, tz=NEW_YORK) == utc(2026, 11, 1, 5, 30)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_when("1h", now=datetime(2026, 11, 24, 8, 0), tz=BERLIN)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(hours=48)),
        ("1w", timedelta(days=7)),
        ("1h30m", timedelta(minutes=90)),
        (" 1D 2H ", timedelta(hours=26)),
        ("30min", timedelta(minutes=30)),
        ("3 days", timedelta(days=3)),
        ("2 weeks", timedelta(weeks=2)),
        ("in 2 hours", timedelta(hours=2)),
    ],
)
def test_duration_reads_units(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0m", "0h0m", "-2h", "soon", "3bd", "1.5h", "30", "m", "2h-30m", "-soon"])
def test_zero_negative_or_garbage_duration_is_bad_input(text: str) -> None:
    with pytest.raises(BadInput):
        parse_duration(text)


def test_next_open_inside_hours_is_the_same_instant() -> None:
    hours = BusinessHours(tz=BERLIN)
    assert hours.next_open(utc(2026, 11, 24, 12, 0)) == utc(2026, 11, 24, 12, 0)


def test_next_open_before_start_waits_for_start() -> None:
    assert BusinessHours(tz=BERLIN).next_open(utc(2026, 11, 24, 5, 0)) == utc(2026, 11, 24, 8, 0)


def test_next_open_at_end_is_the_next_morning() -> None:
    tue_1700_cet = utc(2026, 11, 24, 16, 0)
    assert BusinessHours(tz=BERLIN).next_open(tue_1700_cet) == utc(2026, 11, 25, 8, 0)


def test_next_open_skips_the_weekend_across_eu_spring_forward() -> None:
    sat_noon_cet = utc(2026, 3, 28, 11, 0)
    assert BusinessHours(tz=BERLIN).next_open(sat_noon_cet) == utc(2026, 3, 30, 7, 0)  # 09:00 CEST


def test_next_open_accepts_any_zone_across_us_fall_back() -> None:
    fri_1800_edt = datetime(2026, 10, 30, 18, 0, tzinfo=NEW_YORK)
    opens = BusinessHours(tz=NEW_YORK).next_open(fri_1800_edt)
    assert opens == utc(2026, 11, 2, 14, 0)  # 09:00 EST
    assert opens.tzinfo is UTC


def test_next_open_honours_custom_days_and_window() -> None:
    saturdays = BusinessHours(tz=BERLIN, days=frozenset({5}), start=time(10, 0), end=time(12, 0))
    assert saturdays.next_open(utc(2026, 11, 28, 11, 0)) == utc(2026, 12, 5, 9, 0)


def test_next_open_without_days_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        BusinessHours(tz=BERLIN, days=frozenset()).next_open(TUE_0900_BERLIN)


@pytest.mark.parametrize(
    ("at", "tz", "expected"),
    [
        (TUE_0900_BERLIN, BERLIN, "Tue 24 Nov 2026 09:00 CET"),
        (utc(2026, 3, 29, 1, 30), BERLIN, "Sun 29 Mar 2026 03:30 CEST"),
        (utc(2026, 11, 2, 14, 0), NEW_YORK, "Mon 2 Nov 2026 09:00 EST"),
        (TUE_0900_BERLIN, ZoneInfo("UTC"), "Tue 24 Nov 2026 08:00 UTC"),
    ],
)
def test_format_when_shows_local_time_and_zone(at: datetime, tz: ZoneInfo, expected: str) -> None:
    assert format_when(at, tz) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=2, minutes=15), "2h 15m"),
        (timedelta(days=3, hours=4, minutes=5), "3d 4h"),
        (timedelta(days=3, minutes=5), "3d"),
        (timedelta(hours=2), "2h"),
        (timedelta(seconds=59), "0m"),
        (timedelta(seconds=-59), "0m"),
        (-timedelta(hours=2, minutes=15), "-2h 15m"),
        (timedelta(hours=2, minutes=59, seconds=59), "2h 59m"),
    ],
)
def test_format_duration_shows_two_largest_units(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


@pytest.mark.parametrize("text", ["45m", "2h 15m", "3d 4h"])
def test_formatted_durations_read_back(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


def test_bare_time_of_day_is_the_next_time_the_clock_shows_it() -> None:
    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 15:00 in Berlin
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_when("17:00", now=now, tz=berlin) == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    assert parse_when("9am", now=now, tz=berlin) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    with pytest.raises(BadInput):
        parse_when("17", now=now, tz=berlin)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("1d4h", timedelta(days=1, hours=4)),
        ("2h 30m", timedelta(hours=2, minutes=30)),
    ],
)
def test_compound_durations_read_as_due_times_and_durations(text: str, expected: timedelta) -> None:
    now = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    assert parse_when(text, now=now, tz=ZoneInfo("UTC")) == now + expected
    assert parse_duration(text) == expected


def test_a_business_day_cadence_skips_the_weekend_at_the_same_local_time() -> None:
    from bot.when import Every, parse_every

    every = parse_every("1bd")
    assert str(every) == "1bd" and every == Every(business_days=1)
    friday = datetime(2026, 3, 6, 14, 0, tzinfo=UTC)  # 09:00 in New York
    assert every.after(friday, ZoneInfo("America/New_York")) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # EDT now
    assert parse_every("2h30m").after(friday, ZoneInfo("UTC")) == friday + timedelta(hours=2, minutes=30)


CHICAGO = ZoneInfo("America/Chicago")


def test_three_business_days_of_a_vendors_hours_end_three_working_days_later_at_the_same_hour() -> None:
    from bot.when import Every, WorkingTime

    northwind = WorkingTime.of(BusinessHours(tz=CHICAGO, start=time(8, 0), end=time(17, 0)), CHICAGO)
    wed_0900 = datetime(2026, 3, 4, 9, 0, tzinfo=CHICAGO)
    # Thu, Fri and Mon (the weekend uses none of it; clocks go forward on Sunday the 8th)
    three = northwind.amount(Every(business_days=3))
    assert northwind.add(wed_0900, three) == datetime(2026, 3, 9, 9, 0, tzinfo=CHICAGO)


def test_working_time_starts_counting_when_the_vendor_opens() -> None:
    from bot.when import Every, WorkingTime

    northwind = WorkingTime.of(BusinessHours(tz=CHICAGO, start=time(8, 0), end=time(17, 0)), CHICAGO)
    sun_2000 = datetime(2026, 3, 1, 20, 0, tzinfo=CHICAGO)
    assert northwind.add(sun_2000, timedelta(0)) == datetime(2026, 3, 2, 8, 0, tzinfo=CHICAGO)
    # the whole of Wednesday's hours: the deadline is Wednesday's closing time, not Thursday's opening
    three = northwind.amount(Every(business_days=3))
    assert northwind.add(sun_2000, three) == datetime(2026, 3, 4, 17, 0, tzinfo=CHICAGO)


def test_working_time_between_two_instants_counts_only_open_hours() -> None:
    from bot.when import WorkingTime

    northwind = WorkingTime.of(BusinessHours(tz=CHICAGO, start=time(8, 0), end=time(17, 0)), CHICAGO)
    fri_1600 = datetime(2026, 3, 6, 16, 0, tzinfo=CHICAGO)
    mon_1000 = datetime(2026, 3, 9, 10, 0, tzinfo=CHICAGO)
    assert northwind.between(fri_1600, mon_1000) == timedelta(hours=3)
    assert northwind.between(mon_1000, fri_1600) == timedelta(0)


def test_without_business_hours_working_time_is_every_weekday_all_day() -> None:
    from bot.when import Every, WorkingTime

    weekdays = WorkingTime.of(None, ZoneInfo("UTC"))
    fri_1400 = utc(2026, 11, 27, 14, 0)
    assert weekdays.add(fri_1400, weekdays.amount(Every(business_days=1))) == utc(2026, 11, 30, 14, 0)
    assert weekdays.add(fri_1400, weekdays.amount(Every(timedelta(hours=36)))) == utc(2026, 12, 1, 2, 0)


# Monday 2 March 2026, 09:00 in New York (EST, UTC-5): the console's `--start "2026-03-02 09:00"`.
MON_0900_NEW_YORK = utc(2026, 3, 2, 14, 0)
FRI_0900_NEW_YORK = utc(2026, 3, 6, 14, 0)


def in_new_york(text: str, now: datetime = MON_0900_NEW_YORK) -> str:
    return format_when(parse_when(text, now=now, tz=NEW_YORK), NEW_YORK)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("next friday 17:00", "Fri 6 Mar 2026 17:00 EST"),
        ("this friday", "Fri 6 Mar 2026 09:00 EST"),
        ("friday 17:00", "Fri 6 Mar 2026 17:00 EST"),
        ("next mon", "Mon 9 Mar 2026 09:00 EDT"),  # never today
        ("end of day", "Mon 2 Mar 2026 17:00 EST"),
        ("EOD", "Mon 2 Mar 2026 17:00 EST"),
        ("cob", "Mon 2 Mar 2026 17:00 EST"),
        ("noon", "Mon 2 Mar 2026 12:00 EST"),
        ("tomorrow morning", "Tue 3 Mar 2026 09:00 EST"),
        ("tomorrow afternoon", "Tue 3 Mar 2026 14:00 EST"),
        ("tomorrow evening", "Tue 3 Mar 2026 18:00 EST"),
        ("tomorrow at noon", "Tue 3 Mar 2026 12:00 EST"),
        ("this afternoon", "Mon 2 Mar 2026 14:00 EST"),
        ("this evening", "Mon 2 Mar 2026 18:00 EST"),
        ("tonight", "Mon 2 Mar 2026 18:00 EST"),
        ("fri eod", "Fri 6 Mar 2026 17:00 EST"),
        ("next fri end of day", "Fri 6 Mar 2026 17:00 EST"),
        ("in 4 months", "Thu 2 Jul 2026 09:00 EDT"),
        ("1 month", "Thu 2 Apr 2026 09:00 EDT"),
        ("1mo", "Thu 2 Apr 2026 09:00 EDT"),
        ("12mo", "Tue 2 Mar 2027 09:00 EST"),
        ("2w", "Mon 16 Mar 2026 09:00 EDT"),
        ("in 2 weeks", "Mon 16 Mar 2026 09:00 EDT"),
        ("1d4h", "Tue 3 Mar 2026 13:00 EST"),
        ("1min", "Mon 2 Mar 2026 09:01 EST"),
        ("5m", "Mon 2 Mar 2026 09:05 EST"),
        ("in 3 business days", "Thu 5 Mar 2026 09:00 EST"),
        ("next week", "Mon 9 Mar 2026 09:00 EDT"),
        ("6 mar 17:00", "Fri 6 Mar 2026 17:00 EST"),
        ("6 mar 2026 17:00", "Fri 6 Mar 2026 17:00 EST"),
        ("2026-03-06T17:00", "Fri 6 Mar 2026 17:00 EST"),
        ("2026-03-06T22:00Z", "Fri 6 Mar 2026 17:00 EST"),
    ],
)
def test_phrases_people_type_read_from_monday_morning_in_new_york(text: str, expected: str) -> None:
    assert in_new_york(text) == expected


def test_next_friday_on_a_friday_is_a_week_on_and_friday_alone_is_today() -> None:
    assert in_new_york("next friday 17:00", now=FRI_0900_NEW_YORK) == "Fri 13 Mar 2026 17:00 EDT"
    assert in_new_york("friday 17:00", now=FRI_0900_NEW_YORK) == "Fri 6 Mar 2026 17:00 EST"
    assert in_new_york("this friday 17:00", now=FRI_0900_NEW_YORK) == "Fri 6 Mar 2026 17:00 EST"


def test_noon_after_noon_is_tomorrows() -> None:
    assert in_new_york("noon", now=utc(2026, 3, 2, 18, 0)) == "Tue 3 Mar 2026 12:00 EST"


def test_end_of_day_after_five_is_the_next_business_days() -> None:
    fri_1800 = utc(2026, 3, 6, 23, 0)
    assert in_new_york("end of day", now=fri_1800) == "Mon 9 Mar 2026 17:00 EDT"


def test_a_date_without_the_year_already_gone_is_next_years() -> None:
    dec_28 = utc(2026, 12, 28, 14, 0)
    assert in_new_york("3 jan", now=dec_28) == "Sun 3 Jan 2027 09:00 EST"


@pytest.mark.parametrize(
    ("text", "minutes", "months"),
    [("1m", "one minute", "1mo for a month"), ("4m", "4 minutes", "4mo for 4 months"), ("in 2m", "2 minutes", "")],
)
def test_a_due_time_minutes_away_written_with_m_is_refused_with_both_readings(
    text: str, minutes: str, months: str
) -> None:
    with pytest.raises(BadInput) as caught:
        in_new_york(text)
    n = text.removeprefix("in ").removesuffix("m")
    assert f"'{text}' is {minutes}: write {n}min if you mean it" in str(caught.value)
    assert months in str(caught.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("13mo", "more than a year ahead"),
        ("this morning", "in the past"),  # 09:00 is now
        ("next month", "'next' goes with a weekday"),
        ("next tomorrow", "'next' goes with a weekday"),
        ("0mo", "no time at all"),
        ("fri 5", "time of day"),
        ("11/12", "can't read"),
        ("midnight", "can't read"),
    ],
)
def test_ambiguous_or_out_of_range_phrases_are_refused(text: str, reason: str) -> None:
    with pytest.raises(BadInput, match=reason):
        in_new_york(text)
