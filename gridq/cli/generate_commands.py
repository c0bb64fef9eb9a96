"""``gridq generate``: deterministic example bundles from params.yaml."""

from pathlib import Path
from typing import Annotated

import typer

from gridq.cli.common import reports_errors


@reports_errors
def generate(
    name: Annotated[str, typer.Argument(help="A bundle listed under 'bundles' in params.yaml.")],
    params: Annotated[Path, typer.Option(help="The pipeline's parameters.", dir_okay=False)] = (
        Path("params.yaml")
    ),
    out: Annotated[
        Path | None, typer.Option(help="Bundle folder [default: bundles/NAME].", file_okay=False)
    ] = None,
    days: Annotated[
        int | None, typer.Option(min=1, max=3660, help="Length [days] instead of the bundle's own.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY.PATH=VALUE, as in a fleet file: battery.capacity_kwh=200, series.seed=7. "
            "Repeat for more.",
        ),
    ] = None,
) -> None:
    """Write an example bundle's inputs: site_config.yaml, run_config.yaml, timeseries.parquet."""
    from gridq.engine import synth
    from gridq.io import bundle as io
    from gridq.io import params as params_io

    example = params_io.example_bundle(params, name, tuple(set_ or ()))
    series = example.series if days is None else params_io.with_days(example.series, days)
    folder = out or Path("bundles") / name
    timeseries = synth.make_timeseries(
        series,
        example.site,
        example.run_config.timestep_min,
        example.run_config.tariff.local_timezone,
        example.run_config.tariff.bank_holidays,
    )
    folder.mkdir(parents=True, exist_ok=True)
    with io.locked(folder):  # another command may be reading or writing this bundle
        io.write_inputs(folder, example.site, example.run_config, timeseries)
    typer.echo(f"{folder}: {len(timeseries)} steps from {timeseries.index[0]:%Y-%m-%d}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(generate)
