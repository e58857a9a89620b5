"""Reading playbook YAML node by node, so every problem is reported as `file:line: message`.

Values are read from composed nodes rather than loaded objects because only nodes keep their line
numbers; and a reader records a problem and returns None instead of raising, so one pass over a folder
reports every mistake at once.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from zoneinfo import ZoneInfo

import yaml

from bot.errors import BadInput
from bot.when import BusinessHours, Every, parse_duration, parse_every
from bot.zones import find_zone

T = TypeVar("T")
SEVERITIES = (1, 2, 3, 4)
CHANNEL_PLACEHOLDERS = ("number", "slug", "customer", "severity")

_YAML_TYPE = "tag:yaml.org,2002:"
_NUMBER_TAGS = (_YAML_TYPE + "int", _YAML_TYPE + "float")
_TYPE_WORDS = {"str": "text", "int": "a number", "float": "a number", "bool": "true/false", "null": "empty"}
_HANDLE = re.compile(r"@[A-Za-z0-9][A-Za-z0-9._-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HH_MM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_GROUP_NAME = re.compile(r"[a-z][a-z0-9_-]*")
# Slack accepts only these characters in a channel name; Teams accepts them too.
_CHANNEL_CHARS = re.compile(r"[a-z0-9_-]*")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def value(
    fields: Mapping[str, yaml.Node],
    key: str,
    read: Callable[[yaml.Node, str], T | None],
    default: T,
    *,
    within: str = "",
) -> T:
    """Read ``fields[key]`` when present; ``default`` when absent or when reading it recorded a problem."""
    node = fields.get(key)
    found = read(node, f"{within}.{key}" if within else key) if node is not None else None
    return default if found is None else found


class Reader:
    """Typed accessors over one file's nodes; each records `file:line: message` and returns None if wrong."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._found: list[tuple[int, str]] = []
        self._scalars = yaml.constructor.SafeConstructor()

    @property
    def problems(self) -> list[str]:
        """Every problem recorded so far as `file:line: message`, in line order."""
        in_order = sorted(self._found, key=lambda found: found[0])
        return [f"{self.source}:{line}: {message}" for line, message in in_order]

    def problem(self, node: yaml.Node | None, message: str, *, line: int | None = None) -> None:
        """Record a problem at ``node``'s line (or ``line``; line 1 when there is neither)."""
        if line is None:
            line = node.start_mark.line + 1 if node is not None else 1
        self._found.append((line, message))

    def compose(self, text: str) -> yaml.Node | None:
        """The file's root node; None after recording a syntax error (with its line) or an empty file."""
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            # PyYAML points an unexpected end of file one line past the last; point at the last instead.
            line = min(mark.line + 1, len(text.splitlines()) or 1) if mark else 1
            context = err.context
            if context and err.context_mark and err.context_mark is not mark:
                context += f" (line {err.context_mark.line + 1})"
            detail = ", ".join(part for part in (context, err.problem) if part)
            self.problem(None, f"invalid YAML: {detail}", line=line)
            return None
        except yaml.YAMLError as err:
            self.problem(None, f"invalid YAML: {err}")
            return None
        if root is None:
            self.problem(None, "the file is empty; a playbook is a mapping starting with 'name:'")
        return root

    def mapping(
        self, node: yaml.Node, what: str, *, allowed: Sequence[str], required: Sequence[str] = ()
    ) -> dict[str, yaml.Node] | None:
        """A mapping with known keys; unknown, duplicate and missing keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping of keys to values, not {_kind(node)}")
            return None
        entries = self.entries(node, what)
        for key, (key_node, _) in entries.items():
            if key not in allowed:
                self.problem(key_node, f"unknown key '{key}' in {what}; allowed: {', '.join(allowed)}")
        for key in required:
            if key not in entries:
                self.problem(node, f"{what} is missing '{key}'")
        return {key: found for key, (_, found) in entries.items() if key in allowed}

    def entries(self, node: yaml.MappingNode, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """A mapping's entries by key text (free-form keys, e.g. team names); duplicates are problems."""
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, f"{what} keys must be plain words, not {_kind(key_node)}")
                continue
            key = str(key_node.value)
            if key in entries:
                self.problem(key_node, f"duplicate key '{key}' in {what}")
            entries[key] = (key_node, value_node)
        return entries

    def sequence(self, node: yaml.Node, what: str, *, non_empty: bool = False) -> list[yaml.Node] | None:
        """The items of a list."""
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list, not {_kind(node)}")
            return None
        if non_empty and not node.value:
            self.problem(node, f"{what} must not be empty")
            return None
        return list(node.value)

    def text(self, node: yaml.Node, what: str) -> str | None:
        """A non-empty string; numbers and booleans must be quoted to count as text."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != _YAML_TYPE + "str":
            self.problem(node, f"{what} must be text, not {_kind(node)}")
            return None
        value = str(node.value).strip()
        if not value:
            self.problem(node, f"{what} must not be empty")
            return None
        return value

    def texts(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        """A list of non-empty strings."""
        items = self.sequence(node, what)
        if items is None:
            return None
        values = [self.text(item, f"each item of {what}") for item in items]
        return tuple(v for v in values if v is not None) if None not in values else None

    def addresses(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        """A list of email addresses."""
        values = self.texts(node, what)
        if values is None:
            return None
        wrong = [v for v in values if not _EMAIL.fullmatch(v)]
        if wrong:
            self.problem(node, f"{what}: '{wrong[0][:60]}' is not an email address")
            return None
        return tuple(v.lower() for v in values)

    def integer(self, node: yaml.Node, what: str, *, low: int, high: int | None = None) -> int | None:
        """A whole number in ``low``..``high``."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != _YAML_TYPE + "int":
            self.problem(node, f"{what} must be a whole number, not {_kind(node)}")
            return None
        value = int(self._scalars.construct_yaml_int(node))
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            self.problem(node, f"{what} must be {bound}, not {value}")
            return None
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        """true or false."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != _YAML_TYPE + "bool":
            self.problem(node, f"{what} must be true or false, not {_kind(node)}")
            return None
        return bool(self._scalars.construct_yaml_bool(node))

    def amount(self, node: yaml.Node, what: str) -> Decimal | None:
        """A non-negative amount of money, written as a plain number (250000 or 250_000)."""
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _NUMBER_TAGS:
            self.problem(node, f"{what} must be a number such as 250000, not {_kind(node)}")
            return None
        try:
            value = Decimal(str(node.value).replace("_", ""))
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite() or value < 0:
            self.problem(node, f"{what} must be a number of at least 0, not '{node.value}'")
            return None
        return value

    def duration(self, node: yaml.Node, what: str) -> timedelta | None:
        """A duration such as `4h`, `1d` or `1h30m`."""
        value = self.text(node, what)
        if value is None:
            return None
        try:
            return parse_duration(value)
        except BadInput:
            self.problem(node, f"{what}: '{value}' is not a duration like 30m, 4h or 1d")
            return None

    def every(self, node: yaml.Node, what: str) -> Every | None:
        """A chase cadence: a duration such as `4h`, or business days such as `1bd`."""
        value = self.text(node, what)
        if value is None:
            return None
        try:
            return parse_every(value)
        except BadInput as err:
            self.problem(node, f"{what}: {err.reason}")
            return None

    def timezone(self, node: yaml.Node, what: str) -> str | None:
        """An IANA time zone name such as `Europe/Berlin`, or a city or country naming one zone (`Paris`)."""
        value = self.text(node, what)
        if value is None:
            return None
        try:
            return find_zone(value)
        except BadInput as err:
            several = " time zones: " in err.reason  # a country of several zones: say them
            self.problem(
                node,
                f"{what}: {err.reason}"
                if several
                else f"{what}: unknown time zone '{value}' (use a "
                "name like Europe/Berlin, or a city or country naming one zone)",
            )
            return None

    def handle(self, node: yaml.Node, what: str) -> str | None:
        """A chat handle `@name` or an email address."""
        value = self.text(node, what)
        if value is None:
            return None
        if not (_HANDLE.fullmatch(value) or _EMAIL.fullmatch(value)):
            self.problem(node, f"{what}: '{value}' is neither a handle like @dana nor an email address")
            return None
        return value

    def handles(self, node: yaml.Node, what: str) -> tuple[str, ...] | None:
        """A non-empty list of handles."""
        items = self.sequence(node, what, non_empty=True)
        if items is None:
            return None
        values = [self.handle(item, f"{what} entry") for item in items]
        return tuple(v for v in values if v is not None) if None not in values else None

    def severity(self, node: yaml.Node, what: str) -> int | None:
        """A severity, 1 (worst) to 4."""
        return self.integer(node, what, low=min(SEVERITIES), high=max(SEVERITIES))

    def at_least_one(self, node: yaml.Node, what: str) -> int | None:
        """A whole number of 1 or more."""
        return self.integer(node, what, low=1)

    def groups(self, node: yaml.Node, what: str, read: Callable[[yaml.Node, str], T | None]) -> dict[str, T] | None:
        """Named groups such as roles or teams: lowercase names mapped to values read by ``read``."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping of names to people, not {_kind(node)}")
            return None
        groups: dict[str, T] = {}
        for name, (key_node, value_node) in self.entries(node, what).items():
            if not _GROUP_NAME.fullmatch(name):
                self.problem(key_node, f"{what}: '{name}' must be a lowercase name like account_management")
            found = read(value_node, f"{what}.{name}")
            if found is not None:
                groups[name] = found
        return groups

    def cadence(self, node: yaml.Node, what: str) -> dict[int, timedelta] | None:
        """How often to update the customer, for every severity: `{1: 1h, 2: 4h, 3: 1d, 4: 3d}`."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must map every severity 1-4 to a duration, not {_kind(node)}")
            return None
        cadence: dict[int, timedelta] = {}
        entries = self.entries(node, what)
        for severity, (key_node, value_node) in entries.items():
            if severity not in {str(s) for s in SEVERITIES}:
                self.problem(key_node, f"{what}: '{severity}' is not a severity; use 1, 2, 3 and 4")
                continue
            every = self.duration(value_node, f"{what} for severity {severity}")
            if every is not None:
                cadence[int(severity)] = every
        missing = [str(s) for s in SEVERITIES if str(s) not in entries]
        if missing:
            self.problem(node, f"{what} is missing severity {', '.join(missing)}")
        return dict(sorted(cadence.items()))

    def channel_pattern(self, node: yaml.Node, what: str) -> str | None:
        """A channel name pattern such as `inc-{number}-{slug}`."""
        pattern = self.text(node, what)
        if pattern is None:
            return None
        try:
            parts = list(string.Formatter().parse(pattern))
        except ValueError as err:
            self.problem(node, f"{what} '{pattern}': {err}")
            return None
        before = len(self._found)
        allowed = ", ".join("{" + p + "}" for p in CHANNEL_PLACEHOLDERS)
        for _, placeholder, spec, conversion in parts:
            if placeholder is not None and (placeholder not in CHANNEL_PLACEHOLDERS or spec or conversion):
                self.problem(node, f"{what}: unknown placeholder '{{{placeholder}}}'; allowed: {allowed}")
        if "number" not in {placeholder for _, placeholder, _, _ in parts}:
            self.problem(node, f"{what} must contain {{number}} so every war room gets its own channel")
        if not _CHANNEL_CHARS.fullmatch("".join(literal for literal, _, _, _ in parts)):
            self.problem(node, f"{what} may only use lowercase letters, digits, - and _ around placeholders")
        return pattern if len(self._found) == before else None

    def business_hours(self, node: yaml.Node, what: str, tz: str | None) -> BusinessHours | None:
        """`{days: mon-fri, start: "08:00", end: "17:00"}`; omitted parts take BusinessHours' defaults."""
        fields = self.mapping(node, what, allowed=("days", "start", "end"))
        if fields is None:
            return None
        default = BusinessHours(tz=ZoneInfo("UTC"))
        days = self._days(fields["days"], f"{what}.days") if "days" in fields else default.days
        start = self._clock_time(fields["start"], f"{what}.start") if "start" in fields else default.start
        end = self._clock_time(fields["end"], f"{what}.end") if "end" in fields else default.end
        if start is not None and end is not None and not start < end:
            where = fields.get("end", node)
            self.problem(where, f"{what}: start {start:%H:%M} must be before end {end:%H:%M}")
            return None
        if tz is None:
            self.problem(node, f"{what} needs a timezone on the vendor or the playbook")
            return None
        if days is None or start is None or end is None:
            return None
        return BusinessHours(tz=ZoneInfo(tz), days=days, start=start, end=end)

    def _clock_time(self, node: yaml.Node, what: str) -> time | None:
        # Read the raw scalar: YAML 1.1 turns an unquoted 17:00 into the number 1020.
        value = str(node.value).strip() if isinstance(node, yaml.ScalarNode) else ""
        match = _HH_MM.fullmatch(value)
        if match is None:
            self.problem(node, f'{what} must be a time of day like "08:00" (HH:MM, 24-hour)')
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def _days(self, node: yaml.Node, what: str) -> frozenset[int] | None:
        if isinstance(node, yaml.SequenceNode):
            parts = [(str(i.value) if isinstance(i, yaml.ScalarNode) else "?", i) for i in node.value]
        elif isinstance(node, yaml.ScalarNode) and node.tag == _YAML_TYPE + "str":
            parts = [(part, node) for part in str(node.value).split(",")]
        else:
            self.problem(node, f"{what} must be like mon-fri or [mon, tue, thu], not {_kind(node)}")
            return None
        days: set[int] = set()
        for part, part_node in parts:
            found = _day_range(part)
            if found is None:
                self.problem(part_node, f"{what}: '{part.strip()}' is not a day or range like mon-fri")
                return None
            days.update(found)
        if not days:
            self.problem(node, f"{what} must name at least one day")
            return None
        return frozenset(days)


def _day_range(text: str) -> Iterable[int] | None:
    # A range may wrap the weekend (sun-thu), as some vendors' working weeks do.
    first, dash, last = text.strip().lower().partition("-")
    start, end = _day(first), _day(last) if dash else _day(first)
    if start is None or end is None:
        return None
    return [(start + offset) % 7 for offset in range((end - start) % 7 + 1)]


def _day(word: str) -> int | None:
    word = word.strip()
    for names in (_DAYS, _FULL_DAYS):
        if word in names:
            return names.index(word)
    return None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = str(node.tag).removeprefix(_YAML_TYPE)
    word = _TYPE_WORDS.get(tag, tag)
    return word if word == "empty" else f"{word} '{node.value}'"
