"""A self-contained HTML report of a solved bundle: no scripts or styles from the network."""

from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.bill import bill, shown_bill_items
from gridq.engine.tariff import compile_tariff
from gridq.engine.timeseries import month_labels
from gridq.report.svg import bar_chart, time_chart
from gridq.schemas import RunConfig, Site

WEEK_STEPS_H = 7 * 24


# Sets a flag the browser test reads: every chart present and the page's script ran cleanly.
def ready_script(charts: int) -> str:
    """Marks the page ready (``data-ready="yes"``) once its ``charts`` charts have rendered."""
    return (
        """<script>
document.addEventListener("DOMContentLoaded", function () {
  var charts = document.querySelectorAll("svg.chart").length;
  document.body.setAttribute("data-charts", String(charts));
  document.body.setAttribute("data-ready", charts === """
        + str(charts)
        + """ ? "yes" : "no");
});
</script>"""
    )


STYLE = """<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.headline { font-size: 1.6em; margin: 0.5em 0; }
svg.chart { width: 100%; max-width: 900px; display: block; margin: 1em 0; }
</style>"""


@dataclass(frozen=True)
class Report:
    """The page and the tables behind its plots (for ``dvc plots``)."""

    html: str
    week: pd.DataFrame
    monthly_bills: pd.DataFrame


def monthly_bills(
    site: Site, run_config: RunConfig, timeseries: pd.DataFrame, dispatches: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Total cost per local calendar month of each dispatch [GBP], by the same ``bill()``.

    Each month is a window of the run's tariff, compiled once, so fixed charges, triads and
    excess capacity keep the run's shares and the months add up to the run's bill. Charges on a
    peak across months (a ratchet on an earlier month, a coincident peak over the run's events)
    are billed within each month alone.
    """
    tariff = compile_tariff(run_config.tariff, timeseries)
    months = month_labels(pd.DatetimeIndex(timeseries.index).tz_convert(tariff.local_timezone))
    rows = []
    for month in pd.unique(months):
        steps = np.flatnonzero(months == month)
        if len(steps) < 2:
            continue
        window = slice(int(steps[0]), int(steps[-1]) + 1)
        month_tariff = tariff.window(window.start, window.stop)
        rows.append(
            {"month": month}
            | {
                f"{name}_total_cost_gbp": bill(
                    frame.iloc[window], month_tariff, site.battery.degradation_cost_gbp_per_kwh
                ).total_cost_gbp
                for name, frame in dispatches.items()
            }
        )
    return pd.DataFrame(rows)


def _week(timeseries: pd.DataFrame, dispatch: pd.DataFrame) -> pd.DataFrame:
    steps = int(WEEK_STEPS_H * 60 / run_step_min(timeseries))
    week = dispatch.iloc[:steps].copy()
    week[col.IMPORT_PRICE] = timeseries[col.IMPORT_PRICE].iloc[:steps]
    week[col.EXPORT_PRICE] = timeseries[col.EXPORT_PRICE].iloc[:steps]
    return week


def run_step_min(frame: pd.DataFrame) -> float:
    """Step of a table on a time index [min]."""
    index = pd.DatetimeIndex(frame.index)
    return (index[1] - index[0]) / pd.Timedelta(minutes=1)


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


def build_report(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    dispatch: pd.DataFrame,
    baseline: pd.DataFrame,
    metrics: dict[str, Any],
) -> Report:
    """The report page of a solved bundle and its plot tables."""
    week = _week(timeseries, dispatch)
    index = pd.DatetimeIndex(week.index)
    supplied = {
        "grid import": week[col.GRID_IMPORT_KW].to_numpy(),
        "battery discharge": week[col.BATTERY_DISCHARGE_KW].to_numpy(),
        "PV used or exported": (week[col.PV_KW] - week[col.PV_CURTAIL_KW]).to_numpy(),
        "load": week[col.LOAD_KW].to_numpy(),
        "PV available": week[col.PV_KW].to_numpy(),
        "battery charge": week[col.BATTERY_CHARGE_KW].to_numpy(),
        "grid export": week[col.GRID_EXPORT_KW].to_numpy(),
    }
    monthly = monthly_bills(
        site, run_config, timeseries, {"optimised": dispatch, run_config.baseline: baseline}
    )
    charts = [
        time_chart(
            "First week: supply stacked, against load and PV",
            "kW",
            index,
            supplied,
            stacked=("grid import", "battery discharge", "PV used or exported"),
        ),
        time_chart(
            "First week: battery state of charge",
            "kWh",
            index,
            {"soc_kwh": week[col.SOC_KWH].to_numpy()},
        ),
        time_chart(
            "First week: prices",
            "GBP/kWh",
            index,
            {
                "import": week[col.IMPORT_PRICE].to_numpy(),
                "export": week[col.EXPORT_PRICE].to_numpy(),
            },
        ),
        bar_chart(
            "Total cost by month",
            "GBP",
            list(monthly["month"]),
            {
                column.removesuffix("_total_cost_gbp"): list(monthly[column])
                for column in monthly.columns
                if column != "month"
            },
        ),
    ]
    percent = metrics["savings_pct"]
    headline = (
        f'Saves <span id="savings">{metrics["savings_gbp"]:,.2f} GBP</span>'
        + (f" ({percent:.1f}%)" if percent is not None else "")
        + f" against {escape(metrics['baseline'])}"
    )
    start, end = pd.DatetimeIndex(timeseries.index)[[0, -1]]
    html = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>GridQ report: {escape(site.name)}</title>",
            STYLE,
            ready_script(len(charts)),
            "</head><body>",
            f"<h1>GridQ report: {escape(site.name)}</h1>",
            f"<p>{len(timeseries)} steps of {run_config.timestep_min} min, {start:%Y-%m-%d %H:%M} "
            f"to {end:%Y-%m-%d %H:%M} UTC. Battery {site.battery.capacity_kwh:g} kWh, "
            f"{site.battery.charge_power_max_kw:g}/{site.battery.discharge_power_max_kw:g} kW.</p>",
            f'<p class="headline">{headline}</p>',
            _summary_table(metrics),
            *charts,
            "</body></html>",
            "",
        ]
    )
    plot_week = week[
        [*col.FLOW_COLUMNS, col.SOC_KWH, col.LOAD_KW, col.PV_KW, col.IMPORT_PRICE, col.EXPORT_PRICE]
    ].copy()
    plot_week.index = index.strftime("%Y-%m-%dT%H:%MZ")
    plot_week.index.name = col.TIMESTAMP
    return Report(html=html, week=plot_week.round(6), monthly_bills=monthly.round(6))
