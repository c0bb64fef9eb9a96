"""Commands that read a run bundle: validate, solve, baseline, metrics, backtest, report."""

from pathlib import Path
from typing import Annotated

import typer

from gridq import __version__
from gridq.cli.errors import native_stdout_to_stderr, reports_errors
from gridq.cli.summary import print_summary
from gridq.errors import GridqError
from gridq.io import bundle as io
from gridq.runners.backtest import Optimised, optimise, run_baseline, run_metrics

BundleArg = Annotated[Path, typer.Argument(help="Run bundle folder.", file_okay=False)]


def _optimise(bundle: Path, inputs: io.BundleInputs) -> Optimised:
    try:
        with native_stdout_to_stderr():
            return optimise(inputs.site, inputs.run_config, inputs.timeseries)
    except GridqError as error:
        raise error.with_context(str(bundle)) from None


@reports_errors
def validate(bundle: BundleArg) -> None:
    """Check a bundle's configs and timeseries against GridQ's conventions."""
    inputs = io.read_bundle(bundle)
    typer.echo(
        f"{bundle}: valid ({len(inputs.timeseries)} steps of {inputs.run_config.timestep_min} min)"
    )


@reports_errors
def solve(bundle: BundleArg) -> None:
    """Optimise the dispatch: writes dispatch.parquet and solve_stats.json."""
    inputs = io.read_bundle(bundle)
    optimised = _optimise(bundle, inputs)
    io.write_outputs(
        bundle,
        inputs,
        tables={io.DISPATCH: optimised.dispatch},
        documents={io.SOLVE_STATS: optimised.solve_stats},
        timings_s=optimised.timings_s,
    )
    typer.echo(f"{bundle}: solved, objective {optimised.solve_stats['objective_gbp']:.2f} GBP")


@reports_errors
def baseline(bundle: BundleArg) -> None:
    """Run the configured baseline: writes baseline.parquet."""
    inputs = io.read_bundle(bundle)
    frame = run_baseline(inputs.site, inputs.run_config, inputs.timeseries)
    io.write_outputs(bundle, inputs, tables={io.BASELINE: frame}, documents={})
    typer.echo(f"{bundle}: baseline '{inputs.run_config.baseline}' written")


@reports_errors
def metrics(bundle: BundleArg) -> None:
    """Price dispatch and baseline with one bill: writes metrics.json."""
    inputs = io.read_bundle(bundle)
    step_min = inputs.run_config.timestep_min
    result = run_metrics(
        inputs.site,
        inputs.run_config,
        inputs.timeseries,
        io.read_dispatch(bundle / io.DISPATCH, step_min),
        io.read_dispatch(bundle / io.BASELINE, step_min),
    )
    io.write_outputs(bundle, inputs, tables={}, documents={io.METRICS: result})
    typer.echo(f"{bundle}: saves {result['savings_gbp']:.2f} GBP against {result['baseline']}")


@reports_errors
def backtest(bundle: BundleArg) -> None:
    """Solve, run the baseline and compute metrics in one go (perfect foresight)."""
    inputs = io.read_bundle(bundle)
    optimised = _optimise(bundle, inputs)
    reference = run_baseline(inputs.site, inputs.run_config, inputs.timeseries)
    result = run_metrics(
        inputs.site, inputs.run_config, inputs.timeseries, optimised.dispatch, reference
    )
    io.write_outputs(
        bundle,
        inputs,
        tables={io.DISPATCH: optimised.dispatch, io.BASELINE: reference},
        documents={io.SOLVE_STATS: optimised.solve_stats, io.METRICS: result},
        timings_s=optimised.timings_s,
    )
    print_summary(bundle, result)


@reports_errors
def report(bundle: BundleArg) -> None:
    """Print a summary of a bundle's metrics.json."""
    print_summary(bundle, io.read_json(bundle / io.METRICS))


def version() -> None:
    """Print GridQ's version."""
    typer.echo(__version__)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    for command in (validate, solve, baseline, metrics, backtest, report, version):
        app.command()(command)
