"""One window's plan: from what is known now, the optimal plan for the horizon.

A pure function: no hardware is driven. The window solver (:mod:`gridq.engine.windows`) calls
it at every re-optimisation and the live step (:mod:`gridq.runners.live`) once.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.controller import at_risk_steps, charging_ceiling_kw
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.problem import DispatchProblem, make_problem
from gridq.engine.model.solve import solve_in_place
from gridq.engine.tariff import CompiledTariff
from gridq.errors import InputError
from gridq.schemas import RunConfig, Site

SOC_TOLERANCE_KWH = 1e-6


@dataclass(frozen=True)
class LiveState:
    """What the controller knows now.

    ``now`` is the start of the next interval (UTC); ``soc_kwh`` the stored energy;
    ``peak_floor_kw`` per demand charge name, the demand already set in each period of the
    plan's tariff [kW] (it floors the period's peak, so a peak already paid for is not fought
    again); ``paid_for_kw`` the same raised to the ratchet's floors (see
    :func:`~gridq.engine.controller.paid_for_kw`), which no charging may exceed: set when the
    plan is operated on forecasts, None for a prescient plan, which knows its peaks;
    ``ends_run`` makes the plan keep the battery's terminal rule instead of valuing leftover
    energy; ``soc_reserve_kwh`` is energy held above the minimum in the steps at risk, for
    load the forecast did not foresee; ``unavoidable_kw`` per demand charge name, the demand
    each period will bill whatever the battery does, up to which charging may also import (see
    :func:`~gridq.engine.unavoidable_peak.unavoidable_peak_kw`).
    """

    now: pd.Timestamp
    soc_kwh: float
    peak_floor_kw: Mapping[str, np.ndarray] = field(default_factory=dict)
    paid_for_kw: Mapping[str, np.ndarray] | None = None
    ends_run: bool = False
    soc_reserve_kwh: float = 0.0
    unavoidable_kw: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The optimal plan over the horizon and its first interval as a setpoint."""

    dispatch: pd.DataFrame
    objective_gbp: float
    solve_stats: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)
    peak_kw: dict[str, np.ndarray] = field(default_factory=dict)
    """Per demand charge, the peak the plan accepts in each period of its tariff [kW]."""

    def setpoint(self) -> dict[str, Any]:
        """The first interval: what to do now [kW], and where the SOC will be [kWh]."""
        first = self.dispatch.iloc[0]
        return {"interval_start": self.dispatch.index[0].isoformat()} | {
            name: float(first[name]) for name in (*col.FLOW_COLUMNS, col.SOC_KWH)
        }


def terminal_value_gbp_per_kwh(site: Site, import_price_gbp_per_kwh: np.ndarray) -> float:
    """Value a kWh left in the battery at the horizon's end [GBP/kWh].

    It is the median import price of the horizon, less the discharge loss.
    """
    return float(np.median(import_price_gbp_per_kwh)) * site.battery.discharge_efficiency_frac


RESERVE_REFILL_H = 4.0


def reserve_kwh(problem: DispatchProblem, state: LiveState) -> np.ndarray:
    """Per step, the reserve held: in the steps at risk of a new billed peak only.

    Load above the forecast can raise a billed peak only where the forecast comes near the
    period's top (:func:`~gridq.engine.controller.at_risk_steps`); elsewhere the reserve's
    energy may earn arbitrage, as long as it is back by the next step at risk.

    A reserve spent below its level is refilled over ``RESERVE_REFILL_H`` hours at most as fast
    as the battery may charge (:meth:`DispatchProblem.charge_bound_kw`), so refilling never
    forces a new peak.
    """
    battery = problem.battery
    target_kwh = min(state.soc_reserve_kwh, battery.soc_max_kwh - battery.soc_min_kwh)
    held_kwh = max(state.soc_kwh - battery.soc_min_kwh, 0.0)
    refill_kw = np.minimum(
        target_kwh / RESERVE_REFILL_H,
        battery.charge_efficiency_frac * problem.charge_bound_kw(),
    )
    reachable_kwh = held_kwh + np.cumsum(refill_kw) * problem.dt_h
    at_risk = at_risk_steps(
        problem.tariff, problem.load_kw - problem.pv_kw, state.paid_for_kw or {}
    )
    return np.where(at_risk, np.minimum(target_kwh, reachable_kwh), 0.0)


def plan_window(
    site: Site,
    run_config: RunConfig,
    state: LiveState,
    forecast: pd.DataFrame,
    highs: InPlaceHighs | None = None,
    tariff: CompiledTariff | None = None,
) -> Plan:
    """Optimise the horizon of ``forecast`` from ``state``; the plan starts at ``state.now``.

    A caller that steps repeatedly passes one ``highs`` so each solve starts from the last
    basis, and may pass the ``tariff`` already compiled for the forecast's steps.
    """
    battery = site.battery
    if (
        not battery.soc_min_kwh - SOC_TOLERANCE_KWH
        <= state.soc_kwh
        <= (battery.soc_max_kwh + SOC_TOLERANCE_KWH)
    ):
        raise InputError(
            f"soc_kwh {state.soc_kwh:g} is outside the battery's limits "
            f"[{battery.soc_min_kwh:g}, {battery.soc_max_kwh:g}] kWh"
        )
    if forecast.index[0] != state.now:
        raise InputError(f"the forecast starts at {forecast.index[0]}, not at now ({state.now})")
    started = time.perf_counter()
    # The run's terminal rule stays on the plan that ends the run; earlier plans value leftovers.
    problem = replace(
        make_problem(site, run_config, forecast, tariff),
        initial_soc_kwh=float(np.clip(state.soc_kwh, battery.soc_min_kwh, battery.soc_max_kwh)),
        peak_floor_kw=state.peak_floor_kw,
    )
    if state.paid_for_kw is not None:
        problem = replace(
            problem,
            paid_for_kw=state.paid_for_kw,
            prices_ratchet_ahead=True,
            charging_ceiling_kw=charging_ceiling_kw(
                problem.tariff, state.paid_for_kw, len(forecast), state.unavoidable_kw
            ),
        )
    if (
        state.ends_run
        and problem.charging_ceiling_kw is not None
        and problem.terminal_soc_min_kwh is not None
    ):
        # The charging ceiling may leave the initial SOC out of reach by the run's end.
        reachable_kwh = problem.initial_soc_kwh + problem.dt_h * float(
            np.sum(battery.charge_efficiency_frac * problem.charge_bound_kw())
        )
        problem = replace(
            problem, terminal_soc_min_kwh=min(problem.terminal_soc_min_kwh, reachable_kwh)
        )
    if not state.ends_run:
        problem = replace(
            problem,
            terminal_soc_min_kwh=None,
            terminal_soc_max_kwh=None,
            terminal_value_gbp_per_kwh=terminal_value_gbp_per_kwh(
                site, problem.tariff.import_price_gbp_per_kwh
            ),
        )
    if state.soc_reserve_kwh > 0:
        problem = replace(problem, soc_reserve_kwh=reserve_kwh(problem, state))
    made_s = time.perf_counter() - started
    result = solve_in_place(problem, highs)
    return Plan(
        dispatch=result.dispatch,
        objective_gbp=result.objective_gbp,
        solve_stats=result.stats,
        timings_s=result.timings_s | {"build_s": made_s + result.timings_s["build_s"]},
        peak_kw=result.peak_kw,
    )
