"""Commands that read a run bundle: validate, solve, baseline, metrics, backtest, report."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from gridq import __version__
from gridq.cli.common import (
    BundleArg,
    about_bundle,
    print_summary,
    progress_bar,
    reports_errors,
    with_rolling_options,
)
from gridq.errors import GridqError, InputError

if TYPE_CHECKING:
    pass


SuiteOption = Annotated[
    Path | None,
    typer.Option(help="Expectation suite [default: stages/validate/TABLE.json].", dir_okay=False),
]


@reports_errors
def validate(
    bundle: BundleArg,
    table: Annotated[
        Literal["timeseries", "dispatch"],
        typer.Option(
            help="timeseries: the input (writes validation.json); dispatch: "
            "dispatch.parquet and baseline.parquet (writes dispatch_validation.json)."
        ),
    ] = "timeseries",
    suite: SuiteOption = None,
) -> None:
    """Check a bundle's tables with Great Expectations, then against GridQ's conventions."""
    from gridq.io import bundle as io

    with io.locked(bundle):
        _validate(bundle, table, suite)


def _validate(bundle: Path, table: str, suite: Path | None) -> None:
    from gridq import schemas
    from gridq.io import bundle as io
    from gridq.io import files
    from gridq.runners import validate as checks

    suite_definition = files.read_suite(suite or Path("stages/validate") / f"{table}.json")
    if table == "timeseries":
        run_config = files.read_config(bundle / io.RUN_CONFIG, schemas.RunConfig)
        files.read_config(bundle / io.SITE_CONFIG, schemas.Site)
        raw = files.read_table(bundle / io.TIMESERIES)
        reports = {io.TIMESERIES: checks.validate_timeseries(raw, run_config, suite_definition)}
        target = io.VALIDATION
    else:
        inputs = io.read_bundle(bundle)
        step_min = inputs.run_config.timestep_min
        io.check_lineage(bundle, io.DISPATCH, io.BASELINE)
        reports = {
            name: checks.validate_dispatch(
                io.read_dispatch(bundle / name, step_min), inputs.site.battery, suite_definition
            )
            for name in (io.DISPATCH, io.BASELINE)
        }
        target = io.DISPATCH_VALIDATION
    io.write_outputs(
        bundle,
        command=f"validate --table {table}",
        made_from=io.INPUT_FILES if table == "timeseries" else (*io.INPUT_FILES, *reports),
        tables={},
        documents={target: {name: report.as_dict() for name, report in reports.items()}},
    )
    for name, report in reports.items():
        if not report.success:
            raise InputError(f"{bundle / name}: {report.summary()}; details in {bundle / target}")
    if table == "timeseries":
        io.read_bundle(bundle)
    typer.echo(f"{bundle}: {table} valid ({'; '.join(r.summary() for r in reports.values())})")


@reports_errors
def solve(
    bundle: BundleArg,
    write_lp: Annotated[
        Path | None,
        typer.Option(
            help="Also write the run's LP to this file: .mps (named) or .lp (numbered).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Optimise the dispatch: writes dispatch.parquet and solve_stats.json."""
    from gridq.engine import run as runner
    from gridq.io import bundle as io

    with io.locked(bundle):
        inputs = io.read_bundle(bundle)
        if write_lp is not None:
            from gridq.io.lp_file import write_lp_file

            write_lp_file(
                runner.lp_model(inputs.site, inputs.run_config, inputs.timeseries), write_lp
            )
        with about_bundle(bundle):
            optimised = runner.optimise(inputs.site, inputs.run_config, inputs.timeseries)
        io.write_outputs(
            bundle,
            command="solve",
            made_from=io.INPUT_FILES,
            tables={io.DISPATCH: optimised.dispatch},
            documents={io.SOLVE_STATS: optimised.solve_stats},
            timings_s=optimised.timings_s,
        )
    typer.echo(f"{bundle}: solved, objective {optimised.solve_stats['objective_gbp']:.2f} GBP")


@reports_errors
def baseline(bundle: BundleArg) -> None:
    """Run the configured baseline: writes baseline.parquet."""
    from gridq.engine import run as runner
    from gridq.io import bundle as io

    with io.locked(bundle):
        inputs = io.read_bundle(bundle)
        frame = runner.run_baseline(inputs.site, inputs.run_config, inputs.timeseries)
        io.write_outputs(
            bundle,
            command="baseline",
            made_from=io.INPUT_FILES,
            tables={io.BASELINE: frame},
            documents={},
        )
    typer.echo(f"{bundle}: baseline '{inputs.run_config.baseline}' written")


@reports_errors
def metrics(bundle: BundleArg) -> None:
    """Price dispatch and baseline with one bill: writes metrics.json, bundle_metadata.json."""
    from gridq.engine import run as runner
    from gridq.io import bundle as io

    with io.locked(bundle):
        inputs = io.read_bundle(bundle)
        covered, dispatch, reference = io.read_solved(bundle, inputs)
        result = runner.run_metrics(inputs.site, inputs.run_config, covered, dispatch, reference)
        io.write_outputs(
            bundle,
            command="metrics",
            made_from=(*io.INPUT_FILES, io.DISPATCH, io.BASELINE),
            tables={},
            documents={io.METRICS: result, io.METADATA: io.metadata_document(bundle, inputs)},
        )
    typer.echo(f"{bundle}: saves {result['savings_gbp']:.2f} GBP against {result['baseline']}")


@reports_errors
def backtest(
    bundle: BundleArg,
    mode: Annotated[
        Literal["perfect", "rolling"],
        typer.Option(
            help="perfect: one solve with perfect foresight; rolling: re-plan from forecasts "
            "(options default to run_config's 'rolling')."
        ),
    ] = "perfect",
    forecast: Annotated[
        str | None,
        typer.Option(
            help="perfect, persistence_day, persistence_week, seasonal_naive, learned or replay."
        ),
    ] = None,
    reoptimise_every: Annotated[str | None, typer.Option(help="e.g. 30min, 1h, 1d.")] = None,
    horizon: Annotated[str | None, typer.Option(help="e.g. 36h, 48h.")] = None,
) -> None:
    """Solve, run the baseline and compute metrics in one go."""
    from gridq.io import bundle as io

    with io.locked(bundle):
        _backtest(bundle, mode, forecast, reoptimise_every, horizon)


def _backtest(
    bundle: Path,
    mode: Literal["perfect", "rolling"],
    forecast: str | None,
    reoptimise_every: str | None,
    horizon: str | None,
) -> None:
    from gridq.io import bundle as io
    from gridq.runners.backtest import backtest_bundle

    inputs = io.read_bundle(bundle)
    if mode == "rolling":
        run_config = with_rolling_options(inputs.run_config, forecast, reoptimise_every, horizon)
        inputs = io.BundleInputs(inputs.site, run_config, inputs.timeseries)
    with progress_bar("re-planning") as progress, about_bundle(bundle):
        done = backtest_bundle(bundle, inputs, mode, progress)
    print_summary(bundle, done.metrics)


@reports_errors
def report(bundle: BundleArg) -> None:
    """Write report.html (and the plot tables behind it) and print the summary."""
    from gridq.io import bundle as io
    from gridq.io import files
    from gridq.report import html as report_page

    with io.locked(bundle):
        inputs = io.read_bundle(bundle)
        covered, dispatch, reference = io.read_solved(bundle, inputs)
        io.check_lineage(bundle, io.METRICS)
        metrics = files.read_json(bundle / io.METRICS)
        page = report_page.build_report(
            inputs.site, inputs.run_config, covered, dispatch, reference, metrics
        )
        io.write_report(
            bundle,
            page.html,
            {io.PLOT_WEEK: page.week, io.PLOT_MONTHLY_BILLS: page.monthly_bills},
            made_from=(*io.INPUT_FILES, io.DISPATCH, io.BASELINE, io.METRICS),
        )
    print_summary(bundle, metrics)
    typer.echo(f"{bundle / io.REPORT} written")


@reports_errors
def verify(bundle: BundleArg) -> None:
    """Check that every output still matches the files it was made from (exit 0, or 2)."""
    from gridq.io import bundle as io

    with io.locked(bundle):
        found = io.verify(bundle)
    if found:
        for problem in found[:-1]:
            typer.echo(f"error: {problem}", err=True)
        raise GridqError(found[-1])
    present = [name for name in io.LINEAGE_OUTPUTS if (bundle / name).is_file()]
    typer.echo(f"{bundle}: {len(present)} output(s) current ({', '.join(present) or 'none yet'})")


def version() -> None:
    """Print GridQ's version."""
    typer.echo(__version__)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    for command in (validate, solve, baseline, metrics, backtest, report, verify, version):
        app.command()(command)
