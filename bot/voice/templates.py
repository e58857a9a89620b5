"""Customer templates: Jinja2 in a sandbox, shipped per language, overridable per playbook, checked with file and line.

A template sees only the customer fields of `Facts` (documented in docs/CUSTOMER_TEMPLATES.md) and the filters
below; it cannot reach Python (the sandbox refuses `__class__` and friends) nor name a variable that does not exist
(StrictUndefined). `warroom playbooks check` renders every template with sample data, so a bad one is refused before
the bot starts.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
    nodes,
)
from jinja2.sandbox import SandboxedEnvironment

from bot.voice.language import SHIPPED, Speaker, parse_language, shipped_set

KINDS = ("update", "bad_news", "final", "watch", "email_subject", "page")
SKELETON = "skeleton"  # the safe draft a guarded one falls back to: not overridable
MAX_TEMPLATE = 20_000
MAX_OUTPUT = 8_000


@dataclass(frozen=True)
class Promise:
    """A promise to the customer as a template sees it."""

    text: str
    due: datetime
    state: str  # open | at_risk | kept | missed


@dataclass(frozen=True)
class Waiting:
    """Something we wait on, named as the customer may hear it."""

    what: str
    due: datetime
    late: bool


@dataclass(frozen=True)
class SentUpdate:
    """An update whose exact text the bot knows (it sent or recorded it as drafted)."""

    text: str
    at: datetime


@dataclass(frozen=True)
class Facts:
    """Everything a customer template may use; nothing else reaches it."""

    customer: str
    headline: str
    started: datetime
    state: str  # investigating | workaround | fixed | closed
    now: datetime
    doing: str | None = None
    promises: tuple[Promise, ...] = ()
    waiting: tuple[Waiting, ...] = ()
    news: tuple[str, ...] = ()  # bad news to tell, each a sentence in the customer's language
    next_update: datetime | None = None
    last_update: SentUpdate | None = None
    restored_at: datetime | None = None
    held: str | None = None  # how long the fix has held, in words (watch)

    def variables(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


VARIABLES = frozenset(f.name for f in fields(Facts))


def sample_facts() -> Facts:
    """What `playbooks check` renders every template with: every variable set, every list non-empty."""
    at = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    return Facts(
        customer="Sample Customer",
        headline="the disruption at Sample Customer since Monday",
        started=at,
        state="investigating",
        now=at + timedelta(hours=5),
        doing="we are replacing the failed unit",
        promises=(Promise("a working unit on site", at + timedelta(days=2), "at_risk"),),
        waiting=(Waiting("the replacement unit", at + timedelta(days=1), True),),
        news=("Our promise of a working unit on site by Wednesday is at risk.",),
        next_update=at + timedelta(hours=9),
        last_update=SentUpdate("We are replacing the failed unit.", at + timedelta(hours=1)),
        restored_at=at + timedelta(hours=4),
        held="3 days",
    )


def tidy(text: str) -> str:
    """One paragraph per blank-line-separated block, each a single line of single spaces."""
    blocks = re.split(r"\n\s*\n", text.strip())
    paragraphs = [" ".join(" ".join(line.split()) for line in block.splitlines() if line.strip()) for block in blocks]
    return "\n\n".join(p for p in paragraphs if p)


def _sentence(text: object) -> str:
    words = str(text).strip().rstrip(".").strip()
    return words + "." if words else ""


def _capfirst(text: object) -> str:
    words = str(text)
    return words[:1].upper() + words[1:]


class _Sources(BaseLoader):
    """Templates by kind, each compiled under its kind's name so a failing line can be found in the traceback."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = dict(sources)

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        if template not in self.sources:
            raise TemplateNotFound(template)
        return self.sources[template], template, lambda: True


class TemplateSet:
    """The five customer templates of one language (shipped, or a playbook's overrides over them)."""

    def __init__(self, language: str, sources: Mapping[str, str]) -> None:
        self.language = language
        self.env = SandboxedEnvironment(
            loader=_Sources(dict(sources)),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, kind: str, facts: Facts, speaker: Speaker) -> str:
        """The text of one template for these facts; TemplateError (or SecurityError) when it breaks."""
        self.env.filters.update(filters_for(speaker))
        out = tidy(self.env.get_template(kind).render(facts.variables()))
        if kind == "email_subject":
            out = " ".join(out.split())
        return out[:MAX_OUTPUT]


def filters_for(speaker: Speaker) -> dict[str, Callable[..., str]]:
    """The filters a customer template may use, in ``speaker``'s language and zone (the one list of them)."""
    return {
        "date": speaker.date,
        "time": speaker.time,
        "datetime": speaker.datetime,
        "money": lambda amount, currency="USD": speaker.money(_amount(amount), currency),
        "duration": speaker.duration,
        "sentence": _sentence,
        "capfirst": _capfirst,
        "join_words": lambda items: speaker.join([str(i) for i in items]),
    }


def _amount(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@cache
def shipped_sources(language: str) -> Mapping[str, str]:
    """The shipped templates of a language, read once from the package."""
    folder = resources.files("bot.voice").joinpath("templates", language)
    return {kind: folder.joinpath(f"{kind}.txt").read_text(encoding="utf-8") for kind in (*KINDS, SKELETON)}


@cache
def shipped(language: str) -> TemplateSet:
    return TemplateSet(language, shipped_sources(language))


def build(language: str, overrides: Mapping[str, tuple[str, int]]) -> tuple[TemplateSet | None, list[tuple[int, str]]]:
    """A playbook's template set: its `language:` and `customer_templates:` (text, line in the file before its first
    line), each checked statically and then by a sample render; returns the set (None when anything is wrong) and
    every problem as (line, message), line 0 meaning the `language:` line."""
    try:
        locale = parse_language(language)
    except ValueError as err:
        return None, [(0, str(err))]
    base = shipped_set(locale)
    if base is None:  # the neutral phrases and bad-news sentences would come in another language: refuse
        return None, [(0, f"customer texts are shipped in {', '.join(SHIPPED)}, not in '{language}'")]
    problems: list[tuple[int, str]] = []
    sources, checked = dict(shipped_sources(base)), []
    for kind, (text, offset) in overrides.items():
        if len(text) > MAX_TEMPLATE:
            problems.append(
                (offset + 1, f"customer_templates.{kind} is {len(text)} characters; {MAX_TEMPLATE} at most")
            )
            continue
        found = [(offset + line, f"customer_templates.{kind}: {message}") for line, message in _static(text)]
        problems += found
        if not found:
            sources[kind] = text
            checked.append((kind, offset))
    templates = TemplateSet(str(locale), sources)
    speaker = Speaker(str(locale).replace("_", "-"), "UTC")
    for kind, offset in checked:
        try:
            templates.render(kind, sample_facts(), speaker)
        except Exception as err:  # a template is someone's code: whatever it raises is its problem, reported
            problems.append((offset + _failing_line(kind), f"customer_templates.{kind}: {_describe(err)}"))
    return (None if problems else templates), sorted(problems)


def _static(text: str) -> list[tuple[int, str]]:
    """Syntax errors, unknown variables and reaches for private attributes, each at its template line."""
    env = SandboxedEnvironment(undefined=StrictUndefined)
    env.filters.update(filters_for(Speaker("en", "UTC")))  # the same names render() gives, so none drifts
    try:
        tree = env.parse(text)
        env.compile(text)  # an unknown filter or test is found only when compiling
    except TemplateSyntaxError as err:
        return [(err.lineno or 1, f"template error: {err.message}")]
    found: list[tuple[int, str]] = []
    unknown = meta.find_undeclared_variables(tree) - VARIABLES
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx == "load" and name_node.name in unknown:
            known = ", ".join(sorted(VARIABLES))
            found.append((name_node.lineno, f"unknown variable '{name_node.name}' (the variables are {known})"))
            unknown.discard(name_node.name)
    for attr in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = attr.attr if isinstance(attr, nodes.Getattr) else getattr(getattr(attr, "arg", None), "value", None)
        if isinstance(name, str) and name.startswith("_"):
            found.append((attr.lineno, f"'{name}' is outside what a template may reach (the sandbox refuses it)"))
    return sorted(found)


def _failing_line(kind: str) -> int:
    """The template line the exception being handled was raised at (Jinja keeps it in the traceback)."""
    tb = sys.exc_info()[2]
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == kind:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(err: Exception) -> str:
    if isinstance(err, TemplateError):
        return f"{type(err).__name__}: {err.message or err}"
    return f"{type(err).__name__}: {err}"
