"""underwriting.html: the lifetime figures, SOH by year and the cash flows, self-contained."""

from html import escape
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from gridq.report.charts import chart, html_page, values
from gridq.schemas import Site

FIGURES = (
    ("NPV", "npv_gbp", "{:,.0f} GBP"),
    ("IRR", "irr_frac", "{:.1%}"),
    ("simple payback", "simple_payback_years", "{:.1f} years"),
    ("discounted payback", "discounted_payback_years", "{:.1f} years"),
    ("levelised cost of storage", "lcos_gbp_per_kwh", "{:.3f} GBP/kWh"),
    ("lifetime throughput", "lifetime_throughput_kwh", "{:,.0f} kWh"),
    ("lifetime savings", "lifetime_savings_gbp", "{:,.0f} GBP"),
    ("first-year savings", "first_year_savings_gbp", "{:,.0f} GBP"),
    ("replacements", "replacements", "{}"),
    ("residual value at the end", "residual_value_gbp", "{:,.0f} GBP"),
)


def _shown(value: Any, form: str) -> str:
    return "never" if value is None else form.format(value)


def _figures_table(summary: dict[str, Any]) -> str:
    """Achievable beside the perfect-foresight bound, then P10 / P50 / P90 of each."""
    reference, bound = summary["reference"], summary["perfect_foresight_bound"]
    rows = [
        "<tr><th>figure</th><th>achievable</th><th>perfect foresight (bound)</th></tr>",
        *(
            f"<tr><td>{label}</td><td>{_shown(reference[key], form)}</td>"
            f"<td>{_shown(bound[key], form)}</td></tr>"
            for label, key, form in FIGURES
        ),
    ]
    for name, spread in summary["uncertainty"].items():
        perfect = summary["perfect_foresight_uncertainty"][name]
        rows.append(
            f"<tr><td>{escape(name)} P10 / P50 / P90 over {summary['drawn_lives']} drawn lives"
            f"</td><td>{_spread(spread)}</td><td>{_spread(perfect)}</td></tr>"
        )
    return "<table>" + "\n".join(rows) + "</table>"


def _spread(quantiles: dict[str, float]) -> str:
    return " / ".join(f"{quantiles[name]:,.0f}" for name in ("p10", "p50", "p90"))


def _operation(summary: dict[str, Any]) -> str:
    """How the achievable figures were operated, and the uncertainty sources."""
    operation = summary["operation"]
    shares = ", ".join(f"{share:.0%}" for share in operation["captured_frac_by_weather_year"])
    worn = ", ".join(f"{share:.0%}" for share in operation["worn_captured_frac_by_weather_year"])
    sources = "".join(f"<li>{escape(source)}</li>" for source in summary["uncertainty_sources"])
    return (
        f"<p>Achievable: operated by the rolling runner with the {escape(operation['forecast'])}"
        f" forecast, re-planning every {operation['reoptimise_every_min']} min over "
        f"{operation['horizon_h']:g} h; it kept {shares} of the perfect-foresight savings "
        f"by weather year as new, and {worn} in the last year with the battery at "
        f"{operation['worn_soh_frac']:.0%} health (each year keeps the share at its health, "
        f"interpolated). Uncertainty sources:</p><ul>{sources}</ul>"
    )


def _sweep_table(sweep: pd.DataFrame | None) -> str:
    if sweep is None:
        return ""
    shown = [c for c in sweep.columns if c.endswith(("_kwh", "_kw", "_gbp", "_frac"))]
    head = "".join(f"<th>{escape(c)}</th>" for c in shown)
    rows = [
        "<tr>" + "".join(f"<td>{row[c]:,.3g}</td>" for c in shown) + "</tr>"
        for _, row in sweep.iterrows()
    ]
    return "<h2>Sizing sweep</h2><table><tr>" + head + "</tr>" + "\n".join(rows) + "</table>"


def _state_of_health(years: pd.DataFrame) -> str:
    """The reference life's SOH by year inside the band the drawn lives span."""
    reference = years[(years["life"] == 0) & (years["year"] > 0)]
    drawn = years[(years["life"] > 0) & (years["year"] > 0)].groupby("year")["soh_end_frac"]
    labels = [int(year) for year in reference["year"]]
    figure = go.Figure()
    if len(drawn.groups):
        # The lowest line fills up to the highest: the band the drawn lives span.
        for name, edge, fill in (
            ("highest", drawn.max(), None),
            ("lowest", drawn.min(), "tonexty"),
        ):
            figure.add_trace(
                go.Scatter(
                    name=f"{name} drawn",
                    x=[int(year) for year in edge.index],
                    y=values(100 * edge),
                    mode="lines",
                    line={"width": 0.5, "color": "#9ecae1"},
                    fill=fill,
                )
            )
    figure.add_trace(
        go.Scatter(
            name="reference",
            x=labels,
            y=values(100 * reference["soh_end_frac"]),
            mode="lines+markers",
            line={"color": "#1f77b4"},
        )
    )
    figure.update_xaxes(title_text="year", dtick=1)
    figure.update_yaxes(title_text="%")
    return chart(figure, "state-of-health", "State of health at the end of each year")


def _cash_flows(years: pd.DataFrame) -> str:
    """Cash flow and discounted cash flow by year (year 0 the capex), and their running sum."""
    reference = years[years["life"] == 0]
    labels = [int(year) for year in reference["year"]]
    figure = go.Figure(
        [
            go.Bar(name="cash flow", x=labels, y=values(reference["cash_flow_gbp"])),
            go.Bar(name="discounted", x=labels, y=values(reference["discounted_cash_flow_gbp"])),
            go.Scatter(
                name="cumulative discounted",
                x=labels,
                y=values(reference["discounted_cash_flow_gbp"].cumsum()),
                mode="lines+markers",
            ),
        ]
    )
    figure.update_layout(barmode="group")
    figure.update_xaxes(title_text="year", dtick=1)
    figure.update_yaxes(title_text="GBP")
    return chart(figure, "cash-flows", "Cash flow by year (year 0: capex)")


def build_underwriting_report(
    site: Site, years: pd.DataFrame, summary: dict[str, Any], sweep: pd.DataFrame | None = None
) -> str:
    """The page for one underwriting run (and its sweep, if any)."""
    npv_gbp = summary["reference"]["npv_gbp"]
    battery = site.battery
    return html_page(
        f"GridQ underwriting: {site.name}",
        [
            f"<p>Battery {battery.capacity_kwh:g} kWh, {battery.charge_power_max_kw:g}/"
            f"{battery.discharge_power_max_kw:g} kW; {summary['life_years']} years at a "
            f"{summary['discount_rate_frac']:.1%} discount rate, tariffs escalating "
            f"{summary['tariff_escalation_frac_per_year']:.1%} a year.</p>",
            f'<p class="headline">Achievable NPV <span id="npv">{npv_gbp:,.0f} GBP</span> '
            f"(perfect-foresight bound {summary['perfect_foresight_bound']['npv_gbp']:,.0f} GBP;"
            f" P90 {summary['uncertainty']['npv_gbp']['p90']:,.0f} GBP)</p>",
            _operation(summary),
            _figures_table(summary),
            _state_of_health(years),
            _cash_flows(years),
            _sweep_table(sweep),
        ],
    )
