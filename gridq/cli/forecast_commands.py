"""``gridq forecast evaluate``: how well each forecast provider does on a bundle."""

from pathlib import Path

import typer

from gridq.cli.common import BundleArg, reports_errors

forecast_app = typer.Typer(help="Forecast providers: evaluate them.", no_args_is_help=True)


@forecast_app.command("evaluate")
@reports_errors
def evaluate(
    bundle: BundleArg,
) -> None:
    """Score every provider on the same windows; print a table, write forecast_evaluation.json."""
    from gridq.io import bundle as io

    with io.locked(bundle):
        _evaluate(bundle)


def _evaluate(bundle: Path) -> None:
    from gridq.io import bundle as io
    from gridq.runners import forecast_eval as evaluation

    inputs = io.read_bundle(bundle)
    vintages = None
    if (bundle / io.FORECASTS).exists():
        vintages = io.read_forecast_vintages(bundle / io.FORECASTS, inputs.site)
    result = evaluation.evaluate_forecasts(
        inputs.site, inputs.run_config, inputs.timeseries, vintages
    )
    io.write_outputs(
        bundle,
        command="forecast evaluate",
        made_from=(*io.INPUT_FILES, *((io.FORECASTS,) if vintages is not None else ())),
        tables={},
        documents={io.FORECAST_EVALUATION: result},
    )
    windows = result["windows"]
    typer.echo(
        f"{bundle}: {windows['issues']} forecasts from {windows['first_issue']}, every "
        f"{windows['reoptimise_every_min']} min, scored on the steps each plan applies"
    )
    typer.echo(
        "| provider | load MAE kW | load RMSE kW | load pinball kW | PV MAE kW | PV pinball kW |"
    )
    typer.echo("|---|---|---|---|---|---|")
    for name, scores in result["providers"].items():
        load, pv = scores["load_kw"], scores["pv_kw"]
        typer.echo(
            f"| {name} | {load['mae_kw']:.3f} | {load['rmse_kw']:.3f} | {load['pinball_kw']:.3f}"
            f" | {pv['mae_kw']:.3f} | {pv['pinball_kw']:.3f} |"
        )
    for name, reason in result["skipped"].items():
        typer.echo(f"| {name} | n/a: {reason} |||||")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(forecast_app, name="forecast")
