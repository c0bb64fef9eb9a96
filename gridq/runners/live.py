"""The live-ops step: from what is known now, the plan for the horizon and the next setpoint.

One receding-horizon step, planned as every window of a rolling run is (peak-aware, with the
reserve); no hardware is driven.
"""

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.controller import import_ceiling_kw, meter_band_kw, paid_for_kw
from gridq.engine.forecast import ForecastProvider
from gridq.engine.plan import LiveState, Plan, plan_window
from gridq.engine.tariff import CompiledTariff, compile_tariff
from gridq.engine.windows import low_side_unavoidable_kw, peak_reserve_kwh, plan_forecast
from gridq.schemas import RunConfig, Site


def this_months_floor_kw(
    tariff: CompiledTariff, now: pd.Timestamp, local_timezone: str, peak_so_far_kw: float
) -> dict[str, np.ndarray]:
    """Per demand charge of ``tariff``: ``peak_so_far_kw`` in the period of ``now``'s month."""
    month = now.tz_convert(local_timezone).strftime("%Y-%m")
    floors = {}
    for charge in tariff.demand_charges:
        floor_kw = np.zeros(len(charge.period_names))
        floor_kw[[p == f"{charge.name}:{month}" for p in charge.period_names]] = peak_so_far_kw
        floors[charge.name] = floor_kw
    return floors


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
    floor_kw = this_months_floor_kw(tariff, now, run_config.tariff.local_timezone, peak_so_far_kw)
    paid_for = paid_for_kw(tariff, floor_kw)
    state = LiveState(
        now=now,
        soc_kwh=soc_kwh,
        peak_floor_kw=floor_kw,
        paid_for_kw=paid_for,
        soc_reserve_kwh=peak_reserve_kwh(provider, now, options.peak_quantile),
        unavoidable_kw=low_side_unavoidable_kw(
            provider,
            now,
            tariff,
            site.battery,
            soc_kwh,
            step_td / pd.Timedelta(hours=1),
            options.peak_quantile,
            paid_for,
        ),
    )
    plan = plan_window(site, run_config, state, forecast, tariff=tariff)
    ceiling_kw = import_ceiling_kw(
        tariff,
        plan.dispatch[col.GRID_IMPORT_KW].to_numpy(),
        state.paid_for_kw or {},
        1,
        plan.peak_kw,
    )
    low, high = meter_band_kw(
        plan.dispatch.iloc[:1], site.grid.export_limit_kw, ceiling_kw, tariff.demand_steps()[:1]
    )
    return plan, (_finite_or_none(low[0]), _finite_or_none(high[0]))


def _finite_or_none(kw: float) -> float | None:
    return None if np.isinf(kw) else float(kw)
