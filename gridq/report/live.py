"""live_report.html: what a live site did, from its store, in the house style.

Plan against actual (battery power, SOC, grid import: each step against the plan in force
then), every event on a timeline with the faults, fallbacks and overrides listed, and each
month's peak import against its target (the peak the plans in force meant to hold).
"""

from html import escape

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gridq import conventions as col
from gridq.engine.timeseries import month_labels
from gridq.report.charts import COLOURS, RANGE_BUTTONS, chart, html_page, time_trace

SHOWN_EVENTS = 200
"""The latest events listed in the table (the timeline shows them all)."""
QUIET_KINDS = ("mode",)
MODE_KINDS = ("plan", "last_plan", "rule_based", "override", "safe")


def plan_in_force(plans: list[tuple[pd.Timestamp, pd.DataFrame]]) -> pd.DataFrame:
    """Each step's planned flows from the newest plan issued at or before it."""
    if not plans:
        return pd.DataFrame(columns=list(col.DISPATCH_COLUMNS))
    frames = [dispatch for _, dispatch in sorted(plans, key=lambda plan: plan[0])]
    joined = pd.concat(frames)
    return joined.loc[~joined.index.duplicated(keep="last")].sort_index()


def mode_spells(events: pd.DataFrame, end_s: float) -> pd.DataFrame:
    """Each spell in a mode: ``mode``, ``start_s``, ``seconds``, from the mode events."""
    changes = events.loc[events["kind"] == "mode"]
    modes = changes["reason"].str.extract(r"-> (\w+):")[0]
    starts = changes["clock_s"].to_numpy(dtype=float)
    ends = np.append(starts[1:], max(end_s, starts[-1] if len(starts) else end_s))
    return pd.DataFrame({"mode": modes.to_numpy(), "start_s": starts, "seconds": ends - starts})


def _plan_against_actual(steps: pd.DataFrame, planned: pd.DataFrame) -> str:
    index = pd.DatetimeIndex(steps.index)
    planned = planned.reindex(index)
    figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05)
    rows = (
        (
            "battery kW (+ discharging)",
            lambda f: f[col.BATTERY_DISCHARGE_KW] - f[col.BATTERY_CHARGE_KW],
        ),
        ("SOC kWh", lambda f: f[col.SOC_KWH]),
        ("grid import kW (- export)", lambda f: f[col.GRID_IMPORT_KW] - f[col.GRID_EXPORT_KW]),
    )
    for row, (label, of) in enumerate(rows, start=1):
        figure.add_trace(
            time_trace(f"{label}, actual", index, of(steps), line={"color": COLOURS[0]}),
            row=row,
            col=1,
        )
        figure.add_trace(
            time_trace(
                f"{label}, planned",
                index,
                of(planned),
                line={"color": COLOURS[1], "dash": "dot", "width": 1.2},
            ),
            row=row,
            col=1,
        )
        figure.update_yaxes(title_text=label.split(" (")[0], row=row, col=1)
    figure.update_xaxes(rangeselector={"buttons": RANGE_BUTTONS}, row=1, col=1)
    return chart(figure, "plan-vs-actual", "Plan against actual, step by step", 700)


def _timeline(events: pd.DataFrame) -> str:
    figure = go.Figure()
    for number, (kind, group) in enumerate(events.groupby("kind", sort=True)):
        figure.add_trace(
            go.Scatter(
                name=str(kind),
                x=[
                    pd.Timestamp(s, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
                    for s in group["clock_s"]
                ],
                y=[str(kind)] * len(group),
                mode="markers",
                marker={"color": COLOURS[number % len(COLOURS)], "size": 9},
                text=[escape(reason) for reason in group["reason"]],
                hovertemplate="%{x}<br>%{text}<extra>%{y}</extra>",
            )
        )
    figure.update_yaxes(type="category")
    return chart(figure, "events", "Events: modes, faults, alarms, plans", 320)


def _monthly_peaks(
    steps: pd.DataFrame, planned: pd.DataFrame, timezone: str
) -> tuple[str, pd.DataFrame]:
    index = pd.DatetimeIndex(steps.index)
    months = month_labels(index.tz_convert(timezone))
    table = (
        pd.DataFrame(
            {
                "month": months,
                "actual": steps[col.GRID_IMPORT_KW].to_numpy(),
                "target": planned.reindex(index)[col.GRID_IMPORT_KW].to_numpy(dtype=float),
            }
        )
        .groupby("month", sort=True)
        .max()
    )
    figure = go.Figure(
        [
            go.Bar(name="peak import, actual", x=list(table.index), y=table["actual"]),
            go.Bar(name="target: peak the plans held", x=list(table.index), y=table["target"]),
        ]
    )
    figure.update_layout(barmode="group")
    figure.update_xaxes(type="category")
    figure.update_yaxes(title_text="kW")
    return chart(figure, "monthly-peaks", f"Peak grid import by month ({timezone})", 320), table


def _summary(
    steps: pd.DataFrame, plans: int, events: pd.DataFrame, spells: pd.DataFrame, step_s: float
) -> str:
    operated_s = float(spells["seconds"].sum()) or 1.0
    share = spells.groupby("mode")["seconds"].sum() / operated_s
    entries = spells["mode"].value_counts()
    rows = [
        (
            "period",
            f"{steps.index[0]:%Y-%m-%d %H:%M} to "
            f"{steps.index[-1] + pd.Timedelta(seconds=step_s):%Y-%m-%d %H:%M} UTC",
        ),
        ("steps recorded", f"{len(steps):,}"),
        ("telemetry coverage", f"{steps['covered_s'].sum() / (len(steps) * step_s):.1%}"),
        ("plans adopted", f"{plans:,}"),
        ("alarms", f"{int((events['kind'] == 'alarm').sum()):,}"),
        ("failed solves", f"{int((events['kind'] == 'solve_failed').sum()):,}"),
    ]
    rows += [
        (f"time in {mode}", f"{share.get(mode, 0.0):.2%} ({int(entries.get(mode, 0))} spells)")
        for mode in MODE_KINDS
    ]
    body = "".join(
        f'<tr><td>{escape(name)}</td><td id="{escape(name.replace(" ", "-"))}">'
        f"{escape(value)}</td></tr>"
        for name, value in rows
    )
    return f"<table>{body}</table>"


def _event_table(events: pd.DataFrame) -> str:
    shown = events.loc[
        ~events["kind"].isin(QUIET_KINDS)
        | events["reason"].str.contains("-> (?:safe|rule_based|override|last_plan):")
    ].tail(SHOWN_EVENTS)
    rows = ["<tr><th>time (UTC)</th><th>event</th><th>reason</th></tr>"]
    for clock_s, kind, reason in shown[["clock_s", "kind", "reason"]].itertuples(index=False):
        moment = pd.Timestamp(clock_s, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
        rows.append(
            f'<tr><td>{moment}</td><td>{escape(kind)}</td><td style="text-align:left">'
            f"{escape(reason)}</td></tr>"
        )
    return "<table>" + "\n".join(rows) + "</table>"


def build_live_report(
    name: str,
    steps: pd.DataFrame,
    plans: list[tuple[pd.Timestamp, pd.DataFrame]],
    events: pd.DataFrame,
    timezone: str,
) -> str:
    """The page for ``steps`` (a fixed-step index, gaps as NaN rows), their plans and events."""
    step_s = (steps.index[1] - steps.index[0]).total_seconds() if len(steps) > 1 else 900.0
    recorded = steps.dropna(subset=[col.GRID_IMPORT_KW])
    planned = plan_in_force(plans)
    end_s = (steps.index[-1].timestamp() + step_s) if len(steps) else 0.0
    spells = mode_spells(events, end_s)
    peaks, _ = _monthly_peaks(recorded, planned, timezone)
    return html_page(
        f"GridQ live: {name}",
        [
            _summary(recorded, len(plans), events, spells, step_s),
            _plan_against_actual(steps, planned),
            peaks,
            _timeline(events),
            "<h2>Faults, fallbacks, overrides and alarms</h2>",
            _event_table(events),
        ],
    )
