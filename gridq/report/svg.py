"""Small, dependency-free SVG charts.

The report then opens with no network and renders the same bytes every time.
"""

from html import escape

import numpy as np
import pandas as pd

WIDTH, HEIGHT = 860, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 150, 30, 40
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf")


def _scale(values: np.ndarray, low: float, high: float, start: float, end: float) -> np.ndarray:
    span = high - low if high > low else 1.0
    return start + (values - low) / span * (end - start)


def _tick_label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _frame(title: str, y_label: str, low: float, high: float) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart">',
        f'<text x="{LEFT}" y="18" font-weight="bold">{escape(title)}</text>',
        f'<text x="12" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f}" '
        f'transform="rotate(-90 12 {TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f})" '
        f'text-anchor="middle" font-size="11">{escape(y_label)}</text>',
    ]
    for tick in np.linspace(low, high, 5):
        y = _scale(np.array([tick]), low, high, HEIGHT - BOTTOM, TOP)[0]
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="10">{_tick_label(tick)}</text>'
        )
    return parts


def _legend(names: list[str]) -> list[str]:
    parts = []
    for position, name in enumerate(names):
        y = TOP + 16 * position
        colour = COLOURS[position % len(COLOURS)]
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 10}" y="{y}" width="10" height="10" '
            f'fill="{colour}"/><text x="{WIDTH - RIGHT + 26}" y="{y + 9}" '
            f'font-size="11">{escape(name)}</text>'
        )
    return parts


def time_chart(
    title: str,
    y_label: str,
    index: pd.DatetimeIndex,
    series: dict[str, np.ndarray],
    stacked: tuple[str, ...] = (),
) -> str:
    """Lines over time; the names in ``stacked`` are drawn as areas stacked in that order.

    A line is left out where its value is NaN.
    """
    positions = np.arange(len(index), dtype=float)
    x = _scale(positions, 0.0, max(len(index) - 1, 1), LEFT, WIDTH - RIGHT)
    tops = np.cumsum([series[name] for name in stacked], axis=0) if stacked else []
    everything = [*series.values(), *tops, np.zeros(1)]
    low = float(min(np.nanmin(v) for v in everything))
    high = float(max(np.nanmax(v) for v in everything))
    parts = _frame(title, y_label, low, high)
    names = list(series)
    base = np.zeros(len(index))
    for name, top in zip(stacked, tops, strict=True):
        colour = COLOURS[names.index(name) % len(COLOURS)]
        upper = _scale(top, low, high, HEIGHT - BOTTOM, TOP)
        lower = _scale(base, low, high, HEIGHT - BOTTOM, TOP)
        points = [f"{a:.1f},{b:.1f}" for a, b in zip(x, upper, strict=True)]
        points += [f"{a:.1f},{b:.1f}" for a, b in zip(x[::-1], lower[::-1], strict=True)]
        parts.append(
            f'<polygon points="{" ".join(points)}" fill="{colour}" '
            'fill-opacity="0.55" stroke="none"/>'
        )
        base = top
    for name in names:
        if name in stacked:
            continue
        colour = COLOURS[names.index(name) % len(COLOURS)]
        y = _scale(series[name], low, high, HEIGHT - BOTTOM, TOP)
        # A NaN breaks the line: each finite stretch is drawn on its own.
        finite = np.isfinite(y)
        starts = np.flatnonzero(finite & ~np.r_[False, finite[:-1]])
        ends = np.flatnonzero(finite & ~np.r_[finite[1:], False]) + 1
        for start, end in zip(starts, ends, strict=True):
            points = " ".join(
                f"{a:.1f},{b:.1f}" for a, b in zip(x[start:end], y[start:end], strict=True)
            )
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
    days = pd.DatetimeIndex(index).normalize()
    for position in np.flatnonzero(np.r_[True, days[1:] != days[:-1]]):
        parts.append(
            f'<text x="{x[position]:.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'font-size="10">{index[position]:%d %b}</text>'
        )
    parts += _legend(names)
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(title: str, y_label: str, groups: list[str], series: dict[str, list[float]]) -> str:
    """Grouped bars: one group per label in ``groups``, one bar per series."""
    values = np.array(list(series.values()), dtype=float)
    low, high = min(0.0, float(values.min())), max(0.0, float(values.max()))
    parts = _frame(title, y_label, low, high)
    group_width = (WIDTH - LEFT - RIGHT) / max(len(groups), 1)
    bar_width = group_width * 0.8 / max(len(series), 1)
    zero = _scale(np.array([0.0]), low, high, HEIGHT - BOTTOM, TOP)[0]
    for group_position, group in enumerate(groups):
        start = LEFT + group_position * group_width + group_width * 0.1
        for bar_position, column in enumerate(values[:, group_position]):
            top = _scale(np.array([column]), low, high, HEIGHT - BOTTOM, TOP)[0]
            colour = COLOURS[bar_position % len(COLOURS)]
            parts.append(
                f'<rect x="{start + bar_position * bar_width:.1f}" '
                f'y="{min(top, zero):.1f}" width="{bar_width:.1f}" '
                f'height="{abs(zero - top):.1f}" fill="{colour}"/>'
            )
        parts.append(
            f'<text x="{start:.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'font-size="10">{escape(group)}</text>'
        )
    parts += _legend(list(series))
    parts.append("</svg>")
    return "\n".join(parts)
