"""Constraint families that the tariff brings, each written once into a :class:`LinearProgram`.

Peaks, ratchets, excess capacity, flexibility events and grid rules; symbols as in
:mod:`gridq.engine.model.families`.
"""

import numpy as np

from gridq.engine.model import names
from gridq.engine.model.families import add_storage, steps
from gridq.engine.model.lp import INF, Coords, LinearProgram
from gridq.engine.model.problem import DispatchProblem
from gridq.engine.tariff.compiled import PeakCharge

PERIOD = "period"


def _add_peak_charge(lp: LinearProgram, problem: DispatchProblem, charge: PeakCharge) -> None:
    """Bound one charge's peaks (and billing demand) from below.

    ``peak[p] >= offset[b] + sum(imp[t] for t in block b) / n[b]`` for each block ``b`` of
    period ``p`` (``n[b]`` its steps in the run, ``offset[b]`` import settled before a rolling
    window; see :class:`~gridq.engine.tariff.PeakCharge`); with a ratchet,
    ``billed[p] >= peak[p]``, ``billed[p] >= fraction * peak[q]`` for the earlier periods ``q``
    it reaches back to, and ``billed[p] >= fraction * history`` (a bound), raised to a rolling
    window's ``paid_for_kw`` (the ratchet of periods settled before it). A rolling window's
    ``peak_floor_kw`` bounds ``peak[p]`` below by the peak already set this period.
    """
    periods = Coords(PERIOD, charge.period_names)
    floor_kw = problem.peak_floor_kw.get(charge.name, np.zeros(len(periods)))
    peak = lp.add_variables(names.peak_variable(charge.name), periods, floor_kw, INF)
    floor_name = names.peak_floor(charge.name)
    rows = lp.add_constraints(
        floor_name,
        [(peak[charge.block_period], -1.0)],
        -INF,
        -charge.offsets_kw(),
        Coords(f"{floor_name}_block", range(len(charge.block_steps))),
    )
    inside = np.flatnonzero(charge.block_of_step >= 0)
    block_of_inside = charge.block_of_step[inside]
    lp.add_entries(
        floor_name,
        rows[block_of_inside],
        lp.columns(names.GRID_IMPORT_KW)[inside],
        1.0 / charge.block_steps[block_of_inside],
    )
    if charge.ratchet_fraction is None:
        return
    paid_for_kw = problem.paid_for_kw.get(charge.name, np.zeros(len(periods)))
    billed = lp.add_variables(
        names.billed_variable(charge.name),
        periods,
        np.maximum(charge.ratchet_floor_kw, paid_for_kw),
        INF,
    )
    lp.add_constraints(
        names.ratchet_peak(charge.name), [(billed, 1.0), (peak, -1.0)], 0.0, INF, periods
    )
    if problem.prices_ratchet_ahead and charge.ratchet_months:
        # The months after the horizon bill at least the ratchet share of this peak: beyond
        # the demand already paid for, each kW of that share costs the rate in each of them.
        ahead = lp.add_variables(names.ratchet_ahead(charge.name), periods, 0.0, INF)
        lp.add_constraints(
            names.ratchet_ahead(charge.name),
            [(ahead, 1.0), (peak, -charge.ratchet_fraction)],
            -paid_for_kw,
            INF,
            periods,
        )
    if len(charge.ratchet_pairs):
        lp.add_constraints(
            names.ratchet_history(charge.name),
            [
                (billed[charge.ratchet_pairs[:, 0]], 1.0),
                (peak[charge.ratchet_pairs[:, 1]], -charge.ratchet_fraction),
            ],
            0.0,
            INF,
        )


def add_peak_charges(lp: LinearProgram, problem: DispatchProblem) -> None:
    """One peak (and billed-demand) family per demand charge and coincident peak."""
    for charge in (*problem.tariff.demand_charges, *problem.tariff.coincident_peaks):
        if charge.period_names:
            _add_peak_charge(lp, problem, charge)


def add_excess_capacity(lp: LinearProgram, problem: DispatchProblem) -> None:
    """``excess_kva[m] >= imp[t] / pf - agreed_kva`` for every step ``t`` of month ``m``."""
    tariff = problem.tariff
    if not tariff.excess_month_names:
        return
    months = Coords(names.EXCESS_MONTH, tariff.excess_month_names)
    excess = lp.add_variables(names.EXCESS_CAPACITY_KVA, months)
    inside = np.flatnonzero(tariff.excess_month_of_step >= 0)
    lp.add_constraints(
        names.EXCESS_CAPACITY_FLOOR,
        [
            (lp.columns(names.GRID_IMPORT_KW)[inside], 1.0 / tariff.power_factor),
            (excess[tariff.excess_month_of_step[inside]], -1.0),
        ],
        -INF,
        tariff.agreed_kva,
        steps(problem, inside),
    )


def add_flexibility_events(lp: LinearProgram, problem: DispatchProblem) -> None:
    """Pay only for import below the baseline: ``red[t] = max(baseline[t] - imp[t], 0)``.

    A payment that stops at zero rather than turning into a penalty is not convex, so each
    event step gets a binary ``on[t]`` (events are short, so there are few): ``red <= baseline
    * on`` and ``red + imp <= baseline + M * (1 - on)``, with ``M`` the step's import bound.
    """
    event_steps = problem.tariff.flex_steps
    if not len(event_steps):
        return
    time = steps(problem, event_steps)
    baseline_kw = problem.tariff.flex_baseline_kw[event_steps]
    big_m_kw = problem.import_bound_kw()[event_steps]
    reduction = lp.add_variables(names.FLEX_REDUCTION_KW, time, 0.0, baseline_kw)
    paid = lp.add_variables(names.FLEX_PAID_ON, time, 0.0, 1.0, integer=True)
    lp.add_constraints(
        names.FLEX_PAID_SWITCH, [(reduction, 1.0), (paid, -baseline_kw)], -INF, 0.0, time
    )
    lp.add_constraints(
        names.FLEX_REDUCTION_LIMIT,
        [
            (reduction, 1.0),
            (lp.columns(names.GRID_IMPORT_KW)[event_steps], 1.0),
            (paid, big_m_kw),
        ],
        -INF,
        baseline_kw + big_m_kw,
        time,
    )


def add_grid_to_battery_to_grid_guard(lp: LinearProgram, problem: DispatchProblem) -> None:
    """Track the battery's grid-sourced energy and never export it.

    With ``s = max(pv - load, 0)`` the PV surplus [kW]: ``ch_grid >= ch + curt - s``,
    ``ch_grid <= ch``; ``soc_grid[t] = soc_grid[t-1] + dt * (eta_c * ch_grid[t] - dis_grid[t] /
    eta_d)`` from the initial SOC (counted as grid energy, to be safe), ``soc_grid <= soc``,
    ``dis_grid <= dis``; and ``exp <= s + dis - dis_grid``: only PV surplus and PV-sourced
    discharge leave the site.
    """
    if not problem.tariff.rules.no_grid_to_battery_to_grid:
        return
    c = lp.columns
    time = steps(problem)
    ch, dis = c(names.BATTERY_CHARGE_KW), c(names.BATTERY_DISCHARGE_KW)
    surplus_kw = problem.pv_surplus_kw()
    ch_grid = lp.add_variables(names.BATTERY_CHARGE_GRID_KW, time)
    dis_grid = lp.add_variables(names.BATTERY_DISCHARGE_GRID_KW, time)
    lp.add_variables(names.BATTERY_SOC_GRID_KWH, time, 0.0, problem.battery.soc_max_kwh)
    soc_grid = c(names.BATTERY_SOC_GRID_KWH)
    lp.add_constraints(
        names.GRID_CHARGE_SHARE,
        [(ch_grid, 1.0), (ch, -1.0), (c(names.PV_CURTAIL_KW), -1.0)],
        -surplus_kw,
        INF,
        time,
    )
    lp.add_constraints(names.GRID_CHARGE_LIMIT, [(ch_grid, 1.0), (ch, -1.0)], -INF, 0.0, time)
    lp.add_constraints(names.GRID_DISCHARGE_LIMIT, [(dis_grid, 1.0), (dis, -1.0)], -INF, 0.0, time)
    lp.add_constraints(
        names.GRID_SOC_LIMIT,
        [(soc_grid, 1.0), (c(names.BATTERY_SOC_KWH), -1.0)],
        -INF,
        0.0,
        time,
    )
    add_storage(
        lp,
        problem,
        (
            names.BATTERY_SOC_GRID_KWH,
            names.BATTERY_CHARGE_GRID_KW,
            names.BATTERY_DISCHARGE_GRID_KW,
        ),
        (names.GRID_SOC_DYNAMICS, names.GRID_SOC_INITIAL),
    )
    lp.add_constraints(
        names.GRID_EXPORT_FROM_PV,
        [(c(names.GRID_EXPORT_KW), 1.0), (dis, -1.0), (dis_grid, 1.0)],
        -INF,
        surplus_kw,
        time,
    )
