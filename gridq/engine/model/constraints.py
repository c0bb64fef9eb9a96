"""Variable and constraint families of the dispatch LP, one ``add_<family>`` each.

Symbols in the docstrings: ``t`` a step, ``dt`` its length [h], ``imp``/``exp`` grid import and
export [kW], ``ch``/``dis`` battery charge and discharge [kW], ``curt`` PV curtailment [kW],
``soc`` stored energy at the end of a step [kWh], ``eta_c``/``eta_d`` efficiencies (fractions).
"""

import numpy as np
import pandas as pd
import xarray as xr
from linopy import Model

from gridq.engine.model import names
from gridq.engine.model.problem import DispatchProblem


def time_array(values: np.ndarray, time: pd.Index) -> xr.DataArray:
    """``values`` as a DataArray along the model's time dimension."""
    return xr.DataArray(values, coords={names.TIME: time}, dims=names.TIME)


def add_variables(model: Model, problem: DispatchProblem) -> None:
    """Per-step flows and SOC, all >= 0, with their simple bounds as variable bounds.

    ``imp <= min(MIC, load + P_ch)``, ``exp <= min(MEC, pv + P_dis)`` (a meter that never
    imports and exports at once needs no more), ``ch <= P_ch``, ``dis <= P_dis``, ``curt <= pv``,
    ``soc_min <= soc <= soc_max`` (``curt <= 0`` where PV is not curtailable). Grid rules tighten
    them: ``no_battery_export`` caps export and ``charge_from_pv_only`` caps charging at the PV
    surplus ``max(pv - load, 0)``.
    """
    time = problem.time_index
    coords = [time]
    battery = problem.battery
    model.add_variables(
        0, time_array(problem.import_bound_kw(), time), coords=coords, name=names.GRID_IMPORT_KW
    )
    model.add_variables(
        0, time_array(problem.export_bound_kw(), time), coords=coords, name=names.GRID_EXPORT_KW
    )
    model.add_variables(
        0, time_array(problem.charge_bound_kw(), time), coords=coords, name=names.BATTERY_CHARGE_KW
    )
    model.add_variables(
        0, battery.discharge_power_max_kw, coords=coords, name=names.BATTERY_DISCHARGE_KW
    )
    model.add_variables(
        0, time_array(problem.curtail_bound_kw(), time), coords=coords, name=names.PV_CURTAIL_KW
    )
    soc_lower_kwh = problem.soc_lower_kwh()
    model.add_variables(
        time_array(soc_lower_kwh, time) if isinstance(soc_lower_kwh, np.ndarray) else soc_lower_kwh,
        battery.soc_max_kwh,
        coords=coords,
        name=names.BATTERY_SOC_KWH,
    )


def add_power_balance(model: Model, problem: DispatchProblem) -> None:
    """``load + ch + exp + curt = pv + dis + imp`` at every step [kW]."""
    v = model.variables
    flows = (
        v[names.BATTERY_CHARGE_KW]
        + v[names.GRID_EXPORT_KW]
        + v[names.PV_CURTAIL_KW]
        - v[names.BATTERY_DISCHARGE_KW]
        - v[names.GRID_IMPORT_KW]
    )
    net_generation_kw = time_array(problem.pv_kw - problem.load_kw, problem.time_index)
    model.add_constraints(flows == net_generation_kw, name=names.SITE_POWER_BALANCE)


def add_soc_dynamics(model: Model, problem: DispatchProblem) -> None:
    """``soc[t] = soc[t-1] + dt * (eta_c * ch[t] - dis[t] / eta_d)`` [kWh].

    The first step starts from the battery's initial SOC: ``soc[0] - dt * (...)[0] = soc_init``.
    """
    v = model.variables
    battery = problem.battery
    soc = v[names.BATTERY_SOC_KWH]
    stored_kwh = problem.dt_h * (
        battery.charge_efficiency_frac * v[names.BATTERY_CHARGE_KW]
        - v[names.BATTERY_DISCHARGE_KW] / battery.discharge_efficiency_frac
    )
    time = problem.time_index
    later = time[1:]
    previous_soc = soc.isel({names.TIME: slice(None, -1)}).assign_coords({names.TIME: later})
    model.add_constraints(
        soc.sel({names.TIME: later}) - previous_soc - stored_kwh.sel({names.TIME: later}) == 0,
        name=names.BATTERY_SOC_DYNAMICS,
    )
    first = time[:1]
    model.add_constraints(
        soc.sel({names.TIME: first}) - stored_kwh.sel({names.TIME: first})
        == battery.initial_soc_kwh,
        name=names.BATTERY_SOC_INITIAL,
    )


def add_terminal_soc(model: Model, problem: DispatchProblem) -> None:
    """The run's end: ``soc[T-1] >= soc_end_min`` or, for an ``equal`` target, ``= target``.

    ``soc_end_min`` is the initial SOC under ``at_least_initial`` or the target [kWh].
    """
    low_kwh, high_kwh = problem.terminal_soc_min_kwh, problem.terminal_soc_max_kwh
    last = model.variables[names.BATTERY_SOC_KWH].sel({names.TIME: problem.time_index[-1:]})
    if low_kwh is not None and high_kwh is not None:
        model.add_constraints(last == low_kwh, name=names.BATTERY_SOC_TERMINAL)
    elif low_kwh is not None:
        model.add_constraints(last >= low_kwh, name=names.BATTERY_SOC_TERMINAL)
    elif high_kwh is not None:
        model.add_constraints(last <= high_kwh, name=names.BATTERY_SOC_TERMINAL)


def add_charge_discharge_switch(model: Model, problem: DispatchProblem) -> None:
    """Forbid charging and discharging at once, if asked (a MILP).

    With ``forbid_simultaneous_charge_discharge``: binary ``on[t]``,
    ``ch[t] <= P_ch * on[t]`` and ``dis[t] <= P_dis * (1 - on[t])``.
    """
    if not problem.solver.forbid_simultaneous_charge_discharge:
        return
    v = model.variables
    battery = problem.battery
    charging_on = model.add_variables(
        coords=[problem.time_index], binary=True, name=names.BATTERY_CHARGING_ON
    )
    model.add_constraints(
        v[names.BATTERY_CHARGE_KW] - battery.charge_power_max_kw * charging_on <= 0,
        name=names.BATTERY_CHARGE_SWITCH,
    )
    model.add_constraints(
        v[names.BATTERY_DISCHARGE_KW] + battery.discharge_power_max_kw * charging_on
        <= battery.discharge_power_max_kw,
        name=names.BATTERY_DISCHARGE_SWITCH,
    )


def add_time_shared_grid_direction(model: Model, problem: DispatchProblem) -> None:
    """Keep import and export honest where export pays more than import.

    A meter never imports and exports at the same instant; within one step a site can only
    share the step's time between an importing mode and an exporting mode. Where
    ``p_exp[t] <= p_imp[t]`` doing both never pays and the LP avoids it unaided. At the steps
    where ``p_exp[t] > p_imp[t]`` this adds the exact LP hull of the two modes: a share
    ``f[t]`` in [0, 1] of the step spent importing and the flows of that mode (suffix ``_I``;
    the exporting mode has the rest):

    - ``imp = f * (load - pv) + ch_I - dis_I + curt_I`` (the importing mode balances by import
      alone, so ``exp`` balances the exporting mode);
    - ``0 <= ch_I <= f * P_ch`` and ``0 <= ch - ch_I <= (1 - f) * P_ch``; likewise ``dis`` with
      ``P_dis`` and ``curt`` with ``pv``;
    - ``imp <= f * MIC`` and ``exp <= (1 - f) * MEC`` where those limits exist.
    """
    pays = problem.export_pays_more_steps()
    if not len(pays):
        return
    v = model.variables
    time = problem.time_index[pays]
    at = {names.TIME: time}
    coords = [time]
    share = model.add_variables(0, 1, coords=coords, name=names.GRID_IMPORTING_SHARE_FRAC)
    net_load_kw = time_array((problem.load_kw - problem.pv_kw)[pays], time)
    mode_flows = {}
    for total, in_mode, cap_kw in problem.mode_flow_caps_kw():
        cap = time_array(cap_kw, time)
        flow = model.add_variables(0, coords=coords, name=in_mode)
        rest = v[total].sel(at) - flow
        model.add_constraints(flow - cap * share <= 0, name=f"{in_mode}_share")
        model.add_constraints(rest + cap * share <= cap, name=f"{in_mode}_rest_share")
        model.add_constraints(rest >= 0, name=f"{in_mode}_rest")
        mode_flows[in_mode] = flow
    model.add_constraints(
        v[names.GRID_IMPORT_KW].sel(at)
        - net_load_kw * share
        - mode_flows[names.BATTERY_CHARGE_IMPORTING_KW]
        + mode_flows[names.BATTERY_DISCHARGE_IMPORTING_KW]
        - mode_flows[names.PV_CURTAIL_IMPORTING_KW]
        == 0,
        name=names.GRID_IMPORTING_MODE_BALANCE,
    )
    if problem.grid.import_limit_kw is not None:
        model.add_constraints(
            v[names.GRID_IMPORT_KW].sel(at) - problem.grid.import_limit_kw * share <= 0,
            name=names.GRID_IMPORT_SHARE_LIMIT,
        )
    if problem.grid.export_limit_kw is not None:
        limit_kw = problem.grid.export_limit_kw
        model.add_constraints(
            v[names.GRID_EXPORT_KW].sel(at) + limit_kw * share <= limit_kw,
            name=names.GRID_EXPORT_SHARE_LIMIT,
        )
