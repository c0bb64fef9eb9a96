"""Reference dispatches that savings are measured against."""

from typing import Literal

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.model.problem import DispatchProblem


def _dispatch_frame(problem: DispatchProblem, flows: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        {col.LOAD_KW: problem.load_kw, col.PV_KW: problem.pv_kw} | flows,
        index=pd.DatetimeIndex(problem.time_index, name=col.TIMESTAMP),
    )[list(col.DISPATCH_COLUMNS)]


def _settle_with_grid(
    problem: DispatchProblem, net_kw: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Settle what the battery leaves with the grid: returns import, export, curtailment [kW].

    A deficit (``net_kw > 0``) is imported; a surplus is exported up to the export limit and
    the rest curtailed.
    """
    grid_import_kw = np.maximum(net_kw, 0.0)
    surplus_kw = np.maximum(-net_kw, 0.0)
    export_limit_kw = problem.grid.export_limit_kw
    grid_export_kw = (
        surplus_kw if export_limit_kw is None else np.minimum(surplus_kw, export_limit_kw)
    )
    return grid_import_kw, grid_export_kw, surplus_kw - grid_export_kw


def no_battery(problem: DispatchProblem) -> pd.DataFrame:
    """The site without its battery; SOC stays at the initial value."""
    grid_import_kw, grid_export_kw, curtail_kw = _settle_with_grid(
        problem, problem.load_kw - problem.pv_kw
    )
    zeros = np.zeros(len(problem.time_index))
    return _dispatch_frame(
        problem,
        {
            col.GRID_IMPORT_KW: grid_import_kw,
            col.GRID_EXPORT_KW: grid_export_kw,
            col.BATTERY_CHARGE_KW: zeros,
            col.BATTERY_DISCHARGE_KW: zeros,
            col.PV_CURTAIL_KW: curtail_kw,
            col.SOC_KWH: zeros + problem.battery.initial_soc_kwh,
        },
    )


def self_consumption(problem: DispatchProblem) -> pd.DataFrame:
    """Charge from PV surplus, discharge to cover load, never trade with the grid.

    Under the ``at_least_initial`` terminal rule the initial SOC is also the floor, so the
    baseline, like the optimiser, ends with at least the energy it began with and is not
    credited for energy it only borrowed.
    """
    battery = problem.battery
    dt_h = problem.dt_h
    eta_c, eta_d = battery.charge_efficiency_frac, battery.discharge_efficiency_frac
    floor_kwh = battery.soc_min_kwh
    if battery.terminal_soc == "at_least_initial":
        floor_kwh = battery.initial_soc_kwh
    net_kw = (problem.load_kw - problem.pv_kw).tolist()
    charge_kw = [0.0] * len(net_kw)
    discharge_kw = [0.0] * len(net_kw)
    soc_kwh = [0.0] * len(net_kw)
    stored_kwh = battery.initial_soc_kwh
    # A sequential rule: each step depends on the SOC the previous step left.
    for step, deficit_kw in enumerate(net_kw):
        if deficit_kw < 0:
            room_kw = max(battery.soc_max_kwh - stored_kwh, 0.0) / (eta_c * dt_h)
            charge_kw[step] = min(-deficit_kw, battery.charge_power_max_kw, room_kw)
            stored_kwh += charge_kw[step] * eta_c * dt_h
        elif deficit_kw > 0:
            available_kw = max(stored_kwh - floor_kwh, 0.0) * eta_d / dt_h
            discharge_kw[step] = min(deficit_kw, battery.discharge_power_max_kw, available_kw)
            stored_kwh -= discharge_kw[step] / eta_d * dt_h
        soc_kwh[step] = stored_kwh
    charge = np.asarray(charge_kw)
    discharge = np.asarray(discharge_kw)
    grid_import_kw, grid_export_kw, curtail_kw = _settle_with_grid(
        problem, problem.load_kw - problem.pv_kw + charge - discharge
    )
    return _dispatch_frame(
        problem,
        {
            col.GRID_IMPORT_KW: grid_import_kw,
            col.GRID_EXPORT_KW: grid_export_kw,
            col.BATTERY_CHARGE_KW: charge,
            col.BATTERY_DISCHARGE_KW: discharge,
            col.PV_CURTAIL_KW: curtail_kw,
            col.SOC_KWH: np.asarray(soc_kwh),
        },
    )


BaselineKind = Literal["no_battery", "self_consumption"]


def baseline_dispatch(problem: DispatchProblem, kind: BaselineKind) -> pd.DataFrame:
    """The baseline dispatch of ``kind``."""
    return no_battery(problem) if kind == "no_battery" else self_consumption(problem)
