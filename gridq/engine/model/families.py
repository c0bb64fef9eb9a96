"""The site's constraint families, each written once into a :class:`LinearProgram`.

Symbols in the docstrings: ``t`` a step, ``dt`` its length [h], ``imp``/``exp`` grid import and
export [kW], ``ch``/``dis`` battery charge and discharge [kW], ``curt`` PV curtailment [kW],
``soc`` stored energy at the end of a step [kWh], ``eta_c``/``eta_d`` efficiencies (fractions).
"""

import numpy as np

from gridq.engine.model import names
from gridq.engine.model.lp import INF, Coords, LinearProgram
from gridq.engine.model.problem import DispatchProblem


def steps(problem: DispatchProblem, positions: np.ndarray | slice | None = None) -> Coords:
    """The problem's step starts (all, or at ``positions``) along the time dimension."""
    return Coords(names.TIME, problem.time_index, positions)


def add_flows(lp: LinearProgram, problem: DispatchProblem) -> None:
    """Per-step flows and SOC, all >= 0, with their simple bounds as variable bounds.

    ``imp <= min(MIC, load + P_ch)``, ``exp <= min(MEC, pv + P_dis)`` (a meter that never
    imports and exports at once needs no more), ``ch <= P_ch``, ``dis <= P_dis``, ``curt <= pv``,
    ``soc_min (+ reserve) <= soc <= soc_max`` (``curt <= 0`` where PV is not curtailable). Grid
    rules tighten them: ``no_battery_export`` caps export and ``charge_from_pv_only`` caps
    charging at the PV surplus ``max(pv - load, 0)``.
    """
    time = steps(problem)
    battery = problem.battery
    lp.add_variables(names.GRID_IMPORT_KW, time, 0.0, problem.import_bound_kw())
    lp.add_variables(names.GRID_EXPORT_KW, time, 0.0, problem.export_bound_kw())
    lp.add_variables(names.BATTERY_CHARGE_KW, time, 0.0, problem.charge_bound_kw())
    lp.add_variables(names.BATTERY_DISCHARGE_KW, time, 0.0, battery.discharge_power_max_kw)
    lp.add_variables(names.PV_CURTAIL_KW, time, 0.0, problem.curtail_bound_kw())
    lp.add_variables(names.BATTERY_SOC_KWH, time, problem.soc_lower_kwh(), battery.soc_max_kwh)


def add_power_balance(lp: LinearProgram, problem: DispatchProblem) -> None:
    """``load + ch + exp + curt = pv + dis + imp`` at every step [kW]."""
    c = lp.columns
    net_generation_kw = problem.pv_kw - problem.load_kw
    lp.add_constraints(
        names.SITE_POWER_BALANCE,
        [
            (c(names.BATTERY_CHARGE_KW), 1.0),
            (c(names.GRID_EXPORT_KW), 1.0),
            (c(names.PV_CURTAIL_KW), 1.0),
            (c(names.BATTERY_DISCHARGE_KW), -1.0),
            (c(names.GRID_IMPORT_KW), -1.0),
        ],
        net_generation_kw,
        net_generation_kw,
        steps(problem),
    )


def add_storage(
    lp: LinearProgram,
    problem: DispatchProblem,
    flows: tuple[str, str, str],
    row_names: tuple[str, str],
) -> None:
    """``soc[t] = soc[t-1] + dt * (eta_c * ch[t] - dis[t] / eta_d)`` [kWh] for ``flows``.

    ``flows`` names (soc, ch, dis); the first step starts from the battery's initial SOC:
    ``soc[0] - dt * (...)[0] = soc_init``.
    """
    battery = problem.battery
    soc, ch, dis = (lp.columns(name) for name in flows)
    charge_kwh_per_kw = -problem.dt_h * battery.charge_efficiency_frac
    discharge_kwh_per_kw = problem.dt_h / battery.discharge_efficiency_frac
    dynamics, initial = row_names
    lp.add_constraints(
        dynamics,
        [
            (soc[1:], 1.0),
            (soc[:-1], -1.0),
            (ch[1:], charge_kwh_per_kw),
            (dis[1:], discharge_kwh_per_kw),
        ],
        0.0,
        0.0,
        steps(problem, slice(1, None)),
    )
    lp.add_constraints(
        initial,
        [(soc[:1], 1.0), (ch[:1], charge_kwh_per_kw), (dis[:1], discharge_kwh_per_kw)],
        problem.initial_soc_kwh,
        problem.initial_soc_kwh,
        steps(problem, slice(None, 1)),
    )


def add_soc_dynamics(lp: LinearProgram, problem: DispatchProblem) -> None:
    """The battery's stored energy from step to step (:func:`add_storage`)."""
    add_storage(
        lp,
        problem,
        (names.BATTERY_SOC_KWH, names.BATTERY_CHARGE_KW, names.BATTERY_DISCHARGE_KW),
        (names.BATTERY_SOC_DYNAMICS, names.BATTERY_SOC_INITIAL),
    )


def add_terminal_soc(lp: LinearProgram, problem: DispatchProblem) -> None:
    """The run's end: ``soc[T-1] >= soc_end_min`` or, for an ``equal`` target, ``= target``."""
    low_kwh, high_kwh = problem.terminal_soc_min_kwh, problem.terminal_soc_max_kwh
    if low_kwh is None and high_kwh is None:
        return
    lp.add_constraints(
        names.BATTERY_SOC_TERMINAL,
        [(lp.columns(names.BATTERY_SOC_KWH)[-1:], 1.0)],
        -INF if low_kwh is None else low_kwh,
        INF if high_kwh is None else high_kwh,
        steps(problem, slice(-1, None)),
    )


def add_charge_discharge_switch(lp: LinearProgram, problem: DispatchProblem) -> None:
    """Forbid charging and discharging at once, if asked (a MILP).

    With ``forbid_simultaneous_charge_discharge``: binary ``on[t]``,
    ``ch[t] <= P_ch * on[t]`` and ``dis[t] <= P_dis * (1 - on[t])``.
    """
    if not problem.solver.forbid_simultaneous_charge_discharge:
        return
    battery = problem.battery
    time = steps(problem)
    on = lp.add_variables(names.BATTERY_CHARGING_ON, time, 0.0, 1.0, integer=True)
    lp.add_constraints(
        names.BATTERY_CHARGE_SWITCH,
        [(lp.columns(names.BATTERY_CHARGE_KW), 1.0), (on, -battery.charge_power_max_kw)],
        -INF,
        0.0,
        time,
    )
    lp.add_constraints(
        names.BATTERY_DISCHARGE_SWITCH,
        [(lp.columns(names.BATTERY_DISCHARGE_KW), 1.0), (on, battery.discharge_power_max_kw)],
        -INF,
        battery.discharge_power_max_kw,
        time,
    )


def add_time_shared_grid_direction(lp: LinearProgram, problem: DispatchProblem) -> None:
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
    c = lp.columns
    time = steps(problem, pays)
    share = lp.add_variables(names.GRID_IMPORTING_SHARE_FRAC, time, 0.0, 1.0)
    mode_flows = {}
    for total, in_mode, cap_kw in problem.mode_flow_caps_kw():
        flow = lp.add_variables(in_mode, time)
        total_cols = c(total)[pays]
        lp.add_constraints(f"{in_mode}_share", [(flow, 1.0), (share, -cap_kw)], -INF, 0.0, time)
        lp.add_constraints(
            f"{in_mode}_rest_share",
            [(total_cols, 1.0), (flow, -1.0), (share, cap_kw)],
            -INF,
            cap_kw,
            time,
        )
        lp.add_constraints(f"{in_mode}_rest", [(total_cols, 1.0), (flow, -1.0)], 0.0, INF, time)
        mode_flows[in_mode] = flow
    net_load_kw = (problem.load_kw - problem.pv_kw)[pays]
    lp.add_constraints(
        names.GRID_IMPORTING_MODE_BALANCE,
        [
            (c(names.GRID_IMPORT_KW)[pays], 1.0),
            (share, -net_load_kw),
            (mode_flows[names.BATTERY_CHARGE_IMPORTING_KW], -1.0),
            (mode_flows[names.BATTERY_DISCHARGE_IMPORTING_KW], 1.0),
            (mode_flows[names.PV_CURTAIL_IMPORTING_KW], -1.0),
        ],
        0.0,
        0.0,
        time,
    )
    if problem.grid.import_limit_kw is not None:
        lp.add_constraints(
            names.GRID_IMPORT_SHARE_LIMIT,
            [(c(names.GRID_IMPORT_KW)[pays], 1.0), (share, -problem.grid.import_limit_kw)],
            -INF,
            0.0,
            time,
        )
    if problem.grid.export_limit_kw is not None:
        limit_kw = problem.grid.export_limit_kw
        lp.add_constraints(
            names.GRID_EXPORT_SHARE_LIMIT,
            [(c(names.GRID_EXPORT_KW)[pays], 1.0), (share, limit_kw)],
            -INF,
            limit_kw,
            time,
        )
