"""``gridq import``: a bundle's timeseries from real meter, price and PV files."""

from pathlib import Path
from typing import Annotated, Literal

import typer

from gridq.cli.common import reports_errors
from gridq.errors import ConfigError

SOURCE_HELP = "FILE or FILE:LAYOUT (a preset or a layout of --mapping)"


def _source(quantity: str, given: str | None, default_layout: str) -> tuple[str, Path, str] | None:
    if given is None:
        return None
    # A file whose own name holds ':' is that file; otherwise FILE:LAYOUT splits at the last ':'.
    if Path(given).is_file() or ":" not in given:
        path, layout = given, ""
    else:
        path, _, layout = given.rpartition(":")
    if not path:
        raise ConfigError(f"--{quantity.replace('_', '-')} {given!r}: give FILE or FILE:LAYOUT")
    return quantity, Path(path), layout or default_layout


@reports_errors
def import_(
    bundle: Annotated[
        Path, typer.Argument(help="A bundle folder holding its run_config.yaml.", file_okay=False)
    ],
    load: Annotated[str, typer.Option(help=f"Site load: {SOURCE_HELP}.")],
    import_price: Annotated[str, typer.Option(help=f"Import prices: {SOURCE_HELP}.")],
    pv: Annotated[
        str | None, typer.Option(help=f"PV output: {SOURCE_HELP} [default: 0 kW].")
    ] = None,
    export_price: Annotated[str | None, typer.Option(help=f"Export prices: {SOURCE_HELP}.")] = None,
    export_price_gbp_per_kwh: Annotated[
        float, typer.Option(min=0, help="Export price where no --export-price file is given.")
    ] = 0.0,
    mapping: Annotated[
        Path | None, typer.Option(help="YAML of named file layouts.", dir_okay=False)
    ] = None,
    forecast: Annotated[
        str | None,
        typer.Option(
            help="Forecast vintages (issued_at, timestamp, load, PV) for rolling.forecast: replay: "
            f"{SOURCE_HELP} [default layout: forecast_vintages_kw]."
        ),
    ] = None,
    fill: Annotated[
        Literal["refuse", "linear", "zero", "previous_day"],
        typer.Option(help="Missing steps: refuse, or fill (flagged in column 'filled')."),
    ] = "refuse",
) -> None:
    """Write BUNDLE/timeseries.parquet from real files, and where it came from."""
    from gridq.io import importing

    sources = [
        importing.Source(*found)
        for found in (
            _source("load", load, "supplier_hh_kwh"),
            _source("import_price", import_price, "hh_prices_p_per_kwh"),
            _source("pv", pv, "inverter_power_w"),
            _source("export_price", export_price, "hh_prices_p_per_kwh"),
        )
        if found is not None
    ]
    given = _source("forecast", forecast, "forecast_vintages_kw")
    provenance = importing.import_bundle(
        bundle,
        sources,
        fill,
        export_price_gbp_per_kwh,
        mapping,
        importing.Source(*given) if given is not None else None,
    )
    typer.echo(
        f"{bundle}: {provenance['steps']} steps from {provenance['first_step_utc']} to "
        f"{provenance['last_step_utc']}, {provenance['filled_steps']} filled"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("import")(import_)
