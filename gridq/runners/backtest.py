"""A bundle's backtest: run it perfect or rolling, then publish its outputs together.

``gridq backtest`` and every task of a fleet call :func:`backtest_bundle`, so a fleet's bundle
is exactly what the single-site command writes. The caller holds the bundle's lock.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from gridq.engine.forecast import make_provider
from gridq.engine.run import Backtest, backtest_perfect, backtest_rolling
from gridq.io import bundle as io


def backtest_command(mode: Literal["perfect", "rolling"]) -> str:
    """The command a backtest in ``mode`` records in its outputs' lineage."""
    return "backtest --mode rolling" if mode == "rolling" else "backtest"


def backtest_bundle(
    bundle: Path,
    inputs: io.BundleInputs,
    mode: Literal["perfect", "rolling"],
    progress: Callable[[int, int], None] | None = None,
) -> Backtest:
    """Backtest ``inputs`` (read from ``bundle``) and publish dispatch, baseline and metrics."""
    site, run_config, timeseries = inputs.site, inputs.run_config, inputs.timeseries
    if mode == "rolling":
        forecast = run_config.rolling.forecast
        replayed = (io.FORECASTS,) if forecast == "replay" else ()
        vintages = (
            io.read_forecast_vintages(bundle / io.FORECASTS, inputs.site) if replayed else None
        )
        provider = make_provider(forecast, timeseries, site, run_config, vintages)
        done = backtest_rolling(site, run_config, timeseries, provider, progress)
        made_from = (*io.INPUT_FILES, *replayed)
    else:
        done = backtest_perfect(site, run_config, timeseries)
        made_from = io.INPUT_FILES
    publish_backtest(bundle, inputs, done, backtest_command(mode), made_from)
    return done


def publish_backtest(
    bundle: Path,
    inputs: io.BundleInputs,
    done: Backtest,
    command: str,
    made_from: tuple[str, ...] = io.INPUT_FILES,
) -> None:
    """Publish a backtest's dispatch, baseline, solve stats, metrics and metadata together."""
    io.write_outputs(
        bundle,
        command=command,
        made_from=made_from,
        tables={io.DISPATCH: done.dispatch, io.BASELINE: done.baseline},
        documents={
            io.SOLVE_STATS: done.solve_stats,
            io.METRICS: done.metrics,
            io.METADATA: io.metadata_document(bundle, inputs),
        },
        timings_s=done.timings_s,
    )
