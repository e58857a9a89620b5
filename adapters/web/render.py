"""What the dashboard's templates use to show values: times, durations, money, Markdown, all escaped."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from bot.render import money as _money
from bot.when import format_duration, format_when
from bot.zones import instants

# "js-default" is CommonMark with raw HTML off (and linkify off): `<script>` in a summary shows as text, and links
# go through markdown-it's URL validation, which refuses javascript:, vbscript:, file: and most data: URLs.
_MARKDOWN = MarkdownIt("js-default")


def when(at: datetime | None, tz: str = "UTC") -> Markup:
    """A `<time>` the page's script shows in the viewer's zone; without script, the incident's zone."""
    if at is None:
        return Markup("—")
    shown = format_when(at, ZoneInfo(tz))
    # each part escaped, as Markup.format would, at a fraction of its cost: an overview shows a thousand of these
    zone, said = escape(tz), escape(shown)
    return Markup(f'<time datetime="{escape(at.isoformat())}" data-zone="{zone}" title="{said} ({zone})">{said}</time>')


def times_in(text: str, tz: str = "UTC") -> Markup:
    """Text (escaped) whose written instants (`Thu 5 Mar 2026 12:00 EST`) become `<time>`s like ``when``'s: a line
    of the timeline shows its times in the same zone as the page around it."""
    parts, last = [], 0
    for start, end, at in instants(text, hints=(tz,)):
        parts += [escape(text[last:start]), when(at, tz)]
        last = end
    return Markup("").join([*parts, escape(text[last:])])


def times_in_html(html: Markup, tz: str = "UTC") -> Markup:
    """``times_in`` for HTML already made safe (a rendered summary): an instant is letters, digits, `:`, `+`, `-`."""
    parts, last = [], 0
    for start, end, at in instants(str(html), hints=(tz,)):
        parts += [html[last:start], when(at, tz)]
        last = end
    return Markup("").join([*parts, html[last:]])


def duration(delta: timedelta | None) -> str:
    """`2d 3h`, or a dash."""
    return format_duration(delta) if delta is not None else "—"


def seconds(count: int | None) -> str:
    """A count of seconds as a duration, `2d 3h`, or a dash."""
    return duration(timedelta(seconds=count) if count is not None else None)


def money(amount: Decimal | None) -> str:
    """`$2,500`, or a dash."""
    return _money(amount) if amount is not None else "—"


def markdown(text: str) -> Markup:
    """Markdown as HTML with raw HTML disabled: user text in it can never become markup."""
    return Markup(_MARKDOWN.render(text))


__all__ = ["duration", "escape", "markdown", "money", "seconds", "times_in", "times_in_html", "when"]
