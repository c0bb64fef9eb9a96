"""A terminal summary of metrics.json."""

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _gbp(value: float) -> str:
    return f"{value:,.2f}"


def print_summary(bundle: Path, metrics: dict[str, Any]) -> None:
    """Bills side by side, savings, peaks and battery use."""
    from gridq.engine import bill as bills

    table = Table(title=f"{bundle}: optimised vs baselines")
    columns = {"optimised": metrics["optimised"]} | metrics["baselines"]
    table.add_column("GBP / figure")
    for name in columns:
        table.add_column(name, justify="right")
    for item in bills.shown_bill_items([column["bill"] for column in columns.values()]):
        table.add_row(item, *(_gbp(column["bill"][item]) for column in columns.values()))
    table.add_row(
        "max import kW",
        *(f"{max(column['monthly_peak_import_kw'].values()):,.1f}" for column in columns.values()),
    )
    table.add_row(
        "equivalent full cycles",
        *(f"{column['battery']['equivalent_full_cycles']:.1f}" for column in columns.values()),
    )
    console = Console()
    console.print(table)
    if metrics.get("mode") == "rolling":
        console.print(
            f"Rolling, {metrics['solves']} solves: perfect foresight would save "
            f"{_gbp(metrics['perfect_foresight']['savings_gbp'])} GBP; forecast error costs "
            f"{_gbp(metrics['forecast_gap_gbp'])} GBP"
            + (
                ""
                if metrics.get("captured_frac") is None
                else f"; captured {100 * metrics['captured_frac']:.0f}%"
            )
        )
    percent = metrics["savings_pct"]
    console.print(
        f"Savings against {metrics['baseline']}: {_gbp(metrics['savings_gbp'])} GBP"
        + (f" ({percent:.1f}%)" if percent is not None else "")
    )
