"""Bar charts as inline SVG, drawn on the server: no chart library, no script, no download.

``bar_chart`` takes the bars (a label, an integer value, the value in words) and returns the
``<svg>`` markup, escaped: a title and a description for screen readers (``role="img"``), a
zero line, three labelled gridlines, and each bar with its own ``<title>`` (the tooltip).
Negative values (a period whose reversals exceeded its earnings) go below the zero line.
Pages show the same numbers in a table next to the chart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from markupsafe import Markup

WIDTH: Final = 640
HEIGHT: Final = 220
LEFT: Final = 78
RIGHT: Final = 8
TOP: Final = 10
BOTTOM: Final = 34
#: At most this many x-axis labels are written (every n-th bar's), so they never overlap.
MAX_LABELS: Final = 8


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    #: The value as people read it ("12.50 USD", "97 % of 31"): the tooltip and the table.
    text: str


def _ticks(lo: int, hi: int) -> list[int]:
    """Gridline values: the bottom, the zero line, the top (and halfway when all ≥ 0)."""
    if lo < 0 < hi:
        return [lo, 0, hi]
    return [lo, lo + (hi - lo) // 2, hi]


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    description: str,
    axis: Callable[[int], str],
    top: int | None = None,
) -> Markup:
    """The SVG for ``bars``. ``axis`` writes a gridline's value; ``top`` fixes the scale's
    top (10 000 for rates in basis points), else the largest value sets it."""
    values = [b.value for b in bars]
    lo = min([0, *values])
    hi = top if top is not None else max([0, *values])
    if hi <= lo:
        hi = lo + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: int) -> float:
        return TOP + plot_h * (hi - value) / (hi - lo)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
    ]
    for tick in _ticks(lo, hi):
        ty = y(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'stroke="{"#888" if tick == 0 else "#e3e3e3"}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{escape(axis(tick))}</text>'
        )
    if bars:
        slot = plot_w / len(bars)
        width = max(1.0, slot * 0.7)
        every = max(1, -(-len(bars) // MAX_LABELS))
        zero = y(0)
        for i, bar in enumerate(bars):
            x = LEFT + i * slot + (slot - width) / 2
            top_y, bottom_y = sorted((y(bar.value), zero))
            colour = "#b3261e" if bar.value < 0 else "#0b57d0"
            parts.append(
                f'<rect x="{x:.1f}" y="{top_y:.1f}" width="{width:.1f}" '
                f'height="{max(bottom_y - top_y, 0.0):.1f}" fill="{colour}" '
                f'data-value="{bar.value}"><title>{escape(bar.label)}: {escape(bar.text)}'
                "</title></rect>"
            )
            if i % every == 0:
                parts.append(
                    f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                    f'text-anchor="middle" font-size="11" fill="#555">{escape(bar.label)}</text>'
                )
    else:
        parts.append(
            f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
            'text-anchor="middle" font-size="13" fill="#555">No data yet</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text above is escaped)
