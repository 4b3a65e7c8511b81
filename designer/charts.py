"""Small SVG charts drawn on the server for the Insight pages (no script, no CDN).

Imports only markupsafe. Colours are SVG presentation attributes, not `style`, so the
designer's Content-Security-Policy (`style-src 'self'`) lets them through.
"""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 320, 84, 14
BAR = "#4263eb"
PREVIOUS = "#adb5bd"


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def day_chart(days: list[tuple[str, float | None]], previous: list[float | None] = (), *,
              title: str) -> Markup:
    """Bars for each day of the period; the previous period's days as a grey line.

    `days` is [(date, value)], `previous` the values of the previous period's days, in
    order (the same length, or empty). A missing value (None) draws nothing.
    """
    values = [v or 0 for _d, v in days] + [v or 0 for v in previous]
    top = max(values + [0]) or 1
    count = max(len(days), 1)
    step = (WIDTH - 2) / count
    width = max(step * 0.72, 1)
    chart_height = HEIGHT - PAD

    def y(value: float) -> float:
        return chart_height - (value / top) * (chart_height - 4)

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="0" y1="{chart_height}" x2="{WIDTH}" y2="{chart_height}" '
             f'stroke="#dee2e6" stroke-width="1"/>']
    for index, (day, value) in enumerate(days):
        if value is None:
            continue
        top_y = y(value)
        parts.append(f'<rect class="bar" data-day="{escape(day)}" data-value="{_number(value)}" '
                     f'x="{1 + index * step + (step - width) / 2:.1f}" y="{top_y:.1f}" '
                     f'width="{width:.1f}" height="{chart_height - top_y:.1f}" fill="{BAR}">'
                     f'<title>{escape(day)}: {_number(value)}</title></rect>')
    points = [f"{1 + index * step + step / 2:.1f},{y(value):.1f}"
              for index, value in enumerate(previous[:count]) if value is not None]
    if len(points) > 1:
        parts.append(f'<polyline class="previous" points="{" ".join(points)}" fill="none" '
                     f'stroke="{PREVIOUS}" stroke-width="1.5" stroke-dasharray="4 3"/>')
    if days:
        parts.append(f'<text x="0" y="{HEIGHT - 2}" font-size="9" fill="#868e96">'
                     f'{escape(days[0][0])}</text>')
        parts.append(f'<text x="{WIDTH}" y="{HEIGHT - 2}" font-size="9" fill="#868e96" '
                     f'text-anchor="end">{escape(days[-1][0])}</text>')
    parts.append(f'<text x="{WIDTH}" y="9" font-size="9" fill="#868e96" text-anchor="end">'
                 f'max {_number(top)}</text></svg>')
    return Markup("".join(parts))
