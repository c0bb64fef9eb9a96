"""Post-solve checks of any dispatch: pure functions returning a report, never hiding it."""

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.timeseries import timestep_h
from gridq.schemas import Battery


def balance_residual_kw(dispatch: pd.DataFrame) -> np.ndarray:
    """``load + ch + exp + curt - pv - dis - imp`` per step [kW]; zero when balanced."""
    d = dispatch
    return (
        d[col.LOAD_KW]
        + d[col.BATTERY_CHARGE_KW]
        + d[col.GRID_EXPORT_KW]
        + d[col.PV_CURTAIL_KW]
        - d[col.PV_KW]
        - d[col.BATTERY_DISCHARGE_KW]
        - d[col.GRID_IMPORT_KW]
    ).to_numpy(dtype=np.float64)


def soc_dynamics_residual_kwh(dispatch: pd.DataFrame, battery: Battery) -> np.ndarray:
    """``soc[t] - soc[t-1] - dt * (eta_c * ch[t] - dis[t] / eta_d)`` per step [kWh]."""
    dt_h = timestep_h(pd.DatetimeIndex(dispatch.index))
    soc = dispatch[col.SOC_KWH].to_numpy(dtype=np.float64)
    previous = np.concatenate([[battery.initial_soc_kwh], soc[:-1]])
    stored = dt_h * (
        battery.charge_efficiency_frac * dispatch[col.BATTERY_CHARGE_KW].to_numpy()
        - dispatch[col.BATTERY_DISCHARGE_KW].to_numpy() / battery.discharge_efficiency_frac
    )
    return soc - previous - stored


def check_dispatch(dispatch: pd.DataFrame, battery: Battery) -> dict[str, float | int]:
    """Worst-case violations of the physics; each is ~0 for a valid dispatch.

    Keys: ``max_balance_residual_kw``, ``min_flow_kw`` (most negative flow, 0 if none),
    ``max_soc_bound_violation_kwh``, ``max_soc_dynamics_residual_kwh`` and
    ``simultaneous_charge_discharge_steps`` and ``time_shared_import_export_steps`` (steps
    with both flows above 1e-6 kW). The latter are not violations: where export pays more than
    import, the LP may share a step's time between importing and exporting, and the dispatch
    table then holds each flow's average over the whole step.
    """
    soc = dispatch[col.SOC_KWH].to_numpy(dtype=np.float64)
    flows = dispatch[list(col.FLOW_COLUMNS)].to_numpy(dtype=np.float64)
    both = (dispatch[col.BATTERY_CHARGE_KW] > 1e-6) & (dispatch[col.BATTERY_DISCHARGE_KW] > 1e-6)
    shared = (dispatch[col.GRID_IMPORT_KW] > 1e-6) & (dispatch[col.GRID_EXPORT_KW] > 1e-6)
    return {
        "max_balance_residual_kw": float(np.abs(balance_residual_kw(dispatch)).max()),
        "min_flow_kw": float(min(flows.min(), 0.0)),
        "max_soc_bound_violation_kwh": float(
            max((battery.soc_min_kwh - soc).max(), (soc - battery.soc_max_kwh).max(), 0.0)
        ),
        "max_soc_dynamics_residual_kwh": float(
            np.abs(soc_dynamics_residual_kwh(dispatch, battery)).max()
        ),
        "simultaneous_charge_discharge_steps": int(both.sum()),
        "time_shared_import_export_steps": int(shared.sum()),
    }
