"""``gridq tariff show`` and ``gridq bill``: check a tariff, price any dispatch."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridq.cli.common import reports_errors

if TYPE_CHECKING:
    from gridq.schemas import tariff as tariffs


tariff_app = typer.Typer(help="Inspect tariffs.", no_args_is_help=True)


def _rates_rows(label: str, rates: "tariffs.UnitRates") -> list[tuple[str, ...]]:
    from gridq.schemas import tariff as tariffs

    if isinstance(rates, tariffs.FlatRate):
        return [(label, "all", "all", "00:00-24:00", "flat", f"{rates.rate_gbp_per_kwh:g}")]
    if isinstance(rates, tariffs.Bands):
        return [
            (
                label,
                band.days,
                ",".join(map(str, band.months)) if len(band.months) < 12 else "all",
                f"{band.start_local}-{band.end_local}",
                band.name,
                f"{band.rate_gbp_per_kwh:g}",
            )
            for band in rates.bands
        ]
    return [(label, "all", "all", "every step", "timeseries column", "per step")]


def _charges(tariff: "tariffs.Tariff") -> list[str]:
    lines = [f"standing charge: {tariff.standing_charge_gbp_per_day:g} GBP/day"]
    if tariff.duos is not None:
        lines.append(f"DUoS fixed: {tariff.duos.fixed_gbp_per_day:g} GBP/day")
        if (capacity := tariff.duos.capacity) is not None:
            lines.append(
                f"capacity: {capacity.agreed_kva:g} kVA at {capacity.rate_gbp_per_kva_per_day:g} "
                f"GBP/kVA/day; excess {capacity.excess_rate_gbp_per_kva_per_day:g} GBP/kVA/day "
                f"(kVA = kW / {capacity.power_factor:g})"
            )
    if (triads := tariff.triads) is not None:
        lines.append(
            f"triads: {triads.rate_gbp_per_kw:g} GBP/kW on average import over "
            f"{len(triads.periods_start_utc)} x {triads.period_min} min"
            + (", export credited" if triads.credit_export else "")
        )
    for charge in tariff.demand_charges:
        ratchet = charge.ratchet
        lines.append(
            f"demand '{charge.name}': {charge.rate_gbp_per_kw:g} GBP/kW per month, "
            f"{charge.start_local}-{charge.end_local} {charge.days}, averaged over "
            f"{charge.averaging_min or 'one step of'} min"
            + (f", ratchet {ratchet.fraction:g} x last {ratchet.months} months" if ratchet else "")
        )
    for peak in tariff.coincident_peaks:
        lines.append(
            f"coincident peak '{peak.name}': {peak.rate_gbp_per_kw:g} GBP/kW over "
            f"{len(peak.periods_utc)} period(s)"
        )
    for event in tariff.flexibility_events:
        lines.append(
            f"flexibility '{event.name}': {event.price_gbp_per_kwh:g} GBP/kWh below "
            f"{event.baseline_import_kw:g} kW, {event.start_utc:%Y-%m-%d %H:%M}-"
            f"{event.end_utc:%H:%M} UTC"
        )
    rules = [name for name, on in tariff.rules.model_dump().items() if on]
    lines.append(f"grid rules: {', '.join(rules) if rules else 'none'}")
    return lines


@tariff_app.command("show")
@reports_errors
def show(
    file: Annotated[
        Path, typer.Argument(help="A tariff YAML (or a bundle's run_config.yaml).", dir_okay=False)
    ],
) -> None:
    """Print a tariff's bands per day type and its charges, to check against the supplier."""
    from gridq.io import bundle as io
    from gridq.io import files

    data = files.read_yaml(file)
    tariff = io.parse_tariff(file, data)
    table = Table(title=f"{file} (local clock {tariff.local_timezone})")
    for column in ("rates", "days", "months", "local time", "band", "GBP/kWh"):
        table.add_column(column)
    rows = [*_rates_rows("import energy", tariff.energy), *_rates_rows("export", tariff.export)]
    if tariff.duos is not None and tariff.duos.unit_bands is not None:
        rows += _rates_rows("DUoS unit (added to import)", tariff.duos.unit_bands)
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    for line in _charges(tariff):
        console.print(line)


@reports_errors
def bill(
    bundle: Annotated[
        Path, typer.Argument(help="Run bundle whose tariff prices the dispatch.", file_okay=False)
    ],
    dispatch: Annotated[
        Path | None,
        typer.Option(
            help="A dispatch or meter table (parquet) with timestamp, grid_import_kw and "
            "grid_export_kw [default: the bundle's dispatch.parquet].",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the items as JSON, unrounded.")
    ] = False,
) -> None:
    """Price a dispatch with the bundle's tariff and print the itemised bill."""
    from gridq.engine import bill as bills
    from gridq.engine import run as runner
    from gridq.engine import timeseries as timeseries_checks
    from gridq.io import bundle as io
    from gridq.io.files import one_read_per_file

    with one_read_per_file():  # the lineage checked is that of the bytes priced
        inputs = io.read_bundle(bundle)
        if dispatch is None:
            io.check_lineage(bundle, io.DISPATCH)
        path = dispatch or bundle / io.DISPATCH
        table_in = io.read_meter(path, inputs.run_config.timestep_min, inputs.site)
    # The bundle's own dispatch may cover only the steps after a rolling run's warm-up.
    timeseries = (
        inputs.timeseries
        if dispatch
        else timeseries_checks.covered_steps(inputs.timeseries, table_in)
    )
    priced = runner.price_dispatch(inputs.site, inputs.run_config, timeseries, table_in)
    items = {name: getattr(priced, name) for name in bills.item_names()} | {
        "supplier_bill_gbp": priced.supplier_bill_gbp,
        "total_cost_gbp": priced.total_cost_gbp,
    }
    if as_json:
        from gridq.io.files import json_text

        typer.echo(json_text(items), nl=False)
        return
    table = Table(title=f"{path} priced with {bundle / io.RUN_CONFIG}")
    table.add_column("item")
    table.add_column("GBP", justify="right")
    for name in bills.item_names():
        revenue = " (revenue)" if name in bills.REVENUE_ITEMS else ""
        table.add_row(name + revenue, f"{items[name]:,.2f}")
    for name in ("supplier_bill_gbp", "total_cost_gbp"):
        table.add_row(name, f"{items[name]:,.2f}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(tariff_app, name="tariff")
    app.command()(bill)
