"""Plotly charts and the self-contained page that holds them.

Every page embeds plotly.js once, so it opens with no network. Its bytes are the same every
time: charts have fixed ids, values go in as float32 arrays, and a time series is its first
timestamp and a step (``x0``/``dx``), not a column of timestamps per trace.
"""

from html import escape

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")
CONFIG = {"displaylogo": False, "responsive": True}
STYLE = """<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.headline { font-size: 1.6em; margin: 0.5em 0; }
.chart { margin: 1em 0; }
</style>"""
RANGE_BUTTONS = [
    {"count": 1, "label": "1 day", "step": "day", "stepmode": "backward"},
    {"count": 7, "label": "1 week", "step": "day", "stepmode": "backward"},
    {"count": 1, "label": "1 month", "step": "month", "stepmode": "backward"},
    {"step": "all", "label": "whole run"},
]


# The browser test reads these flags: every chart drawn, and no script error on the page.
def _ready_script(charts: int) -> str:
    return (
        "<script>\nvar gridqCharts = 0, gridqErrors = 0;\n"
        'window.addEventListener("error", function () { gridqErrors += 1; });\n'
        "function gridqChartDone() {\n  gridqCharts += 1;\n"
        '  document.body.setAttribute("data-charts", String(gridqCharts));\n'
        '  document.body.setAttribute("data-ready", gridqCharts === '
        + str(charts)
        + ' && gridqErrors === 0 ? "yes" : "no");\n}\n</script>'
    )


def html_page(title: str, body: list[str]) -> str:
    """A whole page: plotly.js inline, then ``body``; ``data-ready`` once its charts drew."""
    charts = sum(part.count('class="plotly-graph-div"') for part in body)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            STYLE,
            _ready_script(charts),
            f'<script type="text/javascript">{get_plotlyjs()}</script>',
            "</head><body>",
            f"<h1>{escape(title)}</h1>",
            *body,
            "</body></html>",
            "",
        ]
    )


def chart(figure: go.Figure, chart_id: str, title: str, height_px: int = 380) -> str:
    """``figure`` as a ``<div>`` with the id ``chart_id`` (fixed, so the page's bytes are)."""
    figure.update_layout(
        template="none",
        title={"text": title, "x": 0.01},
        height=height_px,
        margin={"l": 70, "r": 20, "t": 60, "b": 50},
        colorway=list(COLOURS),
        plot_bgcolor="white",
    )
    figure.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    figure.update_yaxes(showgrid=True, gridcolor="#eee", zerolinecolor="#bbb")
    div = pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=chart_id,
        config=CONFIG,
        post_script="gridqChartDone();",
        validate=True,
    )
    return f'<div class="chart">{div}</div>'


def values(series: pd.Series | np.ndarray) -> np.ndarray:
    """Numbers as float32: seven significant digits draw any kW, kWh or GBP here."""
    return np.asarray(series, dtype=np.float32)


def time_trace(
    name: str, index: pd.DatetimeIndex, series: pd.Series | np.ndarray, **style: object
) -> go.Scatter:
    """A line over a fixed-step UTC index; NaN leaves a gap."""
    step_ms = (index[1] - index[0]) / pd.Timedelta(milliseconds=1) if len(index) > 1 else 1.0
    return go.Scatter(
        {"name": name, "mode": "lines", "line": {"width": 1.2}}
        | style
        | {"x0": index[0].strftime("%Y-%m-%d %H:%M"), "dx": step_ms, "y": values(series)}
    )


def local_day_by_time(index: pd.DatetimeIndex, series: np.ndarray, timezone: str) -> pd.DataFrame:
    """``series`` as a table of local days (rows) by local time of day (columns).

    A clock-change day has an hour missing (NaN) or twice (the mean of the two).
    """
    local = index.tz_convert(timezone)
    frame = pd.DataFrame(
        {"day": local.strftime("%Y-%m-%d"), "time": local.strftime("%H:%M"), "value": series}
    )
    return frame.pivot_table(index="day", columns="time", values="value", aggfunc="mean")
