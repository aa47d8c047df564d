"""Bar charts as inline SVG text for the HTML report: no script, no font or file fetched, prints as vectors.

Colours come from CSS classes defined in the page (``bar``, ``grid``, ``axis``), so print styles apply.
"""

from __future__ import annotations

import math
from decimal import Decimal

from remote_jobs.reporting.text import html_text as escape, usd


def _nice_step(top: float, ticks: int = 4) -> float:
    """1, 2 or 5 × a power of ten, so that ``ticks`` steps cover ``top``."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _short_usd(value: float) -> str:
    if value >= 1000:
        return f"${value / 1000:,.{0 if value % 1000 == 0 else 1}f}k"
    return f"${value:,.0f}"


def column_chart(chart_id: str, title: str, labels: list[str], values: list[Decimal], width: int = 760,
                 height: int = 260) -> str:
    """Vertical bars (months along the bottom), value above each bar, dollar gridlines."""
    left, right, top, bottom = 56, 10, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([float(v) for v in values] + [0.0])
    step = _nice_step(peak)
    ceiling = step * max(1, math.ceil(peak / step)) if peak > 0 else step * 4
    parts = [f'<text class="title" x="{left}" y="16">{escape(title)}</text>']
    for tick in range(int(round(ceiling / step)) + 1):
        y = top + plot_h - plot_h * tick * step / ceiling
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_short_usd(tick * step)}</text>')
    slot = plot_w / max(1, len(values))
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_h = plot_h * float(value) / ceiling
        x, y = left + index * slot + slot * 0.15, top + plot_h - bar_h
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}">'
                     f'<title>{escape(label)}: {usd(value)}</title></rect>')
        parts.append(f'<text class="value" x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle">'
                     f'{_short_usd(float(value))}</text>')
        parts.append(f'<text class="axis" x="{x + slot * 0.35:.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    return _svg(chart_id, title, width, height, parts)


def bar_chart(chart_id: str, title: str, labels: list[str], values: list[Decimal], width: int = 760) -> str:
    """Horizontal bars (one per project/provider), label on the left, dollar value at the end of each bar."""
    left, right, top, row = 130, 90, 28, 24
    height = top + row * max(1, len(values)) + 8
    peak = max([float(v) for v in values] + [0.0]) or 1.0
    parts = [f'<text class="title" x="0" y="16">{escape(title)}</text>']
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + index * row
        bar_w = (width - left - right) * float(value) / peak
        parts.append(f'<text class="axis" x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect class="bar" x="{left}" y="{y + 3}" width="{bar_w:.1f}" height="{row - 8}">'
                     f'<title>{escape(label)}: {usd(value)}</title></rect>')
        parts.append(f'<text class="value" x="{left + bar_w + 6:.1f}" y="{y + 15}">{usd(value)}</text>')
    return _svg(chart_id, title, width, height, parts)


def _svg(chart_id: str, title: str, width: int, height: int, parts: list[str]) -> str:
    body = "\n".join(parts)
    return (f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(title)}">\n{body}\n</svg>')
