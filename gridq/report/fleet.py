"""fleet_report.html: a fleet run's savings by site and scenario, self-contained.

The savings distribution per scenario, the scenarios side by side, the top and bottom sites,
every failure, and for sites behind a shared connection the summed import against the limit.
"""

from html import escape
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gridq.report.charts import RANGE_BUTTONS, chart, html_page, time_trace

SHOWN_SITES = 5
"""Top and bottom sites listed per scenario."""
BINS = 10


def _histogram(table: pd.DataFrame, scenarios: list[str]) -> str:
    """Sites per savings band, one bar per scenario in each band (bands shared)."""
    savings = table["savings_gbp"].to_numpy(dtype=float)
    edges = np.histogram_bin_edges(savings, bins=BINS)
    labels = [f"{low:,.0f} to {high:,.0f}" for low, high in zip(edges[:-1], edges[1:], strict=True)]
    figure = go.Figure(
        [
            go.Bar(
                name=scenario,
                x=labels,
                y=np.histogram(table[table["scenario"] == scenario]["savings_gbp"], edges)[0],
            )
            for scenario in scenarios
        ]
    )
    figure.update_layout(barmode="group")
    figure.update_xaxes(title_text="savings GBP", type="category")
    figure.update_yaxes(title_text="sites")
    return chart(figure, "savings-spread", "Sites by savings")


def _totals(metrics: dict[str, Any], scenarios: list[str]) -> str:
    figure = go.Figure(
        go.Bar(
            name="total savings",
            x=scenarios,
            y=[metrics["scenarios"][s]["total_savings_gbp"] for s in scenarios],
        )
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(title_text="GBP")
    return chart(figure, "scenario-totals", "Total savings by scenario", 320)


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
    for position, (name, profile) in enumerate(profiles.items()):
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
        index = pd.DatetimeIndex(profile.index)
        figure = go.Figure(time_trace("summed import kW", index, profile["import_kw"]))
        limit = profile["import_limit_kw"].to_numpy()
        if np.isfinite(limit).any():
            figure.add_trace(
                time_trace(
                    "import limit kW",
                    index,
                    np.where(np.isfinite(limit), limit, np.nan),
                    line={"width": 1.5, "dash": "dash", "color": "#d62728"},
                )
            )
        figure.update_xaxes(rangeselector={"buttons": RANGE_BUTTONS}, title_text="UTC")
        figure.update_yaxes(title_text="kW")
        parts.append(
            chart(
                figure,
                f"shared-import-{position}",
                f"{name}: the sites' summed import against the shared limit",
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
    charts = [_histogram(done, scenarios), _totals(metrics, scenarios)] if len(done) else []
    return html_page(
        f"GridQ fleet: {metrics['fleet']}",
        [
            f'<p class="headline"><span id="succeeded">{metrics["succeeded"]}</span> of '
            f"{metrics['tasks']} tasks done, {metrics['failed']} failed.</p>",
            _scenario_table(metrics),
            *charts,
            *(_ranked(done, scenario) for scenario in scenarios if len(done)),
            *_coupling(metrics, profiles),
            _failures(metrics),
        ],
    )
