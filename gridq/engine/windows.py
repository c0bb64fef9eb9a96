"""The window solver: re-plan every interval from forecasts, settle on actuals.

At each re-optimisation :func:`~gridq.engine.plan.plan_window` plans the horizon from the
forecast; until the next one the site controller (:mod:`gridq.engine.controller`) follows the
plan's battery power and curtailment while the meter stays in the band the plan sets, the
battery making up the difference where it would leave it, and the grid absorbs the rest of the
forecast error. The bill is computed on those actual flows. The month-to-date peaks travel
between windows as arrays per demand charge and period; SOC in kWh.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.controller import import_ceiling_kw, meter_band_kw, settle
from gridq.engine.forecast import FORECAST_SERIES, ForecastProvider, PerfectForecast
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.solve import highs_options
from gridq.engine.plan import LiveState, plan_window
from gridq.engine.run import optimise, run_baseline, run_metrics
from gridq.engine.tariff import CompiledTariff, compile_tariff
from gridq.errors import ConfigError, InputError
from gridq.schemas import RunConfig, Site

SOC_POSITION = col.DISPATCH_COLUMNS.index(col.SOC_KWH)
IMPORT_POSITION = col.DISPATCH_COLUMNS.index(col.GRID_IMPORT_KW)


@dataclass(frozen=True)
class RollingResult:
    """The realised dispatch of the evaluation window and what the run measured."""

    dispatch: pd.DataFrame
    forecast_error: dict[str, dict[str, float]]
    solves: int
    import_limit_exceeded_steps: int
    timings_s: dict[str, float] = field(default_factory=dict)


def plan_forecast(
    point: pd.DataFrame,
    provider: ForecastProvider,
    tariff: CompiledTariff,
    peak_quantile: float | None,
) -> pd.DataFrame:
    """The forecast a plan optimises: demand-charge steps on the load's ``peak_quantile``.

    ``point`` is ``provider``'s point forecast from its first step. Planning those steps on a
    high quantile makes the plan hold the energy and set the demand target that a load above
    its median would need; other steps keep the median. Providers without quantiles give
    ``point`` itself.
    """
    load_quantile = getattr(provider, "load_quantile_kw", None)
    inside = tariff.demand_steps()
    if peak_quantile is None or load_quantile is None or not inside.any():
        return point
    load_kw = point[col.LOAD_KW].to_numpy().copy()
    load_kw[inside] = load_quantile(point.index[0], len(point), peak_quantile)[inside]
    return point.assign(**{col.LOAD_KW: load_kw})


def peak_reserve_kwh(
    provider: ForecastProvider, now: pd.Timestamp, peak_quantile: float | None
) -> float:
    """The SOC reserve a plan from ``now`` holds: sized by a provider with quantiles, else 0."""
    reserve = getattr(provider, "peak_reserve_kwh", None)
    return 0.0 if reserve is None or peak_quantile is None else reserve(now, peak_quantile)


def _raise_peaks(
    tariff: CompiledTariff,
    settled_import_kw: np.ndarray,
    start: int,
    stop: int,
    peaks_kw: dict[str, np.ndarray],
) -> None:
    """Raise each demand charge's running peak per period by the blocks of steps ``start:stop``.

    A block still partly unsettled counts its missing steps as no import. ``tariff`` is
    compiled once over the run and ``settled_import_kw`` covers its steps.
    """
    for charge in tariff.demand_charges:
        if not len(charge.block_steps):
            continue
        # Blocks are runs of consecutive steps: the first one touched may start earlier.
        low = max(start - int(charge.block_steps.max()), 0)
        blocks = charge.block_of_step[low:stop]
        inside = blocks >= 0
        touched, position = np.unique(blocks[inside], return_inverse=True)
        sums_kw = np.bincount(position, weights=settled_import_kw[low:stop][inside])
        np.maximum.at(
            peaks_kw[charge.name],
            charge.block_period[touched],
            sums_kw / charge.block_steps[touched],
        )


def rolling_backtest(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    provider: ForecastProvider,
    reoptimise_every: pd.Timedelta,
    horizon: pd.Timedelta,
    progress: Callable[[int, int], None] | None = None,
    highs: InPlaceHighs | None = None,
) -> RollingResult:
    """Re-plan every ``reoptimise_every`` over ``horizon`` from ``provider``'s forecasts.

    The evaluation window starts once the provider has its warm-up history; the battery starts
    it at its initial SOC and, under ``at_least_initial``, the last plan ends it there too.
    """
    index = pd.DatetimeIndex(timeseries.index)
    step_td = index[1] - index[0]
    start = int(index.searchsorted(index[0] + provider.warmup))
    every, horizon_steps = int(reoptimise_every / step_td), int(horizon / step_td)
    if every < 1 or every * step_td != reoptimise_every or horizon_steps < every:
        raise ConfigError(
            f"re-planning every {reoptimise_every} over {horizon} does not fit {step_td} steps; "
            "use whole steps and a horizon at least the re-plan interval"
        )
    if start >= len(index) - 1:
        raise InputError(
            f"the run ({len(index)} steps) is no longer than the forecast's warm-up "
            f"({provider.warmup}); use a longer timeseries or a forecast that needs less history"
        )
    if every > len(index) - start:
        raise InputError(
            f"re-planning every {reoptimise_every} (rolling.reoptimise_every_min) is longer than "
            f"the run after the forecast's warm-up ({(len(index) - start) * step_td}); re-plan "
            "more often or give a longer timeseries"
        )
    issues = list(range(start, len(index), every))
    # Compiled once over the evaluation window, the steps that the run's bill prices.
    evaluated_tariff = compile_tariff(run_config.tariff, timeseries.iloc[start:])
    settled_import_kw = np.zeros(len(index) - start)
    peaks_kw = {c.name: np.zeros(len(c.period_names)) for c in evaluated_tariff.demand_charges}
    highs = InPlaceHighs(highs_options(run_config.solver)) if highs is None else highs
    soc_kwh = site.battery.initial_soc_kwh
    settled: list[np.ndarray] = []
    actuals = {series: timeseries[series].to_numpy() for series in FORECAST_SERIES}
    errors: dict[str, list[np.ndarray]] = {series: [] for series in FORECAST_SERIES}
    solve_s = 0.0
    for number, issue in enumerate(issues):
        now = index[issue]
        steps = min(horizon_steps, len(index) - issue)
        window_tariff = evaluated_tariff.window(
            issue - start, issue - start + steps, settled_import_kw
        )
        point = provider.forecast(now, steps)
        forecast = plan_forecast(point, provider, window_tariff, run_config.rolling.peak_quantile)
        state = LiveState(
            now=now,
            soc_kwh=soc_kwh,
            soc_reserve_kwh=peak_reserve_kwh(provider, now, run_config.rolling.peak_quantile),
            ends_run=issue + steps == len(index),
            peak_floor_kw={
                charge.name: peaks_kw[charge.name][charge.run_periods()]
                for charge in window_tariff.demand_charges
            },
        )
        started = time.perf_counter()
        plan = plan_window(site, run_config, state, forecast, highs, window_tariff)
        solve_s += time.perf_counter() - started
        applied = slice(issue, min(issue + every, len(index)))
        length = applied.stop - applied.start
        planned = plan.dispatch.iloc[:length]
        # A perfect plan is what happens; settling would also net the import and export of a
        # step the plan shares between importing and exporting, where export pays more.
        if isinstance(provider, PerfectForecast):
            part = planned
        else:
            ceiling_kw = import_ceiling_kw(
                window_tariff,
                plan.dispatch[col.GRID_IMPORT_KW].to_numpy(),
                state.peak_floor_kw,
                length,
            )
            band_kw = meter_band_kw(
                planned,
                site.grid.export_limit_kw,
                ceiling_kw,
                window_tariff.demand_steps()[:length],
            )
            part = settle(
                site,
                timeseries.iloc[applied],
                planned,
                soc_kwh,
                step_td / pd.Timedelta(hours=1),
                band_kw,
            )
        # Plain arrays: 17,520 small frames would hold several hundred MiB.
        values = part[list(col.DISPATCH_COLUMNS)].to_numpy()
        settled.append(values)
        for series in FORECAST_SERIES:
            errors[series].append(point[series].to_numpy()[:length] - actuals[series][applied])
        soc_kwh = float(values[-1, SOC_POSITION])
        settled_import_kw[applied.start - start : applied.stop - start] = values[:, IMPORT_POSITION]
        _raise_peaks(
            evaluated_tariff,
            settled_import_kw,
            applied.start - start,
            applied.stop - start,
            peaks_kw,
        )
        if progress is not None:
            progress(number + 1, len(issues))
    dispatch = pd.DataFrame(
        np.concatenate(settled),
        index=pd.DatetimeIndex(index[start:], name=col.TIMESTAMP),
        columns=list(col.DISPATCH_COLUMNS),
    )
    limit = site.grid.import_limit_kw
    exceeded = 0 if limit is None else int((dispatch[col.GRID_IMPORT_KW] > limit + 1e-6).sum())
    forecast_error = {}
    for series, parts in errors.items():
        error = np.concatenate(parts)
        forecast_error[series] = {
            "mae_kw": float(np.abs(error).mean()),
            "rmse_kw": float(np.sqrt((error**2).mean())),
        }
    return RollingResult(
        dispatch=dispatch,
        forecast_error=forecast_error,
        solves=len(issues),
        import_limit_exceeded_steps=exceeded,
        timings_s={"solve_s": solve_s, "solves": float(len(issues))},
    )


def captured_frac(realised_gbp: float, perfect_gbp: float) -> float | None:
    """Share of the perfect-foresight savings the rolling run kept; None if those are ~0."""
    return realised_gbp / perfect_gbp if perfect_gbp > 1e-9 else None


def rolling_metrics(
    realised: dict[str, Any], perfect: dict[str, Any], result: RollingResult
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


@dataclass(frozen=True)
class RollingBacktest:
    """Everything a rolling backtest writes into a bundle."""

    dispatch: pd.DataFrame
    baseline: pd.DataFrame
    metrics: dict[str, Any]
    solve_stats: dict[str, Any]
    timings_s: dict[str, float]


def backtest_rolling(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    provider: ForecastProvider,
    progress: Callable[[int, int], None] | None = None,
) -> RollingBacktest:
    """Rolling run, its baseline and the perfect-foresight run on the same evaluation window."""
    options = run_config.rolling
    result = rolling_backtest(
        site,
        run_config,
        timeseries,
        provider,
        pd.Timedelta(minutes=options.reoptimise_every_min),
        pd.Timedelta(hours=options.horizon_h),
        progress,
    )
    window = timeseries.loc[result.dispatch.index]
    reference = run_baseline(site, run_config, window)
    perfect = optimise(site, run_config, window)
    metrics = rolling_metrics(
        run_metrics(site, run_config, window, result.dispatch, reference),
        run_metrics(site, run_config, window, perfect.dispatch, reference),
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
    return RollingBacktest(
        dispatch=result.dispatch,
        baseline=reference,
        metrics=metrics,
        solve_stats=stats,
        timings_s=result.timings_s,
    )
