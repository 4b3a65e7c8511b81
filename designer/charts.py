"""Small SVG charts drawn on the server for the Insight pages (no script, no CDN).

Imports only markupsafe. Colours are SVG presentation attributes, not `style`, so the
designer's Content-Security-Policy (`style-src 'self'`) lets them through.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from markupsafe import Markup, escape

WIDTH, HEIGHT = 340, 124
LEFT, RIGHT, TOP, BOTTOM = 46, 6, 22, 14  # room for the y-axis, the legend and the dates
BAR = "#4263eb"
PREVIOUS = "#868e96"
INK = "#495057"
GRID = "#dee2e6"


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def compact(value: float) -> str:
    """A tick's number, short: 950, 1.5k, 12k, 2.5M."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".removesuffix(".0") + suffix
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def nice_top(value: float) -> float:
    """The axis' top: the first of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) at
    or above `value`, so that the ticks are round numbers."""
    if value <= 0:
        return 1
    scale = 10 ** math.floor(math.log10(value))
    return next(step * scale for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
                if step * scale >= value * (1 - 1e-9))


def day_chart(days: list[tuple[str, float | None]], previous: list[float | None] = (), *,
              title: str, y_label: str | None = None,
              tick: Callable[[float], str] = compact) -> Markup:
    """Bars for each day of the period; the previous period's days as a grey dashed line.

    `days` is [(date, value)], `previous` the values of the previous period's days, in
    order (the same length, or empty). A missing value (None) draws nothing. The y-axis has
    ticks at 0, half and a round top (nice_top), shown by `tick`, and is labelled `y_label`
    (default: the title); a legend tells the period from the previous one.
    """
    values = [v or 0 for _d, v in days] + [v or 0 for v in previous]
    top = nice_top(max(values + [0]))
    count = max(len(days), 1)
    plot_width = WIDTH - LEFT - RIGHT
    step = plot_width / count
    width = max(step * 0.72, 1)
    base = HEIGHT - BOTTOM

    def y(value: float) -> float:
        return base - (value / top) * (base - TOP)

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-label="{escape(title)} per day, this period '
             f'beside the previous one" xmlns="http://www.w3.org/2000/svg">']
    # The y-axis: its line, three ticks with grid lines, and its label (turned upright).
    parts.append(f'<g class="y-axis" font-size="9" fill="{INK}">'
                 f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="{INK}" '
                 'stroke-width="1"/>')
    for fraction in (0, 0.5, 1):
        value = top * fraction
        level = y(value)
        parts.append(f'<line x1="{LEFT - 3}" y1="{level:.1f}" x2="{WIDTH - RIGHT}" '
                     f'y2="{level:.1f}" stroke="{GRID}" stroke-width="1"/>'
                     f'<text class="tick" x="{LEFT - 5}" y="{level + 3:.1f}" '
                     f'text-anchor="end">{escape(tick(value))}</text>')
    middle = (TOP + base) / 2
    parts.append(f'<text class="y-label" x="9" y="{middle:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 9 {middle:.1f})">{escape(y_label or title)}</text>'
                 '</g>')
    for index, (day, value) in enumerate(days):
        if value is None:
            continue
        top_y = y(value)
        parts.append(f'<rect class="bar" data-day="{escape(day)}" data-value="{_number(value)}" '
                     f'x="{LEFT + index * step + (step - width) / 2:.1f}" y="{top_y:.1f}" '
                     f'width="{width:.1f}" height="{base - top_y:.1f}" fill="{BAR}">'
                     f'<title>{escape(day)}: {escape(tick(value))}</title></rect>')
    points = [f"{LEFT + index * step + step / 2:.1f},{y(value):.1f}"
              for index, value in enumerate(previous[:count]) if value is not None]
    if len(points) > 1:
        parts.append(f'<polyline class="previous" points="{" ".join(points)}" fill="none" '
                     f'stroke="{PREVIOUS}" stroke-width="1.5" stroke-dasharray="4 3"/>')
    if days:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT - 2}" font-size="9" fill="{INK}">'
                     f'{escape(days[0][0])}</text>')
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 2}" font-size="9" '
                     f'fill="{INK}" text-anchor="end">{escape(days[-1][0])}</text>')
    # The legend, above the bars: this period's bar, the previous period's dashed line.
    parts.append(f'<g class="legend" font-size="9" fill="{INK}">'
                 f'<rect x="{LEFT}" y="4" width="10" height="8" fill="{BAR}"/>'
                 f'<text x="{LEFT + 14}" y="11">This period</text>')
    if len(points) > 1:
        parts.append(f'<line x1="{LEFT + 90}" y1="8" x2="{LEFT + 110}" y2="8" '
                     f'stroke="{PREVIOUS}" stroke-width="1.5" stroke-dasharray="4 3"/>'
                     f'<text x="{LEFT + 114}" y="11">Previous period</text>')
    parts.append('</g></svg>')
    return Markup("".join(parts))
