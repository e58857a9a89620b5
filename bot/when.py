"""People's times: `30m`, `3bd`, `1mo`, `eod`, `next fri 17:00`, `tomorrow morning`, ISO 8601 — in an incident's zone.

`parse_when` is the one reader of a due time; absolute dates go through dateutil, the spoken phrases around them
(weekdays, parts of the day, durations from now) through the small grammar below. The table of times in
docs/COMMANDS.md lists every phrase and the ambiguous ones refused; keep it in step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta

from bot.errors import BadInput

_EXAMPLE = 'due:"tomorrow 09:00"'
MAX_AHEAD = timedelta(days=366)  # a due time past a year is a typo, not a plan
_ISO_EXAMPLE = 'due:"2026-11-25 10:00"'
_CALENDAR_EXAMPLE = 'due:"25 nov 10:00"'
_DEFAULT_CLOCK = time(9, 0)
_END_OF_DAY = time(17, 0)  # the business end of day: `eod`, `end of day`, `cob`
_END_OF_DAY_WORDS = frozenset({"eod", "end of day", "cob", "close of business", "eob", "end of business"})
# Parts of the day as people promise them: "tomorrow morning" is 09:00, "fri afternoon" 14:00.
_DAY_PARTS = {"morning": time(9, 0), "noon": time(12, 0), "midday": time(12, 0), "afternoon": time(14, 0),
              "evening": time(18, 0), "tonight": time(18, 0)}  # fmt: skip
_NEXT_WEEK = "next week"  # Monday of next week, at the start of the day
# A due time this close written with a bare `m` is more likely a month typed short than a real deadline.
_SHORT_M = timedelta(minutes=5)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# ASCII digits only: `\d` and `isdigit()` also take '١٠' and '²', which int() reads differently or not at all.
_DURATION = re.compile(r"(?:(\d+)w)?\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?", re.ASCII)
_BUSINESS_DAYS = re.compile(r"(\d+)\s*bd", re.ASCII)
_SPOKEN_BUSINESS_DAYS = re.compile(r"(?:in )?(\d+) ?(?:bd|business days?|working days?)", re.ASCII)
_BARE_MINUTES = re.compile(r"(?:in )?(\d+) ?m", re.ASCII)
_MONTHS_AHEAD = re.compile(r"(?:in )?(\d+) ?(?:mo|mos|mths?|months?)", re.ASCII)
# "in 3 days", "2 hours", "in 30 minutes", "in 3d": how people say a duration from now, read as `3d`, `2h`, `30m`
_SPOKEN = re.compile(r"(?:in )?(\d+) ?(m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)", re.ASCII)
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", re.ASCII)
_ISO_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[t ](.+))?", re.ASCII)
# Two defaults that differ in every field we care about: a field equal in both parses came from the text.
_PROBE_A = datetime(2000, 1, 1, 0, 0, tzinfo=UTC)
_PROBE_B = datetime(2004, 2, 2, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class BusinessHours:
    """When a vendor answers: weekdays (0=Monday … 6=Sunday) and a daily window, in ``tz``."""

    tz: ZoneInfo
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    start: time = time(9, 0)
    end: time = time(17, 0)

    def next_open(self, at: datetime) -> datetime:
        """The earliest aware UTC instant >= ``at`` inside business hours."""
        if not self.days:
            raise ValueError("BusinessHours.days is empty")
        if self.start >= self.end:
            raise ValueError(f"BusinessHours.start {self.start} is not before end {self.end}")
        at = _utc(at)
        today = at.astimezone(self.tz).date()
        for offset in range(8):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens, closes = _local(day, self.start, self.tz), _local(day, self.end, self.tz)
            if at < closes and opens < closes:
                return max(opens, at)
        raise AssertionError("a week always contains one of the business days")


@dataclass(frozen=True)
class WorkingTime:
    """The time that counts toward a deadline: a vendor's business hours, or whole working days when it has none.

    "3 business days after the due time" is three working days' worth of this time, counted from the due time:
    a deadline never lands on a closed hour, and a weekend or a night does not use any of it up."""

    tz: ZoneInfo
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    start: time = time(0, 0)
    end: time | None = None  # None: the whole day, to midnight

    @classmethod
    def of(cls, hours: BusinessHours | None, tz: ZoneInfo) -> WorkingTime:
        """The vendor's business hours as working time; without them, every working day in ``tz``, all day."""
        if hours is None:
            return cls(tz)
        return cls(hours.tz, hours.days, hours.start, hours.end)

    @property
    def day(self) -> timedelta:
        """How much working time one working day holds (its wall-clock length, a DST day aside)."""
        opens = datetime.combine(date.min, self.start)
        closes = datetime.combine(date.min + timedelta(days=1), time(0, 0)) if self.end is None else None
        return (closes or datetime.combine(date.min, self.end or time(0, 0))) - opens

    def amount(self, every: Every) -> timedelta:
        """``every`` as working time: business days are whole working days; a duration is itself."""
        return self.day * every.business_days if every.business_days else every.delta

    def add(self, at: datetime, amount: timedelta) -> datetime:
        """The instant when ``amount`` of working time has passed since ``at`` (from its first open moment)."""
        at, left = _utc(at), amount
        for opens, closes in self._windows(at):
            begin = max(opens, at)
            if begin >= closes:
                continue
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
        raise AssertionError("the windows of working time never end")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """How much working time lies between two instants (nothing when ``end`` is not after ``start``)."""
        start, end, total = _utc(start), _utc(end), timedelta(0)
        if end <= start:
            return total
        for opens, closes in self._windows(start):
            if opens >= end:
                return total
            total += max(timedelta(0), min(closes, end) - max(opens, start))
        raise AssertionError("the windows of working time never end")

    def _windows(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Each working day's open window, from the day ``at`` falls on, in order."""
        if not self.days:
            raise ValueError("WorkingTime.days is empty")
        day = _utc(at).astimezone(self.tz).date()
        while True:
            if day.weekday() in self.days:
                closes = day + timedelta(days=1) if self.end is None else day
                yield _local(day, self.start, self.tz), _local(closes, self.end or time(0, 0), self.tz)
            day += timedelta(days=1)


def parse_when(
    text: str, *, now: datetime, tz: ZoneInfo, business_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
) -> datetime:
    """Read a person's time expression as an aware UTC datetime strictly after ``now``."""
    now = _utc(now)
    shown = text.strip()
    _require_ascii_digits(shown, _EXAMPLE)
    try:
        at = _read_when(" ".join(shown.lower().split()), shown, now=now, tz=tz, business_days=business_days)
    except OverflowError:
        raise BadInput(f"'{shown}' is too far away", example=_EXAMPLE) from None
    if at <= now:
        raise BadInput(f"'{shown}' is in the past ({format_when(at, tz)})", example=_EXAMPLE)
    if at > now + MAX_AHEAD:
        raise BadInput(f"'{shown}' is more than a year ahead ({format_when(at, tz)})", example=_EXAMPLE)
    return at


def parse_duration(text: str) -> timedelta:
    """Read `30m`, `30min`, `4h`, `2d`, `1w` (also combined: `1h30m`; or said: `3 days`) as a positive timedelta."""
    shown = text.strip()
    _require_ascii_digits(shown, "1h30m")
    s = " ".join(shown.lower().split())
    if spoken := _SPOKEN.fullmatch(s):
        s = f"{spoken[1]}{spoken[2][0]}"
    weeks, days, hours, minutes = _read_duration(s, shown)
    try:
        return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    except OverflowError:
        raise BadInput(f"'{shown}' is too long", example="1h30m") from None


@dataclass(frozen=True)
class Every:
    """How often a chase repeats: a duration (`4h`), or a number of business days (`1bd`: same local time on the
    next working day, weekends skipped)."""

    delta: timedelta = timedelta(0)
    business_days: int = 0

    def after(self, at: datetime, tz: ZoneInfo, days: frozenset[int] = frozenset({0, 1, 2, 3, 4})) -> datetime:
        """The next time after ``at``; business days are counted in ``tz`` on the working ``days``."""
        if not self.business_days:
            return at + self.delta
        local = _utc(at).astimezone(tz)
        return _local(_after_business_days(local.date(), self.business_days, days), local.time(), tz)

    @property
    def approximate(self) -> timedelta:
        """A duration standing for it where one is needed (a draft's "by"): a business day is a day."""
        return timedelta(days=self.business_days) if self.business_days else self.delta

    def __str__(self) -> str:
        return f"{self.business_days}bd" if self.business_days else format_duration(self.delta)


MIN_EVERY = timedelta(minutes=15)  # a chase more often than this floods the room
MAX_EVERY = timedelta(days=30)
MAX_EVERY_BUSINESS_DAYS = 20


def parse_every(text: str, *, example: str = "every:4h") -> Every:
    """A chase cadence as people type it: `30m`, `4h`, `1d`, `2h30m`, or `1bd` (one business day)."""
    shown = text.strip()
    _require_ascii_digits(shown, example)
    if match := _BUSINESS_DAYS.fullmatch(shown.lower()):
        days = int(match[1])
        if not 1 <= days <= MAX_EVERY_BUSINESS_DAYS:
            raise BadInput(f"'{shown}' must be 1 to {MAX_EVERY_BUSINESS_DAYS} business days", example=example)
        return Every(business_days=days)
    try:
        delta = parse_duration(shown)
    except BadInput as err:
        raise BadInput(f"{err.reason} (a cadence is like 30m, 4h, 1d or 1bd)", example=example) from None
    if not MIN_EVERY <= delta <= MAX_EVERY:
        raise BadInput(
            f"'{shown}' is not a cadence: chase every {format_duration(MIN_EVERY)} at the most often, every "
            f"{format_duration(MAX_EVERY)} at the least",
            example=example,
        )
    return Every(delta=delta)


def format_when(at: datetime, tz: ZoneInfo) -> str:
    """Show an instant in a time zone, e.g. `Tue 24 Nov 2026 09:00 CET`."""
    local = _utc(at).astimezone(tz)
    weekday = _WEEKDAYS[local.weekday()][:3].title()
    return f"{weekday} {local.day} {_MONTHS[local.month - 1]} {local.year} {local:%H:%M} {local:%Z}"


def format_duration(delta: timedelta) -> str:
    """Show a duration the way people say it: `45m`, `2h 15m`, `3d 4h`."""
    minutes = abs(delta) // timedelta(minutes=1)  # truncated: "2h 59m" until it really is 3h
    if minutes == 0:
        return "0m"
    days, rest = divmod(minutes, 24 * 60)
    units = [(days, "d"), *zip(divmod(rest, 60), "hm", strict=True)]
    first = next(i for i, (n, _) in enumerate(units) if n)
    sign = "-" if delta < timedelta(0) else ""
    return sign + " ".join(f"{n}{unit}" for n, unit in units[first : first + 2] if n)


def _read_when(s: str, shown: str, *, now: datetime, tz: ZoneInfo, business_days: frozenset[int]) -> datetime:
    if not s:
        raise BadInput("The time is empty", example=_EXAMPLE)
    local = now.astimezone(tz)
    if (bare := _BARE_MINUTES.fullmatch(s)) and timedelta(0) < timedelta(minutes=int(bare[1])) < _SHORT_M:
        n = int(bare[1])
        short, long = ("one minute", "a month") if n == 1 else (f"{n} minutes", f"{n} months")
        raise BadInput(f"'{shown}' is {short}: write {n}min if you mean it, {n}mo for {long}", example=f"{n}min")
    if months_ahead := _MONTHS_AHEAD.fullmatch(s):
        if int(months_ahead[1]) == 0:
            raise BadInput(f"'{shown}' is no time at all", example='due:"in 2 months"')
        return _local(local.date() + relativedelta(months=int(months_ahead[1])), local.time(), tz)
    if spoken := _SPOKEN_BUSINESS_DAYS.fullmatch(s):
        s = f"{spoken[1]}bd"
    elif spoken := _SPOKEN.fullmatch(s):
        s = f"{spoken[1]}{spoken[2][0]}"
    if match := _BUSINESS_DAYS.fullmatch(s):
        if int(match[1]) == 0:
            raise BadInput(f"'{shown}' is zero business days", example='due:"3bd"')
        day = _after_business_days(local.date(), int(match[1]), business_days)
        return _local(day, local.time(), tz)
    if _is_number(s.lstrip("-")[:1]) and _DURATION.fullmatch(s.removeprefix("-")):
        weeks, days, hours, minutes = _read_duration(s, shown)
        # Days follow the wall clock (2d is "same time, two days on" across DST); hours and minutes elapse.
        on = _local(local.date() + relativedelta(days=7 * weeks + days), local.time(), tz)
        return on + timedelta(hours=hours, minutes=minutes)
    if s in _END_OF_DAY_WORDS:
        at = _local(local.date(), _END_OF_DAY, tz)
        if at > now:
            return at
        return _local(_after_business_days(local.date(), 1, business_days), _END_OF_DAY, tz)
    if s == _NEXT_WEEK:
        return _local(local.date() + relativedelta(days=1, weekday=0), _DEFAULT_CLOCK, tz)
    if s in ("noon", "midday") or (_CLOCK.fullmatch(s) and not _is_number(s)):
        # A bare time of day ("17:00", "5pm", "noon") is the next time the clock shows it: today, else tomorrow.
        clock = _read_clock(s, shown, bare_ok=False)
        at = _local(local.date(), clock, tz)
        return at if at > now else _local(local.date() + timedelta(days=1), clock, tz)
    if (day_phrase := _read_day_phrase(s, shown, local=local, tz=tz)) is not None:
        return day_phrase
    if match := _ISO_DATE.fullmatch(s):
        return _read_iso(s, match, shown, tz)
    return _read_calendar(s, shown, local=local, tz=tz)


def _read_day_phrase(s: str, shown: str, *, local: datetime, tz: ZoneInfo) -> datetime | None:
    """`tomorrow morning`, `today 15:00`, `fri 17:00`, `this friday`, `next fri eod`, `this afternoon`; else None.

    A weekday alone (or after "this") is the next one whose time is still ahead: today while it is. "next" is the
    first one after today, never today: on Monday 2 March "next friday" is Friday 6 March, on Friday 6 March it is
    Friday 13 March."""
    if s == "tonight":
        s = "this evening"
    qualifier, _, rest = s.partition(" ")
    if qualifier not in ("this", "next"):
        qualifier, rest = "", s
    if qualifier == "this" and rest in _DAY_PARTS:
        return _local(local.date(), _DAY_PARTS[rest], tz)
    word, _, rest = rest.partition(" ")
    weekday = _weekday(word)
    if weekday is None and (qualifier or word not in ("today", "tomorrow")):
        if qualifier:
            raise BadInput(f"I can't read '{shown}': '{qualifier}' goes with a weekday", example='due:"next fri 17:00"')
        return None
    clock = _read_clock(rest.removeprefix("at ").strip(), shown, bare_ok=word != "today")
    if weekday is None:
        return _local(local.date() + timedelta(days=1 if word == "tomorrow" else 0), clock, tz)
    if qualifier == "next":
        return _local(local.date() + relativedelta(days=1, weekday=weekday), clock, tz)
    day = local.date() + relativedelta(weekday=weekday)
    at = _local(day, clock, tz)
    return at if at > local else _local(day + relativedelta(weeks=1), clock, tz)


def _read_duration(s: str, shown: str) -> tuple[int, int, int, int]:
    if s.startswith("-") and _DURATION.fullmatch(s[1:]):
        raise BadInput(f"'{shown}' is negative; durations count forward", example="1h30m")
    match = _DURATION.fullmatch(s)
    if not s or match is None:
        raise BadInput(f"I can't read '{shown}' as a duration", example="1h30m")
    weeks, days, hours, minutes = (int(n or 0) for n in match.groups())
    if not weeks + days + hours + minutes:
        raise BadInput(f"'{shown}' is no time at all", example="30m")
    return weeks, days, hours, minutes


def _read_clock(s: str, shown: str, *, bare_ok: bool) -> time:
    if s in _DAY_PARTS:
        return _DAY_PARTS[s]
    if s in _END_OF_DAY_WORDS:
        return _END_OF_DAY
    if not s:
        if bare_ok:
            return _DEFAULT_CLOCK
        raise BadInput(f"'{shown}' needs a time of day", example='due:"today 15:00"')
    match = _CLOCK.fullmatch(s)
    # A lone number ("fri 5") could be a day or an hour; ask for a colon or am/pm instead of guessing.
    if match and (match[2] or match[3]):
        hour, minute = int(match[1]), int(match[2] or 0)
        valid = (1 <= hour <= 12 if match[3] else hour < 24) and minute < 60
        if match[3]:
            hour = hour % 12 + (12 if match[3] == "pm" else 0)
        if valid:
            return time(hour, minute)
    raise BadInput(f"I can't read the time of day in '{shown}'", example='due:"fri 17:00"')


def _read_iso(s: str, match: re.Match[str], shown: str, tz: ZoneInfo) -> datetime:
    try:
        day = dateparser.isoparse(match[1]).date()
        if match[2] is None:
            return _local(day, _DEFAULT_CLOCK, tz)
        if _CLOCK.fullmatch(match[2]) and not _is_number(match[2]):
            return _local(day, _read_clock(match[2], shown, bare_ok=False), tz)
        parsed = dateparser.isoparse(s.upper())
    except ValueError:
        raise BadInput(f"I can't read '{shown}' as a date and time", example=_ISO_EXAMPLE) from None
    if parsed.tzinfo is None:
        return _local(parsed.date(), parsed.time(), tz)
    return parsed.astimezone(UTC)


def _read_calendar(s: str, shown: str, *, local: datetime, tz: ZoneInfo) -> datetime:
    """`25 nov 10:00`, `nov 25` — only with a month name, so `11/12` is never read the wrong way round."""
    problem = f"I can't read '{shown}' as a time"
    if not re.search(r"[a-z]", s):
        raise BadInput(problem, example=_EXAMPLE)
    try:
        a, b = (dateparser.parse(s, default=probe, tzinfos=_no_zone) for probe in (_PROBE_A, _PROBE_B))
    except ValueError:
        raise BadInput(problem, example=_EXAMPLE) from None
    if a.month != b.month or a.day != b.day:
        raise BadInput(f"'{shown}' needs a day and a month", example=_CALENDAR_EXAMPLE)
    clock = a.time() if a.hour == b.hour else _DEFAULT_CLOCK
    try:
        day = date(a.year if a.year == b.year else local.year, a.month, a.day)
        if a.year != b.year and day < local.date():
            day = day.replace(year=local.year + 1)  # "3 jan" typed in December is next January
    except ValueError:
        raise BadInput(f"'{shown}' is not a real date", example=_CALENDAR_EXAMPLE) from None
    return _local(day, clock, tz)


def _no_zone(name: str | None, offset: int | None) -> None:
    # dateutil would map names like "CET" through the host's zone; only ISO offsets are unambiguous.
    if name is not None or offset is not None:
        raise ValueError("zone names and offsets need ISO 8601")


def _require_ascii_digits(shown: str, example: str) -> None:
    # dateutil would read '25 nov ١٠:٠٠' as 10:00 while our own patterns refuse it: one rule for every form.
    if any(ch.isdigit() and not ch.isascii() for ch in shown):
        raise BadInput(f"'{shown}' has digits other than 0-9; type the numbers with 0-9", example=example)


def _is_number(s: str) -> bool:
    return s.isascii() and s.isdigit()


def _weekday(word: str) -> int | None:
    if len(word) < 3:
        return None
    return next((i for i, name in enumerate(_WEEKDAYS) if name.startswith(word)), None)


def _after_business_days(day: date, count: int, business_days: frozenset[int]) -> date:
    if not business_days:
        raise ValueError("business_days is empty")
    # Every week holds each business day once, so whole weeks can be skipped at once.
    weeks, count = divmod(count - 1, len(business_days))
    day += timedelta(weeks=weeks)
    count += 1
    while count:
        day += timedelta(days=1)
        count -= day.weekday() in business_days
    return day


def _local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    # fold=0 picks the first of an ambiguous fall-back time and pushes a spring-forward gap time forward.
    return datetime.combine(day, clock.replace(fold=0, tzinfo=None), tzinfo=tz).astimezone(UTC)


def _utc(at: datetime) -> datetime:
    if at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}; Warroom's times are always aware")
    return at.astimezone(UTC)
