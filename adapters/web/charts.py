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
    colors=("#0b5cad", "#b42318", "#8a5a00"),
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


def vendor_chart(bars: Sequence[VendorBar]) -> Markup:
    """An inline SVG: per vendor, hours to answer and escalations, worst first; pygal escapes the vendor names."""
    chart = pygal.HorizontalBar(
        style=_STYLE,
        js=[],  # pygal's tooltips load a script from the web: the chart stays static and offline
        disable_xml_declaration=True,  # inline in the page
        width=900,
        height=max(220, 70 + 56 * len(bars)),
        title="Hours to answer and escalations, per vendor",
        legend_at_bottom=True,
        print_values=True,
        print_values_position="top",
        value_formatter=lambda v: f"{v:g}",
        show_y_guides=False,
        truncate_label=40,
        no_data_text="No vendor follow-ups yet",
    )
    ordered = list(reversed(bars))  # a horizontal bar chart draws its first label at the bottom
    chart.x_labels = [b.vendor for b in ordered]
    chart.add("Hours to answer (or silent)", [round(b.hours_to_answer, 1) if b.hours_to_answer else 0 for b in ordered])
    chart.add("Escalations", [b.escalations for b in ordered])
    chart.add("Chases", [b.chases for b in ordered])
    svg: str = chart.render(is_unicode=True)
    # pygal adds its tooltips' configuration as an inline script (vendor names in it) and credit comments: neither
    # is needed by a static chart. Its text nodes are escaped, so no "<script" or "<!--" in the SVG is user text.
    svg = _SCRIPT.sub("", _COMMENT.sub("", svg))
    # A role and a label make the chart an image with a name for screen readers.
    return Markup(svg.replace("<svg ", '<svg role="img" aria-labelledby="vendor-chart-title" ', 1))
