"""report.html of a solved bundle: interactive Plotly charts, plotly.js inline, one file."""

from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from gridq import conventions as col
from gridq.engine.bill import REVENUE_ITEMS, Bill, bill, item_names, shown_bill_items
from gridq.engine.tariff import compile_tariff
from gridq.engine.timeseries import month_labels
from gridq.report.charts import (
    RANGE_BUTTONS,
    chart,
    html_page,
    local_day_by_time,
    time_trace,
    values,
)
from gridq.schemas import RunConfig, Site

WEEK_STEPS_H = 7 * 24


@dataclass(frozen=True)
class Report:
    """The page and the tables behind its plots (for ``dvc plots``)."""

    html: str
    week: pd.DataFrame
    monthly_bills: pd.DataFrame


def bills_by_month(
    site: Site, run_config: RunConfig, timeseries: pd.DataFrame, dispatches: dict[str, pd.DataFrame]
) -> dict[str, dict[str, Bill]]:
    """Each dispatch's bill per local calendar month (``{month: {dispatch: Bill}}``), by ``bill()``.

    Each month is a window of the run's tariff, compiled once, so fixed charges, triads and
    excess capacity keep the run's shares and the months add up to the run's bill. Charges on a
    peak across months (a ratchet on an earlier month, a coincident peak over the run's events)
    are billed within each month alone.
    """
    tariff = compile_tariff(run_config.tariff, timeseries)
    months = month_labels(pd.DatetimeIndex(timeseries.index).tz_convert(tariff.local_timezone))
    by_month = {}
    for month in pd.unique(months):
        steps = np.flatnonzero(months == month)
        if len(steps) < 2:
            continue
        window = slice(int(steps[0]), int(steps[-1]) + 1)
        month_tariff = tariff.window(window.start, window.stop)
        by_month[str(month)] = {
            name: bill(frame.iloc[window], month_tariff, site.battery.degradation_cost_gbp_per_kwh)
            for name, frame in dispatches.items()
        }
    return by_month


def monthly_bills(by_month: dict[str, dict[str, Bill]]) -> pd.DataFrame:
    """Total cost per month of each dispatch [GBP] (the ``dvc plots`` table)."""
    return pd.DataFrame(
        [
            {"month": month}
            | {f"{name}_total_cost_gbp": its.total_cost_gbp for name, its in bills.items()}
            for month, bills in by_month.items()
        ]
    )


def run_step_min(frame: pd.DataFrame) -> float:
    """Step of a table on a time index [min]."""
    index = pd.DatetimeIndex(frame.index)
    return (index[1] - index[0]) / pd.Timedelta(minutes=1)


def _week(timeseries: pd.DataFrame, dispatch: pd.DataFrame) -> pd.DataFrame:
    steps = int(WEEK_STEPS_H * 60 / run_step_min(timeseries))
    week = dispatch.iloc[:steps][[*col.FLOW_COLUMNS, col.SOC_KWH, col.LOAD_KW, col.PV_KW]].copy()
    week[col.IMPORT_PRICE] = timeseries[col.IMPORT_PRICE].iloc[:steps]
    week[col.EXPORT_PRICE] = timeseries[col.EXPORT_PRICE].iloc[:steps]
    week.index = pd.DatetimeIndex(week.index).strftime("%Y-%m-%dT%H:%MZ")
    week.index.name = col.TIMESTAMP
    return week.round(6)


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"


def _summary_table(metrics: dict[str, Any]) -> str:
    columns = {"optimised": metrics["optimised"]} | metrics["baselines"]
    head = "".join(f"<th>{escape(name)}</th>" for name in columns)
    rows = [f"<tr><th>GBP</th>{head}</tr>"]
    for item in shown_bill_items([column["bill"] for column in columns.values()]):
        cells = "".join(f"<td>{column['bill'][item]:,.2f}</td>" for column in columns.values())
        rows.append(f"<tr><td>{item}</td>{cells}</tr>")
    figures = {
        "max monthly peak import kW": lambda c: f"{max(c['monthly_peak_import_kw'].values()):,.1f}",
        "equivalent full cycles": lambda c: f"{c['battery']['equivalent_full_cycles']:.1f}",
        "self-consumption": lambda c: _percent(c["self_consumption_frac"]),
        "self-sufficiency": lambda c: _percent(c["self_sufficiency_frac"]),
        "time-shared import/export steps": lambda c: str(
            c["checks"]["time_shared_import_export_steps"]
        ),
        "max balance residual kW": lambda c: f"{c['checks']['max_balance_residual_kw']:.1e}",
    }
    for label, show in figures.items():
        cells = "".join(f"<td>{show(column)}</td>" for column in columns.values())
        rows.append(f"<tr><td>{label}</td>{cells}</tr>")
    return "<table>" + "\n".join(rows) + "</table>"


def _whole_run(
    covered: pd.DataFrame, dispatch: pd.DataFrame, baseline: pd.DataFrame, baseline_name: str
) -> str:
    """Flows, SOC and prices over the whole run on one zoomable time axis."""
    index = pd.DatetimeIndex(dispatch.index)
    figure = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.55, 0.2, 0.25]
    )
    flows = {
        "load": (dispatch[col.LOAD_KW], "#222222"),
        "PV": (dispatch[col.PV_KW], "#e6a817"),
        "grid import": (dispatch[col.GRID_IMPORT_KW], "#d62728"),
        "grid export": (dispatch[col.GRID_EXPORT_KW], "#2ca02c"),
        "battery charge": (dispatch[col.BATTERY_CHARGE_KW], "#1f77b4"),
        "battery discharge": (dispatch[col.BATTERY_DISCHARGE_KW], "#9467bd"),
    }
    if dispatch[col.PV_CURTAIL_KW].gt(1e-6).any():
        flows["PV curtailed"] = (dispatch[col.PV_CURTAIL_KW], "#8c564b")
    for name, (series, colour) in flows.items():
        figure.add_trace(
            time_trace(f"{name} kW", index, series, line={"width": 1.2, "color": colour}),
            row=1,
            col=1,
        )
    figure.add_trace(
        time_trace(
            f"grid import kW, {baseline_name}",
            index,
            baseline[col.GRID_IMPORT_KW],
            visible="legendonly",
            line={"width": 1.2, "dash": "dot", "color": "#ff9896"},
        ),
        row=1,
        col=1,
    )
    figure.add_trace(
        time_trace(
            "SOC kWh", index, dispatch[col.SOC_KWH], line={"width": 1.2, "color": "#17becf"}
        ),
        row=2,
        col=1,
    )
    for name, column, colour in (
        ("import", col.IMPORT_PRICE, "#d62728"),
        ("export", col.EXPORT_PRICE, "#2ca02c"),
    ):
        figure.add_trace(
            time_trace(
                f"{name} price GBP/kWh",
                index,
                covered[column],
                line={"width": 1.2, "color": colour, "shape": "hv"},
            ),
            row=3,
            col=1,
        )
    figure.update_yaxes(title_text="kW", row=1, col=1)
    figure.update_yaxes(title_text="kWh", row=2, col=1)
    figure.update_yaxes(title_text="GBP/kWh", row=3, col=1)
    figure.update_xaxes(title_text="UTC", row=3, col=1)
    figure.update_xaxes(rangeselector={"buttons": RANGE_BUTTONS}, row=1, col=1)
    figure.update_layout(hovermode="x unified")
    return chart(figure, "whole-run", "The whole run: drag to zoom, double-click to reset", 760)


def bill_figure(by_month: dict[str, dict[str, Bill]]) -> go.Figure:
    """Each month's bill by component, a panel per dispatch on one scale; revenues below zero.

    Each panel's bars for a month stack to that month's total cost, marked by a line.
    """
    months = list(by_month)
    names = list(by_month[months[0]]) if months else []
    figure = make_subplots(
        rows=1,
        cols=max(len(names), 1),
        shared_yaxes=True,
        subplot_titles=names,
        horizontal_spacing=0.03,
    )
    # An item any panel shows is in every panel, so the legend (on the first) names them all.
    shown = [
        (position, item)
        for position, item in enumerate(item_names())
        if any(
            abs(getattr(bills[name], item)) > 1e-9 for bills in by_month.values() for name in names
        )
    ]
    for position, name in enumerate(names, start=1):
        bills = [by_month[month][name] for month in months]
        for item_position, item in shown:
            sign = -1 if item in REVENUE_ITEMS else 1
            amounts = [sign * getattr(its, item) for its in bills]
            figure.add_trace(
                go.Bar(
                    name=item.removesuffix("_gbp").replace("_", " "),
                    legendgroup=item,
                    showlegend=position == 1,
                    x=months,
                    y=values(amounts),
                    marker={"color": qualitative.Dark24[item_position]},
                ),
                row=1,
                col=position,
            )
        figure.add_trace(
            go.Scatter(
                name="total cost",
                legendgroup="total",
                showlegend=position == 1,
                x=months,
                y=values([its.total_cost_gbp for its in bills]),
                mode="markers",
                marker={
                    "symbol": "line-ew-open",
                    "size": 24,
                    "line": {"width": 3},
                    "color": "#222",
                },
            ),
            row=1,
            col=position,
        )
    figure.update_layout(barmode="relative")
    figure.update_xaxes(type="category")
    figure.update_yaxes(title_text="GBP", row=1, col=1)
    return figure


def _monthly_peaks(metrics: dict[str, Any]) -> str:
    """The highest import of each month, optimised against each baseline."""
    columns = {"optimised": metrics["optimised"]} | metrics["baselines"]
    figure = go.Figure(
        [
            go.Bar(
                name=name,
                x=list(column["monthly_peak_import_kw"]),
                y=list(column["monthly_peak_import_kw"].values()),
            )
            for name, column in columns.items()
        ]
    )
    figure.update_layout(barmode="group")
    figure.update_xaxes(type="category")
    figure.update_yaxes(title_text="kW")
    return chart(figure, "monthly-peaks", "Peak grid import by month")


def _soc_heatmap(dispatch: pd.DataFrame, timezone: str, capacity_kwh: float) -> str:
    """SOC by local day and time of day: when the battery fills and empties, at a glance."""
    table = local_day_by_time(
        pd.DatetimeIndex(dispatch.index), dispatch[col.SOC_KWH].to_numpy(), timezone
    )
    figure = go.Figure(
        go.Heatmap(
            z=table.to_numpy(dtype=np.float32),
            x=list(table.columns),
            y=list(table.index),
            zmin=0.0,
            zmax=capacity_kwh,
            colorscale="Viridis",
            colorbar={"title": {"text": "kWh"}},
            hovertemplate="%{y} %{x}: %{z:.1f} kWh<extra></extra>",
        )
    )
    figure.update_xaxes(title_text=f"time of day ({timezone})", type="category", nticks=12)
    figure.update_yaxes(type="category", autorange="reversed", nticks=12)
    return chart(figure, "soc-heatmap", "State of charge by day and time of day", 520)


def _forecast_vs_actual(dispatch: pd.DataFrame) -> str:
    """What each step's plan was made on against what happened (rolling runs only)."""
    index = pd.DatetimeIndex(dispatch.index)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    for row, (series, label) in enumerate(((col.LOAD_KW, "load"), (col.PV_KW, "PV")), start=1):
        figure.add_trace(time_trace(f"{label} kW, actual", index, dispatch[series]), row=row, col=1)
        figure.add_trace(
            time_trace(
                f"{label} kW, forecast planned on",
                index,
                dispatch[col.FORECAST_COLUMNS[series]],
                line={"width": 1.2, "dash": "dot"},
            ),
            row=row,
            col=1,
        )
        figure.update_yaxes(title_text="kW", row=row, col=1)
    figure.update_xaxes(rangeselector={"buttons": RANGE_BUTTONS}, row=1, col=1)
    figure.update_layout(hovermode="x unified")
    return chart(figure, "forecast", "Forecast the plans were made on, against actuals", 560)


def build_report(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    dispatch: pd.DataFrame,
    baseline: pd.DataFrame,
    metrics: dict[str, Any],
) -> Report:
    """The report page of a solved bundle and its plot tables.

    ``timeseries`` holds the steps the run covered (a rolling run's start after its warm-up).
    """
    by_month = bills_by_month(
        site, run_config, timeseries, {"optimised": dispatch, run_config.baseline: baseline}
    )
    charts = [
        _whole_run(timeseries, dispatch, baseline, run_config.baseline),
        chart(
            bill_figure(by_month),
            "monthly-bill",
            "Bill by month and component (revenues below zero)",
        ),
        _monthly_peaks(metrics),
        _soc_heatmap(dispatch, run_config.tariff.local_timezone, site.battery.capacity_kwh),
    ]
    rolling = metrics.get("mode") == "rolling"
    if rolling and set(col.FORECAST_COLUMNS.values()) <= set(dispatch.columns):
        charts.append(_forecast_vs_actual(dispatch))
    percent = metrics["savings_pct"]
    headline = (
        f'Saves <span id="savings">{metrics["savings_gbp"]:,.2f} GBP</span>'
        + (f" ({percent:.1f}%)" if percent is not None else "")
        + f" against {escape(metrics['baseline'])}"
        + (" operated on forecasts (rolling)" if rolling else " with perfect foresight")
    )
    start, end = pd.DatetimeIndex(timeseries.index)[[0, -1]]
    html = html_page(
        f"GridQ report: {site.name}",
        [
            f"<p>{len(timeseries)} steps of {run_config.timestep_min} min, {start:%Y-%m-%d %H:%M} "
            f"to {end:%Y-%m-%d %H:%M} UTC. Battery {site.battery.capacity_kwh:g} kWh, "
            f"{site.battery.charge_power_max_kw:g}/{site.battery.discharge_power_max_kw:g} kW.</p>",
            f'<p class="headline">{headline}</p>',
            _summary_table(metrics),
            *charts,
        ],
    )
    return Report(
        html=html,
        week=_week(timeseries, dispatch),
        monthly_bills=monthly_bills(by_month).round(6),
    )
