"""Constraint families that the tariff brings.

Peaks, ratchets, excess capacity, flexibility events and grid rules; symbols as in
:mod:`gridq.engine.model.constraints`.
"""

import numpy as np
import xarray as xr
from linopy import Model

from gridq.engine.model import names
from gridq.engine.model.constraints import time_array
from gridq.engine.model.problem import DispatchProblem
from gridq.engine.tariff import PeakCharge

PERIOD = "period"
BLOCK = "block"
EARLIER = "earlier_period"


def _add_peak_charge(model: Model, problem: DispatchProblem, charge: PeakCharge) -> None:
    """Bound one charge's peaks (and billing demand) from below.

    ``peak[p] >= offset[b] + sum(imp[t] for t in block b) / n[b]`` for each block ``b`` of
    period ``p`` (``n[b]`` its steps in the run, ``offset[b]`` import settled before a rolling
    window; see :class:`~gridq.engine.tariff.PeakCharge`); with a
    ratchet, ``billed[p] >= peak[p]``, ``billed[p] >= fraction * peak[q]`` for the earlier
    periods ``q`` it reaches back to, and ``billed[p] >= fraction * history``. A rolling
    window's ``peak_floor_kw`` bounds ``peak[p]`` below by the peak already set this period.
    """
    periods = list(charge.period_names)
    floors = dict(problem.peak_floor_kw)
    peak_floor = xr.DataArray(
        [floors.get(period, 0.0) for period in periods], coords={PERIOD: periods}, dims=PERIOD
    )
    peak = model.add_variables(
        peak_floor,
        coords=[xr.DataArray(periods, dims=PERIOD).to_index()],
        name=names.peak_variable(charge.name),
    )
    imp = model.variables[names.GRID_IMPORT_KW]
    inside = np.flatnonzero(charge.block_of_step >= 0)
    times = problem.time_index[inside]
    block_of_inside = charge.block_of_step[inside]
    offsets_kw = charge.offsets_kw()
    if (charge.block_steps == 1).all() and not offsets_kw.any():
        peak_at_step = peak.isel({PERIOD: time_array(charge.block_period[block_of_inside], times)})
        model.add_constraints(
            imp.sel({names.TIME: times}) - peak_at_step <= 0, name=names.peak_floor(charge.name)
        )
    else:
        weights = time_array(1.0 / charge.block_steps[block_of_inside], times)
        blocks = xr.DataArray(
            block_of_inside, coords={names.TIME: times}, dims=names.TIME, name=BLOCK
        )
        block_mean = (imp.sel({names.TIME: times}) * weights).groupby(blocks).sum()
        block_index = np.arange(len(charge.block_steps))
        peak_at_block = peak.isel(
            {PERIOD: xr.DataArray(charge.block_period, coords={BLOCK: block_index}, dims=BLOCK)}
        )
        offset = xr.DataArray(offsets_kw, coords={BLOCK: block_index}, dims=BLOCK)
        model.add_constraints(
            block_mean - peak_at_block <= -offset, name=names.peak_floor(charge.name)
        )
    if charge.ratchet_fraction is None:
        return
    period_index = xr.DataArray(periods, dims=PERIOD).to_index()
    billed = model.add_variables(
        xr.DataArray(charge.ratchet_floor_kw, coords={PERIOD: period_index}, dims=PERIOD),
        coords=[period_index],
        name=names.billed_variable(charge.name),
    )
    model.add_constraints(billed - peak >= 0, name=names.ratchet_peak(charge.name))
    if len(charge.ratchet_pairs):
        # A (period, earlier period) grid, masked to the pairs the ratchet reaches back to.
        reaches = np.zeros((len(periods), len(periods)), dtype=bool)
        reaches[charge.ratchet_pairs[:, 0], charge.ratchet_pairs[:, 1]] = True
        earlier_index = xr.DataArray(periods, dims=EARLIER).to_index()
        mask = xr.DataArray(
            reaches, coords={PERIOD: period_index, EARLIER: earlier_index}, dims=(PERIOD, EARLIER)
        )
        earlier_peak = peak.rename({PERIOD: EARLIER})
        model.add_constraints(
            billed - charge.ratchet_fraction * earlier_peak >= 0,
            name=names.ratchet_history(charge.name),
            mask=mask,
        )


def add_peak_charges(model: Model, problem: DispatchProblem) -> None:
    """One peak (and billed-demand) family per demand charge and coincident peak."""
    for charge in (*problem.tariff.demand_charges, *problem.tariff.coincident_peaks):
        if charge.period_names:
            _add_peak_charge(model, problem, charge)


def add_excess_capacity(model: Model, problem: DispatchProblem) -> None:
    """``excess_kva[m] >= imp[t] / pf - agreed_kva`` for every step ``t`` of month ``m``."""
    tariff = problem.tariff
    if not tariff.excess_month_names:
        return
    months = xr.DataArray(list(tariff.excess_month_names), dims=names.EXCESS_MONTH).to_index()
    excess = model.add_variables(0, coords=[months], name=names.EXCESS_CAPACITY_KVA)
    inside = np.flatnonzero(tariff.excess_month_of_step >= 0)
    times = problem.time_index[inside]
    excess_at_step = excess.isel(
        {names.EXCESS_MONTH: time_array(tariff.excess_month_of_step[inside], times)}
    )
    model.add_constraints(
        model.variables[names.GRID_IMPORT_KW].sel({names.TIME: times}) / tariff.power_factor
        - excess_at_step
        <= tariff.agreed_kva,
        name=names.EXCESS_CAPACITY_FLOOR,
    )


def add_flexibility_events(model: Model, problem: DispatchProblem) -> None:
    """Pay only for import below the baseline: ``red[t] = max(baseline[t] - imp[t], 0)``.

    A payment that stops at zero rather than turning into a penalty is not convex, so each
    event step gets a binary ``on[t]`` (events are short, so there are few): ``red <= baseline
    * on`` and ``red + imp <= baseline + M * (1 - on)``, with ``M`` the step's import bound.
    """
    steps = problem.tariff.flex_steps
    if not len(steps):
        return
    times = problem.time_index[steps]
    baseline_kw = time_array(problem.tariff.flex_baseline_kw[steps], times)
    big_m_kw = time_array(problem.import_bound_kw()[steps], times)
    reduction = model.add_variables(0, baseline_kw, coords=[times], name=names.FLEX_REDUCTION_KW)
    paid = model.add_variables(coords=[times], binary=True, name=names.FLEX_PAID_ON)
    model.add_constraints(reduction - baseline_kw * paid <= 0, name=names.FLEX_PAID_SWITCH)
    model.add_constraints(
        reduction + model.variables[names.GRID_IMPORT_KW].sel({names.TIME: times}) + big_m_kw * paid
        <= baseline_kw + big_m_kw,
        name=names.FLEX_REDUCTION_LIMIT,
    )


def add_grid_to_battery_to_grid_guard(model: Model, problem: DispatchProblem) -> None:
    """Track the battery's grid-sourced energy and never export it.

    With ``s = max(pv - load, 0)`` the PV surplus [kW]: ``ch_grid >= ch + curt - s``,
    ``ch_grid <= ch``; ``soc_grid[t] = soc_grid[t-1] + dt * (eta_c * ch_grid[t] - dis_grid[t] /
    eta_d)`` from the initial SOC (counted as grid energy, to be safe), ``soc_grid <= soc``,
    ``dis_grid <= dis``; and ``exp <= s + dis - dis_grid``: only PV surplus and PV-sourced
    discharge leave the site.
    """
    if not problem.tariff.rules.no_grid_to_battery_to_grid:
        return
    v = model.variables
    time = problem.time_index
    battery = problem.battery
    surplus_kw = time_array(problem.pv_surplus_kw(), time)
    charge_grid = model.add_variables(0, coords=[time], name=names.BATTERY_CHARGE_GRID_KW)
    discharge_grid = model.add_variables(0, coords=[time], name=names.BATTERY_DISCHARGE_GRID_KW)
    soc_grid = model.add_variables(
        0, battery.soc_max_kwh, coords=[time], name=names.BATTERY_SOC_GRID_KWH
    )
    charge, discharge = v[names.BATTERY_CHARGE_KW], v[names.BATTERY_DISCHARGE_KW]
    model.add_constraints(
        charge_grid - charge - v[names.PV_CURTAIL_KW] >= -surplus_kw, name=names.GRID_CHARGE_SHARE
    )
    model.add_constraints(charge_grid - charge <= 0, name=names.GRID_CHARGE_LIMIT)
    model.add_constraints(discharge_grid - discharge <= 0, name=names.GRID_DISCHARGE_LIMIT)
    model.add_constraints(soc_grid - v[names.BATTERY_SOC_KWH] <= 0, name=names.GRID_SOC_LIMIT)
    stored = problem.dt_h * (
        battery.charge_efficiency_frac * charge_grid
        - discharge_grid / battery.discharge_efficiency_frac
    )
    later, first = time[1:], time[:1]
    previous = soc_grid.isel({names.TIME: slice(None, -1)}).assign_coords({names.TIME: later})
    model.add_constraints(
        soc_grid.sel({names.TIME: later}) - previous - stored.sel({names.TIME: later}) == 0,
        name=names.GRID_SOC_DYNAMICS,
    )
    model.add_constraints(
        soc_grid.sel({names.TIME: first}) - stored.sel({names.TIME: first})
        == battery.initial_soc_kwh,
        name=names.GRID_SOC_INITIAL,
    )
    model.add_constraints(
        v[names.GRID_EXPORT_KW] - discharge + discharge_grid <= surplus_kw,
        name=names.GRID_EXPORT_FROM_PV,
    )
