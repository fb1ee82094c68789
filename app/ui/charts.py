"""Charts as inline SVG, drawn on the server: no JavaScript library, nothing from a CDN, and a
page that shows its figures before (or without) any script runs.

Two shapes cover the dashboard: ``column_chart`` (a value per time bucket, optionally stacked
by series: throughput, cost by day) and ``bar_chart`` (a value per name, largest first: cost by
model). Colours come from CSS classes (``dashboard.css``), so the page's style sheet is the only
place they are set; every text node is escaped here.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
"""The drawing's own units; CSS scales the SVG to its container."""
COLUMN_HEIGHT = 240
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 12, 12, 36
MAX_X_LABELS = 8
BAR_ROW_HEIGHT = 28
BAR_LABEL_WIDTH = 200
BAR_VALUE_WIDTH = 110

Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One stacked layer of a column chart: its legend name, CSS class and a value per column."""

    name: str
    css_class: str
    values: Sequence[float]


def nice_step(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is at least ``value`` (1 for nothing): gridline
    steps whose labels stay short (no 2.5 on a chart of whole requests)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 5, 10)
                if step * magnitude >= value * (1 - 1e-9))


def axis(maximum: float, steps: int = 4, min_step: float = 0.0) -> list[float]:
    """Gridline values from 0 to a round top at or above ``maximum``, about ``steps`` apart
    and at least ``min_step`` (1 for counts: no gridline at half a request)."""
    step = max(nice_step(maximum / steps), min_step)
    count = max(math.ceil(maximum / step - 1e-9), 1)
    return [step * i for i in range(count + 1)]


def _svg(width: float, height: float, title: str, body: list[str], css_class: str) -> Markup:
    return Markup(
        f'<svg class="chart {css_class}" viewBox="0 0 {width:g} {height:g}" role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def _empty(title: str, height: float, css_class: str) -> Markup:
    return _svg(WIDTH, height, title, [
        f'<text class="chart-empty" x="{WIDTH / 2:g}" y="{height / 2:g}" '
        f'text-anchor="middle">No data for this range yet</text>'], css_class)


def column_chart(labels: Sequence[str], series: Sequence[Series], *, title: str,
                 value_format: Format, css_class: str = "column-chart",
                 min_step: float = 0.0) -> Markup:
    """Vertical columns, one per label, each stacking the series' values, over round
    gridlines. Each column carries a ``<title>`` tooltip with its figures."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    if not labels or not any(totals):
        return _empty(title, COLUMN_HEIGHT, css_class)
    ticks = axis(max(totals), min_step=min_step)
    top = ticks[-1]
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = COLUMN_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    base_y = MARGIN_TOP + plot_h
    slot = plot_w / len(labels)
    bar_w = max(slot * 0.8, 1.0)
    body: list[str] = []
    for value in ticks:
        y = base_y - plot_h * value / top
        body.append(f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
                    f'y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(f'<text class="axis" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" '
                    f'text-anchor="end">{escape(value_format(value))}</text>')
    every = math.ceil(len(labels) / MAX_X_LABELS)
    for i, label in enumerate(labels):
        x = MARGIN_LEFT + slot * i + (slot - bar_w) / 2
        tip = [label] + [f"{s.name}: {value_format(s.values[i])}" for s in series if s.values[i]]
        body.append(f"<g class=\"column\"><title>{escape(' — '.join(tip))}</title>")
        y = base_y
        for s in series:
            h = plot_h * s.values[i] / top
            if h > 0:
                y -= h
                body.append(f'<rect class="bar {escape(s.css_class)}" x="{x:.1f}" y="{y:.1f}" '
                            f'width="{bar_w:.1f}" height="{h:.1f}"/>')
        body.append("</g>")
        if i % every == 0:
            body.append(f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{base_y + 16}" '
                        f'text-anchor="middle">{escape(label)}</text>')
    if len(series) > 1:
        x = MARGIN_LEFT
        for s in series:
            body.append(f'<rect class="bar {escape(s.css_class)}" x="{x}" '
                        f'y="{COLUMN_HEIGHT - 12}" width="10" height="10"/>'
                        f'<text class="legend" x="{x + 14}" y="{COLUMN_HEIGHT - 3}">'
                        f"{escape(s.name)}</text>")
            x += 14 + 8 * len(s.name) + 16
    return _svg(WIDTH, COLUMN_HEIGHT, title, body, css_class)


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, value_format: Format,
              css_class: str = "bar-chart") -> Markup:
    """Horizontal bars, one row per (label, value), in the order given."""
    height = MARGIN_TOP * 2 + BAR_ROW_HEIGHT * max(len(items), 1)
    if not items or not any(value for _, value in items):
        return _empty(title, max(height, 80), css_class)
    top = max(value for _, value in items)
    plot_w = WIDTH - BAR_LABEL_WIDTH - BAR_VALUE_WIDTH
    body: list[str] = []
    for i, (label, value) in enumerate(items):
        y = MARGIN_TOP + BAR_ROW_HEIGHT * i
        w = plot_w * value / top if top > 0 else 0
        body.append(
            f"<g class=\"row\"><title>{escape(f'{label}: {value_format(value)}')}</title>"
            f'<text class="label" x="{BAR_LABEL_WIDTH - 8}" y="{y + 18}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="bar series-0" x="{BAR_LABEL_WIDTH}" y="{y + 5}" '
            f'width="{max(w, 1):.1f}" height="{BAR_ROW_HEIGHT - 10}"/>'
            f'<text class="value" x="{BAR_LABEL_WIDTH + max(w, 1) + 6:.1f}" y="{y + 18}">'
            f"{escape(value_format(value))}</text></g>")
    return _svg(WIDTH, height, title, body, css_class)
