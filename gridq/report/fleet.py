"""fleet_report.html: a fleet run's savings by site and scenario, self-contained.

The savings distribution per scenario, the scenarios side by side, the top and bottom sites,
every failure, and for sites behind a shared connection the summed import against the limit.
"""

from html import escape
from typing import Any

import numpy as np
import pandas as pd

from gridq.report.html import STYLE, ready_script
from gridq.report.svg import bar_chart, time_chart

SHOWN_SITES = 5
"""Top and bottom sites listed per scenario."""
BINS = 10


def _histogram(table: pd.DataFrame, scenarios: list[str]) -> str:
    """Sites per savings band, one bar per scenario in each band."""
    savings = table["savings_gbp"].to_numpy(dtype=float)
    edges = np.histogram_bin_edges(savings, bins=BINS)
    labels = [f"{low:,.0f}" for low in edges[:-1]]
    counts = {
        scenario: [
            float(n)
            for n in np.histogram(table[table["scenario"] == scenario]["savings_gbp"], edges)[0]
        ]
        for scenario in scenarios
    }
    return bar_chart("Sites by savings (band from, GBP)", "sites", labels, counts)


def _scenario_table(metrics: dict[str, Any]) -> str:
    rows = [
        "<tr><th>scenario</th><th>sites</th><th>total savings GBP</th><th>savings P10 / P50 / "
        "P90 GBP</th><th>captured P50</th></tr>"
    ]
    for name, facts in metrics["scenarios"].items():
        spread = facts["savings_gbp"]
        shown = (
            " / ".join(f"{spread[q]:,.0f}" for q in ("p10", "p50", "p90"))
            if spread["p50"] is not None
            else "-"
        )
        captured = facts["captured_frac"]["p50"]
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{facts['sites']}</td>"
            f'<td id="total-{escape(name)}">{facts["total_savings_gbp"]:,.2f}</td>'
            f"<td>{shown}</td><td>{'-' if captured is None else f'{captured:.0%}'}</td></tr>"
        )
    return "<table>" + "\n".join(rows) + "</table>"


def _ranked(table: pd.DataFrame, scenario: str) -> str:
    done = table[table["scenario"] == scenario].sort_values("savings_gbp", ascending=False)
    chosen = pd.concat([done.head(SHOWN_SITES), done.tail(SHOWN_SITES)]).drop_duplicates("site")
    rows = [
        "<tr><th>site</th><th>savings GBP</th><th>optimised bill GBP</th>"
        "<th>baseline bill GBP</th><th>cycles</th></tr>"
    ]
    rows += [
        f"<tr><td>{escape(str(row.site))}</td><td>{row.savings_gbp:,.2f}</td>"
        f"<td>{row.optimised_total_cost_gbp:,.2f}</td><td>{row.baseline_total_cost_gbp:,.2f}"
        f"</td><td>{row.equivalent_full_cycles:.1f}</td></tr>"
        for row in chosen.itertuples()
    ]
    return (
        f"<h3>{escape(scenario)}: the {SHOWN_SITES} highest and lowest savings</h3>"
        "<table>" + "\n".join(rows) + "</table>"
    )


def _failures(metrics: dict[str, Any]) -> str:
    if not metrics["failures"]:
        return "<p>No task failed.</p>"
    items = "".join(
        f"<li>{escape(f['site'])} / {escape(f['scenario'])}: {escape(f['error'])}</li>"
        for f in metrics["failures"]
    )
    return f"<h2>Failures</h2><ul>{items}</ul>"


def _coupling(metrics: dict[str, Any], profiles: dict[str, pd.DataFrame]) -> list[str]:
    """The summed import per scenario against the shared limit, and each solve's proof."""
    if not profiles:
        return []
    parts = ["<h2>Shared connection</h2>"]
    for name, profile in profiles.items():
        facts = metrics["scenarios"][name]
        solve = facts["solve"]
        gap = solve.get("gap_frac")
        parts.append(
            f"<p>{escape(name)}: solved {escape(str(solve['path']))}, LP cost "
            f"{solve['objective_gbp']:,.2f} GBP"
            + (
                f", no more than {gap:.4%} above the joint optimum (proven lower bound "
                f"{solve['bound_gbp']:,.2f} GBP) after {solve['rounds']} rounds"
                if gap is not None and solve.get("rounds")
                else ""
            )
            + f"; summed import peaks at {facts['peak_import_kw']:,.1f} kW.</p>"
        )
        series = {"summed import kW": profile["import_kw"].to_numpy()}
        limit = profile["import_limit_kw"].to_numpy()
        if np.isfinite(limit).any():
            series["import limit kW"] = np.where(np.isfinite(limit), limit, np.nan)
        parts.append(
            time_chart(
                f"{name}: the sites' summed import against the shared limit",
                "kW",
                pd.DatetimeIndex(profile.index),
                series,
            )
        )
        for event in facts["flexibility_events"]:
            parts.append(
                f"<p>Event {escape(event['name'])}: {event['committed_kwh']:,.1f} kWh committed,"
                f" least reduction {event['least_reduction_kw']:,.1f} kW, paid "
                f"{event['revenue_gbp']:,.2f} GBP.</p>"
            )
    return parts


def build_fleet_report(
    metrics: dict[str, Any], table: pd.DataFrame, profiles: dict[str, pd.DataFrame]
) -> str:
    """The page of one fleet run: ``table`` its results, ``profiles`` its coupled scenarios'."""
    scenarios = list(metrics["scenarios"])
    done = table[table["status"] == "ok"]
    charts = []
    if len(done):
        totals = [metrics["scenarios"][s]["total_savings_gbp"] for s in scenarios]
        charts.append(_histogram(done, scenarios))
        charts.append(
            bar_chart("Total savings by scenario", "GBP", scenarios, {"total savings": totals})
        )
    coupling = _coupling(metrics, profiles)
    chart_count = len(charts) + sum("<svg" in part for part in coupling)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>GridQ fleet: {escape(metrics['fleet'])}</title>",
            STYLE,
            ready_script(chart_count),
            "</head><body>",
            f"<h1>GridQ fleet: {escape(metrics['fleet'])}</h1>",
            f'<p class="headline"><span id="succeeded">{metrics["succeeded"]}</span> of '
            f"{metrics['tasks']} tasks done, {metrics['failed']} failed.</p>",
            _scenario_table(metrics),
            *charts,
            *(_ranked(done, scenario) for scenario in scenarios if len(done)),
            *coupling,
            _failures(metrics),
            "</body></html>",
            "",
        ]
    )
