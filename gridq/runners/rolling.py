"""Rolling-horizon backtest: re-plan every interval from forecasts, settle on actuals.

At each re-optimisation the live step plans the horizon from the forecast; until the next one
the site controller follows the plan's battery power and curtailment while the meter stays in
the band the plan sets (:func:`meter_band_kw`), the battery making up the difference where it
would leave it, and the grid absorbs the rest of the forecast error (:func:`_settle`). The bill
is computed on those actual flows.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.forecast import FORECAST_SERIES, ForecastProvider, PerfectForecast
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.solve import highs_options
from gridq.engine.tariff import CompiledTariff, compile_tariff
from gridq.errors import ConfigError, InputError
from gridq.runners.backtest import optimise, run_baseline, run_metrics
from gridq.runners.live import LiveState, Plan, step
from gridq.schemas import RunConfig, Site

SOC_POSITION = col.DISPATCH_COLUMNS.index(col.SOC_KWH)
IMPORT_POSITION = col.DISPATCH_COLUMNS.index(col.GRID_IMPORT_KW)
FLOW_TOLERANCE_KW = 1e-6
"""A planned flow below this is solver noise, not an instruction [kW]."""


@dataclass(frozen=True)
class RollingResult:
    """The realised dispatch of the evaluation window and what the run measured."""

    dispatch: pd.DataFrame
    forecast_error: dict[str, dict[str, float]]
    solves: int
    import_limit_exceeded_steps: int
    timings_s: dict[str, float] = field(default_factory=dict)


def meter_band_kw(
    planned: pd.DataFrame,
    export_limit_kw: float | None,
    import_ceiling_kw: np.ndarray,
    demand_steps: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per step, the band the site controller holds the meter's net import in [kW].

    Net import is import less export. Between plans the battery follows the plan's power while
    the actual net stays in the band, and makes up the difference where it would leave it:
    - the top is the plan's demand target (``import_ceiling_kw``, infinite outside demand
      charges);
    - a step the plan self-consumes (no import, export or curtailment) holds the meter at zero:
      the battery stores a surplus rather than export it for less than import costs and, outside
      demand-charge steps, covers a deficit (inside them its energy defends the peak);
    - a step the plan exports at the limit stores what would otherwise be curtailed;
    - a step the plan curtails on purpose (to import at a negative price) is left to the grid.
    """
    import_kw = planned[col.GRID_IMPORT_KW].to_numpy()
    export_kw = planned[col.GRID_EXPORT_KW].to_numpy()
    free = planned[col.PV_CURTAIL_KW].to_numpy() <= FLOW_TOLERANCE_KW
    low = np.full(len(planned), -np.inf)
    high = np.asarray(import_ceiling_kw, dtype=float).copy()
    self_consuming = free & (import_kw <= FLOW_TOLERANCE_KW) & (export_kw <= FLOW_TOLERANCE_KW)
    low[self_consuming] = 0.0
    high[self_consuming & ~demand_steps] = 0.0
    if export_limit_kw is not None:
        at_limit = (
            free
            & (import_kw <= FLOW_TOLERANCE_KW)
            & (export_kw >= export_limit_kw - FLOW_TOLERANCE_KW)
        )
        low[at_limit] = -export_limit_kw
    return low, high


def _settle(
    site: Site,
    actual: pd.DataFrame,
    planned: pd.DataFrame,
    soc_kwh: float,
    dt_h: float,
    band_kw: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Actual flows when the battery follows ``planned`` and the grid takes the rest.

    Where the actual net import would leave ``band_kw`` (see :func:`meter_band_kw`; None holds
    nothing), the battery makes up the difference within its power and stored energy: above
    the band it charges less and then discharges more, below it discharges less and then
    charges more. PV the plan curtails on purpose sets an output cap on the inverter (the
    planned PV less its curtailment), lifted where import would leave the band or pass the
    connection's limit. Where the surplus still exceeds the export limit, PV is curtailed first
    and then the battery discharges less; the battery's power is trimmed wherever the SOC would
    leave its limits. A step the plan shares between importing and exporting (where export pays
    more) keeps both: see ``_time_shared``.
    """
    battery = site.battery
    eta_c, eta_d = battery.charge_efficiency_frac, battery.discharge_efficiency_frac
    limit = np.inf if site.grid.export_limit_kw is None else site.grid.export_limit_kw
    import_limit_kw = np.inf if site.grid.import_limit_kw is None else site.grid.import_limit_kw
    unbounded = np.full(len(actual), np.inf)
    lows, highs = (-unbounded, unbounded) if band_kw is None else band_kw
    planned_curtail_kw = planned[col.PV_CURTAIL_KW].to_numpy()
    pv_cap_kw = np.where(
        planned_curtail_kw > FLOW_TOLERANCE_KW,
        planned[col.PV_KW].to_numpy() - planned_curtail_kw,
        np.inf,
    )
    rows = []
    for load, pv, planned_charge, discharge, low, high, planned_import, planned_export, cap in zip(
        actual[col.LOAD_KW].to_numpy().tolist(),
        actual[col.PV_KW].to_numpy().tolist(),
        planned[col.BATTERY_CHARGE_KW].to_numpy().tolist(),
        planned[col.BATTERY_DISCHARGE_KW].to_numpy().tolist(),
        np.asarray(lows, dtype=float).tolist(),
        np.asarray(highs, dtype=float).tolist(),
        planned[col.GRID_IMPORT_KW].to_numpy().tolist(),
        planned[col.GRID_EXPORT_KW].to_numpy().tolist(),
        pv_cap_kw.tolist(),
        strict=True,
    ):
        # A sequential rule: each step starts from the SOC the last one left.
        charge = min(
            planned_charge,
            max(battery.soc_max_kwh - soc_kwh, 0.0) / (eta_c * dt_h) + discharge / (eta_c * eta_d),
        )
        net = load + charge - pv - discharge
        if net > high:
            cut = min(net - high, charge)
            charge -= cut
            available_kw = max(soc_kwh - battery.soc_min_kwh, 0.0) * eta_d / dt_h
            discharge = max(
                discharge,
                min(
                    discharge + net - high - cut,
                    battery.discharge_power_max_kw,
                    available_kw + eta_c * eta_d * charge,
                ),
            )
        elif net < low:
            cut = min(low - net, discharge)
            discharge -= cut
            room_kw = max(battery.soc_max_kwh - soc_kwh, 0.0) / (eta_c * dt_h) + discharge / (
                eta_c * eta_d
            )
            charge = max(
                charge, min(charge + low - net - cut, battery.charge_power_max_kw, room_kw)
            )
        import_room_kw = min(high, import_limit_kw) - (load + charge - pv - discharge)
        chosen = min(max(pv - cap, 0.0), max(import_room_kw, 0.0))
        surplus = pv - chosen + discharge - load - charge
        forced = min(max(surplus - limit, 0.0), pv - chosen)
        curtail = chosen + forced
        discharge -= min(max(surplus - limit - forced, 0.0), discharge)
        stored = soc_kwh + dt_h * (eta_c * charge - discharge / eta_d)
        if stored < battery.soc_min_kwh:
            discharge -= min((battery.soc_min_kwh - stored) * eta_d / dt_h, discharge)
            stored = soc_kwh + dt_h * (eta_c * charge - discharge / eta_d)
        soc_kwh = stored
        net = load + charge + curtail - pv - discharge
        import_kw, export_kw = _time_shared(net, planned_import, planned_export)
        if export_kw > limit:
            extra = min(export_kw - limit, pv - curtail)
            curtail, export_kw = curtail + extra, export_kw - extra
        rows.append((load, pv, import_kw, export_kw, charge, discharge, curtail, soc_kwh))
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


def _time_shared(
    net_kw: float, planned_import_kw: float, planned_export_kw: float
) -> tuple[float, float]:
    """A step's import and export when the site's net demand is ``net_kw`` [kW].

    A plan may share a step between an importing and an exporting mode (the LP's exact hull,
    where export pays more than import); the meter then records both. The step's deviation from
    the plan's net (``net_kw`` minus planned import less export) is shared between the modes in
    proportion to planned import and export; a mode pushed past zero flips to the other side.
    A step with only one direction planned settles the net alone.
    """
    if planned_import_kw <= 0 or planned_export_kw <= 0:
        return max(net_kw, 0.0), max(-net_kw, 0.0)
    importing_share = planned_import_kw / (planned_import_kw + planned_export_kw)
    deviation_kw = net_kw - (planned_import_kw - planned_export_kw)
    import_kw = planned_import_kw + importing_share * deviation_kw
    export_kw = planned_export_kw - (1 - importing_share) * deviation_kw
    if import_kw < 0:
        return 0.0, export_kw - import_kw
    if export_kw < 0:
        return import_kw - export_kw, 0.0
    return import_kw, export_kw


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


def import_ceiling_kw(
    tariff: CompiledTariff,
    planned_import_kw: np.ndarray,
    state: LiveState,
    local_timezone: str,
    steps: int,
) -> np.ndarray:
    """The demand target of each of the first ``steps`` steps of a plan made in ``state`` [kW].

    Per demand charge, the plan's billed demand of the step's period, raised to the peak
    already set in it this month; the lowest over the charges the step is in. Steps outside
    every demand charge have none (infinite).
    """
    month = state.now.tz_convert(local_timezone).strftime("%Y-%m")
    floors_kw = {f"{name}:{month}": kw for name, kw in state.peak_so_far_kw}
    ceiling = np.full(steps, np.inf)
    for charge in tariff.demand_charges:
        billed_kw = charge.billed_kw(charge.peaks_kw(planned_import_kw))
        floor_kw = np.array([floors_kw.get(name, 0.0) for name in charge.period_names])
        target_kw = np.maximum(billed_kw, floor_kw)
        blocks = charge.block_of_step[:steps]
        inside = blocks >= 0
        ceiling[inside] = np.minimum(
            ceiling[inside], target_kw[charge.block_period[blocks[inside]]]
        )
    return ceiling


def plan_now(
    site: Site,
    run_config: RunConfig,
    provider: ForecastProvider,
    now: pd.Timestamp,
    soc_kwh: float,
    peak_so_far_kw: float,
) -> tuple[Plan, tuple[float | None, float | None]]:
    """``gridq live step``: the peak-aware plan from ``now`` and its first step's meter band.

    ``peak_so_far_kw`` floors every demand charge this month. The band (see
    :func:`meter_band_kw`) is the least and most net import [kW] the site controller holds the
    meter at until the next plan; None where it is unbounded.
    """
    options = run_config.rolling
    step_td = pd.Timedelta(minutes=run_config.timestep_min)
    point = provider.forecast(now, int(pd.Timedelta(hours=options.horizon_h) / step_td))
    tariff = compile_tariff(run_config.tariff, point)
    forecast = plan_forecast(point, provider, tariff, options.peak_quantile)
    state = LiveState(
        now=now,
        soc_kwh=soc_kwh,
        peak_so_far_kw=tuple((c.name, peak_so_far_kw) for c in run_config.tariff.demand_charges),
        soc_reserve_kwh=peak_reserve_kwh(provider, now, options.peak_quantile),
    )
    plan = step(site, run_config, state, forecast, tariff=tariff)
    ceiling_kw = import_ceiling_kw(
        tariff,
        plan.dispatch[col.GRID_IMPORT_KW].to_numpy(),
        state,
        run_config.tariff.local_timezone,
        1,
    )
    low, high = meter_band_kw(
        plan.dispatch.iloc[:1], site.grid.export_limit_kw, ceiling_kw, tariff.demand_steps()[:1]
    )
    return plan, (_finite_or_none(low[0]), _finite_or_none(high[0]))


def _finite_or_none(kw: float) -> float | None:
    return None if np.isinf(kw) else float(kw)


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


def _month_peaks(
    tariff: CompiledTariff, peaks_kw: dict[str, np.ndarray], month: str
) -> tuple[tuple[str, float], ...]:
    """Demand already set in ``month`` (local ``YYYY-MM``), per demand charge."""
    peaks = []
    for charge in tariff.demand_charges:
        period = f"{charge.name}:{month}"
        if period in charge.period_names:
            peaks.append(
                (charge.name, float(peaks_kw[charge.name][charge.period_names.index(period)]))
            )
    return tuple(peaks)


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
    start = int(np.searchsorted(index, index[0] + provider.warmup))
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
            peak_so_far_kw=_month_peaks(
                evaluated_tariff,
                peaks_kw,
                now.tz_convert(run_config.tariff.local_timezone).strftime("%Y-%m"),
            ),
        )
        started = time.perf_counter()
        plan = step(site, run_config, state, forecast, highs, window_tariff)
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
                state,
                run_config.tariff.local_timezone,
                length,
            )
            band_kw = meter_band_kw(
                planned,
                site.grid.export_limit_kw,
                ceiling_kw,
                window_tariff.demand_steps()[:length],
            )
            part = _settle(
                site,
                timeseries.iloc[applied],
                planned,
                soc_kwh,
                step_td / pd.Timedelta(hours=1),
                band_kw,
            )
        # Plain arrays: 17,520 small frames would hold several hundred MiB.
        values = part.to_numpy()[:, [part.columns.get_loc(name) for name in col.DISPATCH_COLUMNS]]
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
