"""A whole run: its optimal dispatch, baselines, metrics and bill, perfect or rolling.

Both backtests plan through the window solver (:func:`~gridq.engine.windows.solve_windows`):
perfect foresight is one window over the run, a rolling run many. Each dispatch is priced and
checked once (:func:`~gridq.engine.metrics.summarise`); solve_stats.json and metrics.json
read that summary.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from linopy import Model

from gridq.engine.baseline import BaselineKind, baseline_dispatch, no_battery
from gridq.engine.bill import CONSTANT_BILL_ITEMS, Bill, bill
from gridq.engine.forecast import ForecastProvider, PerfectForecast
from gridq.engine.metrics import Summary, compute_metrics, summarise
from gridq.engine.model.build import build_model
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.problem import DispatchProblem, make_problem
from gridq.engine.tariff import CompiledTariff, compile_tariff
from gridq.engine.windows import Windows, WindowsResult, rolling_windows, solve_windows
from gridq.errors import InputError
from gridq.schemas import RunConfig, Site


@dataclass(frozen=True)
class Optimised:
    """The optimal dispatch, the problem it solves, its summary, solve facts and timings [s]."""

    dispatch: pd.DataFrame
    problem: DispatchProblem
    summary: Summary
    solve_stats: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)


def optimise(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    tariff: CompiledTariff | None = None,
    highs: InPlaceHighs | None = None,
) -> Optimised:
    """Solve the dispatch LP of the whole run (one window); report its bill and checks.

    The window solver solves the LP's arrays in place; the emitter test holds them to the
    linopy model of the same description. A caller solving runs of one shape in turn (the
    years of a project) passes one ``highs`` so each starts from the last optimal basis.
    """
    problem = make_problem(site, run_config, timeseries, tariff)
    steps = len(timeseries)
    result = solve_windows(
        site,
        run_config,
        timeseries,
        PerfectForecast(timeseries),
        Windows(start=0, every_steps=steps, horizon_steps=steps),
        highs=highs,
        tariff=problem.tariff,
    )
    summary = summarise(result.dispatch, problem)
    stats = with_summary(result.solve_stats, summary)
    timings = {name: result.timings_s[name] for name in ("build_s", "solve_s")}
    return Optimised(
        dispatch=result.dispatch,
        problem=problem,
        summary=summary,
        solve_stats=stats,
        timings_s=timings,
    )


def with_summary(solve_stats: dict[str, Any], summary: Summary) -> dict[str, Any]:
    """solve_stats.json: the solve's facts, the dispatch's bill, its constant terms, checks."""
    return solve_stats | {
        "bill_gbp": summary.bill.as_dict(),
        "constant_terms_gbp": {name: getattr(summary.bill, name) for name in CONSTANT_BILL_ITEMS},
        "checks": summary.checks,
    }


def lp_model(site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> Model:
    """The linopy model of the whole run's LP, the one :func:`optimise` solves as arrays."""
    return build_model(make_problem(site, run_config, timeseries))


def run_baseline(site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> pd.DataFrame:
    """The run's configured baseline dispatch."""
    return baseline_dispatch(make_problem(site, run_config, timeseries), run_config.baseline)


def baseline_summaries(
    problem: DispatchProblem, headline: str, baseline: pd.DataFrame
) -> dict[str, Summary]:
    """The headline baseline and the site without a battery, each summarised once."""
    baselines = {headline: summarise(baseline, problem)}
    if headline != "no_battery":
        baselines["no_battery"] = summarise(no_battery(problem), problem)
    return baselines


def run_metrics(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    dispatch: pd.DataFrame,
    baseline: pd.DataFrame,
) -> dict[str, Any]:
    """Compute metrics.json for ``dispatch`` (read from a bundle).

    It is compared with the configured baseline and with the site without a battery.
    """
    problem = make_problem(site, run_config, timeseries)
    return compute_metrics(
        summarise(dispatch, problem),
        baseline_summaries(problem, run_config.baseline, baseline),
        run_config.baseline,
    )


@dataclass(frozen=True)
class Backtest:
    """Everything a backtest writes into a bundle."""

    dispatch: pd.DataFrame
    baseline: pd.DataFrame
    metrics: dict[str, Any]
    solve_stats: dict[str, Any]
    timings_s: dict[str, float]


def backtest_of(
    problem: DispatchProblem,
    baseline: BaselineKind,
    optimised: Summary,
    dispatch: pd.DataFrame,
    solve_stats: dict[str, Any],
    timings_s: dict[str, float],
) -> Backtest:
    """The backtest of ``dispatch``, optimal for ``problem``: its ``baseline`` and metrics."""
    reference = baseline_dispatch(problem, baseline)
    metrics = compute_metrics(optimised, baseline_summaries(problem, baseline, reference), baseline)
    return Backtest(
        dispatch=dispatch,
        baseline=reference,
        metrics=metrics,
        solve_stats=solve_stats,
        timings_s=timings_s,
    )


def backtest_perfect(site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> Backtest:
    """The perfect-foresight run, its baseline and metrics."""
    optimised = optimise(site, run_config, timeseries)
    return backtest_of(
        optimised.problem,
        run_config.baseline,
        optimised.summary,
        optimised.dispatch,
        optimised.solve_stats,
        optimised.timings_s,
    )


def captured_frac(realised_gbp: float, perfect_gbp: float) -> float | None:
    """Share of the perfect-foresight savings the rolling run kept; None if those are ~0."""
    return realised_gbp / perfect_gbp if perfect_gbp > 1e-9 else None


def rolling_metrics(
    realised: dict[str, Any], perfect: dict[str, Any], result: WindowsResult
) -> dict[str, Any]:
    """metrics.json of a rolling run: realised and perfect savings, their gap and ratio."""
    return realised | {
        "mode": "rolling",
        "perfect_foresight": {
            "savings_gbp": perfect["savings_gbp"],
            "total_cost_gbp": perfect["optimised"]["bill"]["total_cost_gbp"],
        },
        "forecast_gap_gbp": perfect["savings_gbp"] - realised["savings_gbp"],
        "captured_frac": captured_frac(realised["savings_gbp"], perfect["savings_gbp"]),
        "forecast_error": result.forecast_error,
        "solves": result.solves,
        "import_limit_exceeded_steps": result.import_limit_exceeded_steps,
    }


def backtest_rolling(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    provider: ForecastProvider,
    progress: Callable[[int, int], None] | None = None,
) -> Backtest:
    """Rolling run, its baseline and the perfect-foresight run on the same evaluation window."""
    options = run_config.rolling
    windows = rolling_windows(
        pd.DatetimeIndex(timeseries.index),
        provider,
        pd.Timedelta(minutes=options.reoptimise_every_min),
        pd.Timedelta(hours=options.horizon_h),
    )
    window = timeseries.iloc[windows.start :]
    # Compiled once: the rolling plans, the perfect run and every bill price these steps.
    tariff = compile_tariff(run_config.tariff, window)
    result = solve_windows(site, run_config, timeseries, provider, windows, progress, tariff=tariff)
    perfect = optimise(site, run_config, window, tariff)
    problem = perfect.problem
    reference = baseline_dispatch(problem, run_config.baseline)
    baselines = baseline_summaries(problem, run_config.baseline, reference)
    metrics = rolling_metrics(
        compute_metrics(summarise(result.dispatch, problem), baselines, run_config.baseline),
        compute_metrics(perfect.summary, baselines, run_config.baseline),
        result,
    )
    stats = {
        "mode": "rolling",
        "forecast": options.forecast,
        "reoptimise_every_min": options.reoptimise_every_min,
        "horizon_h": options.horizon_h,
        "solves": result.solves,
        "evaluation_start": window.index[0].isoformat(),
        "perfect_foresight": perfect.solve_stats,
    }
    return Backtest(
        dispatch=result.dispatch,
        baseline=reference,
        metrics=metrics,
        solve_stats=stats,
        timings_s=result.timings_s,
    )


def price_dispatch(
    site: Site, run_config: RunConfig, timeseries: pd.DataFrame, flows: pd.DataFrame
) -> Bill:
    """The bill of ``flows`` (a dispatch or meter table) under the bundle's tariff.

    ``flows`` must cover exactly the bundle's timestamps.
    """
    if not pd.DatetimeIndex(flows.index).equals(pd.DatetimeIndex(timeseries.index)):
        raise InputError(
            f"the dispatch covers {flows.index[0]:%Y-%m-%dT%H:%MZ} to "
            f"{flows.index[-1]:%Y-%m-%dT%H:%MZ} ({len(flows)} steps) but the bundle's timeseries "
            f"{timeseries.index[0]:%Y-%m-%dT%H:%MZ} to {timeseries.index[-1]:%Y-%m-%dT%H:%MZ} "
            f"({len(timeseries)} steps); price it with a bundle of the same period"
        )
    tariff = compile_tariff(run_config.tariff, timeseries)
    return bill(flows, tariff, site.battery.degradation_cost_gbp_per_kwh)
