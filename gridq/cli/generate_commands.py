"""``gridq generate``: deterministic example bundles."""

from pathlib import Path
from typing import Annotated

import typer

from gridq.cli.errors import reports_errors
from gridq.engine.synth import EXAMPLES, make_timeseries
from gridq.errors import ConfigError
from gridq.io import bundle as io


@reports_errors
def generate(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(EXAMPLES)}.")],
    out: Annotated[
        Path | None, typer.Option(help="Bundle folder [default: bundles/NAME].", file_okay=False)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic series.")] = 42,
    days: Annotated[
        int | None, typer.Option(min=1, help="Length [days] instead of the example's own.")
    ] = None,
) -> None:
    """Write an example bundle's inputs: site_config.yaml, run_config.yaml, timeseries.parquet."""
    if name not in EXAMPLES:
        raise ConfigError(f"unknown example '{name}'; choose one of {', '.join(EXAMPLES)}")
    example = EXAMPLES[name]
    folder = out or Path("bundles") / name
    timeseries = make_timeseries(example, seed=seed, days=days)
    io.write_inputs(folder, example.site, example.run_config, timeseries)
    typer.echo(f"{folder}: {len(timeseries)} steps from {timeseries.index[0]:%Y-%m-%d}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(generate)
