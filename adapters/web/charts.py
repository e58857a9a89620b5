"""The vendors page's chart: server-rendered SVG (pygal), no script, no request leaving the page."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pygal
from markupsafe import Markup
from pygal.style import Style

_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#57606a",
    colors=("#0b5cad", "#8a5a00", "#b42318"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    title_font_size=16,
    value_font_size=12,
)


@dataclass(frozen=True)
class VendorBar:
    """One vendor on the chart: hours it took to answer (or has been silent), times chased, times escalated."""

    vendor: str
    hours_to_answer: float | None
    chases: int
    escalations: int


def _chart(bars: Sequence[VendorBar]) -> pygal.HorizontalBar:
    return pygal.HorizontalBar(
        style=_STYLE,
        js=[],  # pygal's tooltips load a script from the web: the chart stays static and offline
        disable_xml_declaration=True,  # inline in the page
        width=640,
        height=max(200, 90 + 48 * len(bars)),
        legend_at_bottom=True,
        print_values=True,
        value_formatter=lambda v: f"{v:g}",
        show_y_guides=False,
        truncate_label=30,
        no_data_text="No vendor follow-ups yet",
    )


def _svg(chart: pygal.HorizontalBar, *, label: str) -> Markup:
    svg: str = chart.render(is_unicode=True)
    # pygal adds its tooltips' configuration as an inline script (vendor names in it) and credit comments: neither
    # is needed by a static chart. Its text nodes are escaped, so no "<script" or "<!--" in the SVG is user text.
    svg = _SCRIPT.sub("", _COMMENT.sub("", svg))
    # A role and a label make the chart an image with a name for screen readers.
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-labelledby="{label}" ', 1))


def vendor_charts(bars: Sequence[VendorBar]) -> tuple[Markup, Markup]:
    """Two inline SVGs, worst vendor on top: hours to answer, then chases and escalations (pygal escapes names)."""
    ordered = list(reversed(bars))  # a horizontal bar chart draws its first label at the bottom
    labels = [b.vendor for b in ordered]
    hours = _chart(bars)
    hours.x_labels = labels
    hours.add("Hours to answer (or silent so far)", [round(b.hours_to_answer or 0, 1) for b in ordered])
    effort = _chart(bars)
    effort.x_labels = labels
    effort.add("Chases", [b.chases for b in ordered])
    effort.add("Escalations", [b.escalations for b in ordered])
    most = max((max(b.chases, b.escalations) for b in bars), default=0)
    if most <= 12:  # counts: whole numbers on the axis, not 0.2, 0.4, …
        effort.y_labels = list(range(0, max(most, 1) + 1))
    return _svg(hours, label="hours-chart"), _svg(effort, label="effort-chart")
