"""Rolling-horizon backtest: re-plan every interval from forecasts, settle on actuals.

At each re-optimisation the live step plans the horizon from the forecast; the battery then
follows the plan's charge and discharge until the next re-optimisation, and the grid absorbs the
forecast error: import and export settle the actual balance, PV above the export limit is
curtailed and, if that is not enough, the battery discharges less. The bill is computed on
those actual flows.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.forecast import FORECAST_SERIES, ForecastProvider
from gridq.engine.tariff import compile_tariff
from gridq.errors import InputError
from gridq.runners.backtest import optimise, run_baseline, run_metrics
from gridq.runners.live import LiveState, step
from gridq.schemas import RunConfig, Site


@dataclass(frozen=True)
class RollingResult:
    """The realised dispatch of the evaluation window and what the run measured."""

    dispatch: pd.DataFrame
    forecast_error: dict[str, dict[str, float]]
    solves: int
    import_limit_exceeded_steps: int
    timings_s: dict[str, float] = field(default_factory=dict)


def _settle(
    site: Site, actual: pd.DataFrame, planned: pd.DataFrame, soc_kwh: float, dt_h: float
) -> pd.DataFrame:
    """Actual flows when the battery follows ``planned`` and the grid takes the rest.

    Where the actual surplus exceeds the export limit, PV is curtailed first and then the
    battery discharges less; the battery's power is trimmed wherever the SOC, which then departs
    from the plan, would leave its limits.
    """
    battery = site.battery
    eta_c, eta_d = battery.charge_efficiency_frac, battery.discharge_efficiency_frac
    limit = np.inf if site.grid.export_limit_kw is None else site.grid.export_limit_kw
    rows = []
    for (_, now), (_, plan) in zip(actual.iterrows(), planned.iterrows(), strict=True):
        # A sequential rule: each step starts from the SOC the last one left.
        charge = min(
            plan[col.BATTERY_CHARGE_KW],
            max(battery.soc_max_kwh - soc_kwh, 0.0) / (eta_c * dt_h)
            + plan[col.BATTERY_DISCHARGE_KW] / (eta_c * eta_d),
        )
        discharge = plan[col.BATTERY_DISCHARGE_KW]
        load, pv = now[col.LOAD_KW], now[col.PV_KW]
        surplus = pv + discharge - load - charge
        curtail = min(max(surplus - limit, 0.0), pv)
        discharge -= min(max(surplus - limit - curtail, 0.0), discharge)
        stored = soc_kwh + dt_h * (eta_c * charge - discharge / eta_d)
        if stored < battery.soc_min_kwh:
            discharge -= min((battery.soc_min_kwh - stored) * eta_d / dt_h, discharge)
            stored = soc_kwh + dt_h * (eta_c * charge - discharge / eta_d)
        soc_kwh = stored
        net = load + charge + curtail - pv - discharge
        rows.append((load, pv, max(net, 0.0), max(-net, 0.0), charge, discharge, curtail, soc_kwh))
    return pd.DataFrame(
        rows,
        index=actual.index,
        columns=[
            col.LOAD_KW,
            col.PV_KW,
            col.GRID_IMPORT_KW,
            col.GRID_EXPORT_KW,
            col.BATTERY_CHARGE_KW,
            col.BATTERY_DISCHARGE_KW,
            col.PV_CURTAIL_KW,
            col.SOC_KWH,
        ],
    )


def _month_peaks(
    run_config: RunConfig, realised: pd.DataFrame, now: pd.Timestamp
) -> tuple[tuple[str, float], ...]:
    """Demand already set this month, per demand charge, from the realised flows."""
    if not run_config.tariff.demand_charges or realised.empty:
        return ()
    zone = run_config.tariff.local_timezone
    month = now.tz_convert(zone).strftime("%Y-%m")
    this_month = realised.loc[
        pd.DatetimeIndex(realised.index).tz_convert(zone).strftime("%Y-%m") == month
    ]
    if len(this_month) < 2:
        return ()
    tariff = compile_tariff(
        run_config.tariff, this_month.assign(**{col.IMPORT_PRICE: 0.0, col.EXPORT_PRICE: 0.0})
    )
    imports = this_month[col.GRID_IMPORT_KW].to_numpy()
    return tuple(
        (charge.name, float(charge.peaks_kw(imports).max(initial=0.0)))
        for charge in tariff.demand_charges
    )


def rolling_backtest(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    provider: ForecastProvider,
    reoptimise_every: pd.Timedelta,
    horizon: pd.Timedelta,
    progress: Callable[[int, int], None] | None = None,
) -> RollingResult:
    """Re-plan every ``reoptimise_every`` over ``horizon`` from ``provider``'s forecasts.

    The evaluation window starts once the provider has its warm-up history; the battery starts
    it at its initial SOC and, under ``at_least_initial``, the last plan ends it there too.
    """
    index = pd.DatetimeIndex(timeseries.index)
    step_td = index[1] - index[0]
    start = int(np.searchsorted(index, index[0] + provider.warmup))
    every = max(int(reoptimise_every / step_td), 1)
    horizon_steps = max(int(horizon / step_td), every)
    if start >= len(index) - 1:
        raise InputError(
            f"the run ({len(index)} steps) is no longer than the forecast's warm-up "
            f"({provider.warmup}); use a longer timeseries or a forecast that needs less history"
        )
    issues = list(range(start, len(index), every))
    soc_kwh = site.battery.initial_soc_kwh
    settled: list[pd.DataFrame] = []
    errors: dict[str, list[np.ndarray]] = {series: [] for series in FORECAST_SERIES}
    solve_s = 0.0
    for number, issue in enumerate(issues):
        now = index[issue]
        steps = min(horizon_steps, len(index) - issue)
        forecast = provider.forecast(now, steps)
        realised = pd.concat(settled) if settled else timeseries.iloc[:0]
        state = LiveState(
            now=now,
            soc_kwh=soc_kwh,
            ends_run=issue + steps == len(index),
            peak_so_far_kw=_month_peaks(run_config, realised, now),
        )
        started = time.perf_counter()
        plan = step(site, run_config, state, forecast)
        solve_s += time.perf_counter() - started
        applied = slice(issue, min(issue + every, len(index)))
        actual = timeseries.iloc[applied]
        settled.append(
            _settle(
                site,
                actual,
                plan.dispatch.iloc[: len(actual)],
                soc_kwh,
                step_td / pd.Timedelta(hours=1),
            )
        )
        for series in FORECAST_SERIES:
            errors[series].append(
                forecast[series].to_numpy()[: len(actual)] - actual[series].to_numpy()
            )
        soc_kwh = float(settled[-1][col.SOC_KWH].iloc[-1])
        if progress is not None:
            progress(number + 1, len(issues))
    dispatch = pd.concat(settled)[list(col.DISPATCH_COLUMNS)]
    dispatch.index.name = col.TIMESTAMP
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


def rolling_metrics(
    realised: dict[str, Any], perfect: dict[str, Any], result: RollingResult
) -> dict[str, Any]:
    """metrics.json of a rolling run: realised savings, perfect-foresight savings, the gap."""
    return realised | {
        "mode": "rolling",
        "perfect_foresight": {
            "savings_gbp": perfect["savings_gbp"],
            "total_cost_gbp": perfect["optimised"]["bill"]["total_cost_gbp"],
        },
        "forecast_gap_gbp": perfect["savings_gbp"] - realised["savings_gbp"],
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
