"""The dispatch LP of :mod:`gridq.engine.model.build`, assembled directly as sparse arrays.

linopy's model is the readable reference; building it costs about 0.3 s whatever the size,
which dominates a rolling run of hundreds of short windows. This module writes the same
variables, constraints and objective with numpy in about a millisecond, family by family in the
order of ``build_model`` and under the same names, so that tests can check the two term by term
(``tests/engine/test_matrix_form.py``). Symbols as in :mod:`gridq.engine.model.constraints`.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from gridq.engine.model import names
from gridq.engine.model.problem import DispatchProblem
from gridq.engine.tariff import PeakCharge

INF = np.inf


@dataclass
class MatrixLP:
    """``min c @ x`` s.t. ``row_lo <= A @ x <= row_hi``, ``col_lo <= x <= col_hi``.

    ``columns[name]`` / ``rows[name]`` give the indices of each named variable or constraint
    family, in the order of the linopy model's coordinates.
    """

    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray
    matrix: sp.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    columns: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]

    def value(self, solution: np.ndarray, name: str) -> np.ndarray:
        """The solution of variable family ``name``."""
        return solution[self.columns[name]]


@dataclass
class _Builder:
    col_lo: list[np.ndarray] = field(default_factory=list)
    col_hi: list[np.ndarray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    row_lo: list[np.ndarray] = field(default_factory=list)
    row_hi: list[np.ndarray] = field(default_factory=list)
    n_cols: int = 0
    n_rows: int = 0
    cost_terms: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def variables(
        self, name: str, size: int, lo: object = 0.0, hi: object = INF, integer: bool = False
    ) -> np.ndarray:
        index = np.arange(self.n_cols, self.n_cols + size)
        self.n_cols += size
        self.col_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), size))
        self.col_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), size))
        self.integer.append(np.full(size, integer))
        self.columns[name] = index
        return index

    def constraints(
        self,
        name: str,
        terms: list[tuple[np.ndarray, object]],
        lo: object,
        hi: object,
        size: int | None = None,
    ) -> None:
        """Rows ``lo <= sum(coef * x[cols]) <= hi``; each term gives one column per row."""
        size = len(terms[0][0]) if size is None else size
        index = np.arange(self.n_rows, self.n_rows + size)
        self.n_rows += size
        for cols, coef in terms:
            self.entries.append((index, cols, np.broadcast_to(np.asarray(coef, dtype=float), size)))
        self.row_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), size))
        self.row_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), size))
        self.rows[name] = index

    def entries_for(self, name: str, rows: np.ndarray, cols: np.ndarray, coef: object) -> None:
        """Extra entries in rows already added (a sum over a group of columns)."""
        self.entries.append((rows, cols, np.broadcast_to(np.asarray(coef, dtype=float), len(rows))))

    def cost(self, cols: np.ndarray, coef: object) -> None:
        self.cost_terms.append((cols, np.broadcast_to(np.asarray(coef, dtype=float), len(cols))))

    def finish(self) -> MatrixLP:
        rows = np.concatenate([e[0] for e in self.entries])
        cols = np.concatenate([e[1] for e in self.entries])
        data = np.concatenate([e[2] for e in self.entries])
        matrix = sp.csc_matrix((data, (rows, cols)), shape=(self.n_rows, self.n_cols))
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        cost = np.zeros(self.n_cols)
        for cost_cols, coef in self.cost_terms:
            np.add.at(cost, cost_cols, coef)
        return MatrixLP(
            cost=cost,
            col_lo=np.concatenate(self.col_lo),
            col_hi=np.concatenate(self.col_hi),
            integer=np.concatenate(self.integer),
            matrix=matrix,
            row_lo=np.concatenate(self.row_lo),
            row_hi=np.concatenate(self.row_hi),
            columns=self.columns,
            rows=self.rows,
        )


def _core(b: _Builder, problem: DispatchProblem) -> None:
    """Variables, power balance, SOC dynamics and terminal SOC (``constraints.py``)."""
    steps = len(problem.time_index)
    battery = problem.battery
    imp = b.variables(names.GRID_IMPORT_KW, steps, 0.0, problem.import_bound_kw())
    exp = b.variables(names.GRID_EXPORT_KW, steps, 0.0, problem.export_bound_kw())
    ch = b.variables(names.BATTERY_CHARGE_KW, steps, 0.0, problem.charge_bound_kw())
    dis = b.variables(names.BATTERY_DISCHARGE_KW, steps, 0.0, battery.discharge_power_max_kw)
    curt = b.variables(names.PV_CURTAIL_KW, steps, 0.0, problem.curtail_bound_kw())
    soc = b.variables(names.BATTERY_SOC_KWH, steps, problem.soc_lower_kwh(), battery.soc_max_kwh)
    net_generation_kw = problem.pv_kw - problem.load_kw
    b.constraints(
        names.SITE_POWER_BALANCE,
        [(ch, 1.0), (exp, 1.0), (curt, 1.0), (dis, -1.0), (imp, -1.0)],
        net_generation_kw,
        net_generation_kw,
    )
    _storage(
        b,
        problem,
        soc,
        ch,
        dis,
        (names.BATTERY_SOC_DYNAMICS, names.BATTERY_SOC_INITIAL),
    )
    low_kwh, high_kwh = problem.terminal_soc_min_kwh, problem.terminal_soc_max_kwh
    if low_kwh is not None or high_kwh is not None:
        b.constraints(
            names.BATTERY_SOC_TERMINAL,
            [(soc[-1:], 1.0)],
            -INF if low_kwh is None else low_kwh,
            INF if high_kwh is None else high_kwh,
        )


def _storage(
    b: _Builder,
    problem: DispatchProblem,
    soc: np.ndarray,
    ch: np.ndarray,
    dis: np.ndarray,
    row_names: tuple[str, str],
) -> None:
    """``soc[t] - soc[t-1] - dt * (eta_c * ch[t] - dis[t] / eta_d) = 0``; ``soc[-1]`` is initial."""
    battery = problem.battery
    dt_h = problem.dt_h
    charge_kwh_per_kw = -dt_h * battery.charge_efficiency_frac
    discharge_kwh_per_kw = dt_h / battery.discharge_efficiency_frac
    dynamics, initial = row_names
    b.constraints(
        dynamics,
        [
            (soc[1:], 1.0),
            (soc[:-1], -1.0),
            (ch[1:], charge_kwh_per_kw),
            (dis[1:], discharge_kwh_per_kw),
        ],
        0.0,
        0.0,
    )
    b.constraints(
        initial,
        [(soc[:1], 1.0), (ch[:1], charge_kwh_per_kw), (dis[:1], discharge_kwh_per_kw)],
        battery.initial_soc_kwh,
        battery.initial_soc_kwh,
    )


def _peak_charge(b: _Builder, problem: DispatchProblem, charge: PeakCharge) -> None:
    """``tariff_constraints._add_peak_charge``: block means under peaks, ratchets."""
    floors = dict(problem.peak_floor_kw)
    periods = charge.period_names
    peak = b.variables(
        names.peak_variable(charge.name),
        len(periods),
        [floors.get(period, 0.0) for period in periods],
        INF,
    )
    imp = b.columns[names.GRID_IMPORT_KW]
    inside = np.flatnonzero(charge.block_of_step >= 0)
    blocks = len(charge.block_steps)
    first_row = b.n_rows
    b.constraints(
        names.peak_floor(charge.name),
        [(peak[charge.block_period], -1.0)],
        -INF,
        -charge.offsets_kw(),
        blocks,
    )
    block_of_inside = charge.block_of_step[inside]
    b.entries_for(
        names.peak_floor(charge.name),
        first_row + block_of_inside,
        imp[inside],
        1.0 / charge.block_steps[block_of_inside],
    )
    if charge.ratchet_fraction is None:
        return
    billed = b.variables(names.billed_variable(charge.name), len(periods), charge.ratchet_floor_kw)
    b.constraints(names.ratchet_peak(charge.name), [(billed, 1.0), (peak, -1.0)], 0.0, INF)
    if len(charge.ratchet_pairs):
        b.constraints(
            names.ratchet_history(charge.name),
            [
                (billed[charge.ratchet_pairs[:, 0]], 1.0),
                (peak[charge.ratchet_pairs[:, 1]], -charge.ratchet_fraction),
            ],
            0.0,
            INF,
        )


def _excess_capacity(b: _Builder, problem: DispatchProblem) -> None:
    """``excess_kva[m] >= imp[t] / pf - agreed_kva``."""
    tariff = problem.tariff
    if not tariff.excess_month_names:
        return
    excess = b.variables(names.EXCESS_CAPACITY_KVA, len(tariff.excess_month_names))
    inside = np.flatnonzero(tariff.excess_month_of_step >= 0)
    b.constraints(
        names.EXCESS_CAPACITY_FLOOR,
        [
            (b.columns[names.GRID_IMPORT_KW][inside], 1.0 / tariff.power_factor),
            (excess[tariff.excess_month_of_step[inside]], -1.0),
        ],
        -INF,
        tariff.agreed_kva,
    )


def _flexibility_events(b: _Builder, problem: DispatchProblem) -> None:
    """``red <= baseline * on`` and ``red + imp <= baseline + M * (1 - on)``."""
    steps = problem.tariff.flex_steps
    if not len(steps):
        return
    baseline_kw = problem.tariff.flex_baseline_kw[steps]
    big_m_kw = problem.import_bound_kw()[steps]
    reduction = b.variables(names.FLEX_REDUCTION_KW, len(steps), 0.0, baseline_kw)
    paid = b.variables(names.FLEX_PAID_ON, len(steps), 0.0, 1.0, integer=True)
    b.constraints(names.FLEX_PAID_SWITCH, [(reduction, 1.0), (paid, -baseline_kw)], -INF, 0.0)
    b.constraints(
        names.FLEX_REDUCTION_LIMIT,
        [(reduction, 1.0), (b.columns[names.GRID_IMPORT_KW][steps], 1.0), (paid, big_m_kw)],
        -INF,
        baseline_kw + big_m_kw,
    )


def _grid_to_battery_to_grid_guard(b: _Builder, problem: DispatchProblem) -> None:
    """Track grid-sourced stored energy and never export it (``tariff_constraints``)."""
    if not problem.tariff.rules.no_grid_to_battery_to_grid:
        return
    steps = len(problem.time_index)
    c = b.columns
    ch, dis = c[names.BATTERY_CHARGE_KW], c[names.BATTERY_DISCHARGE_KW]
    surplus_kw = problem.pv_surplus_kw()
    ch_grid = b.variables(names.BATTERY_CHARGE_GRID_KW, steps)
    dis_grid = b.variables(names.BATTERY_DISCHARGE_GRID_KW, steps)
    soc_grid = b.variables(names.BATTERY_SOC_GRID_KWH, steps, 0.0, problem.battery.soc_max_kwh)
    b.constraints(
        names.GRID_CHARGE_SHARE,
        [(ch_grid, 1.0), (ch, -1.0), (c[names.PV_CURTAIL_KW], -1.0)],
        -surplus_kw,
        INF,
    )
    b.constraints(names.GRID_CHARGE_LIMIT, [(ch_grid, 1.0), (ch, -1.0)], -INF, 0.0)
    b.constraints(names.GRID_DISCHARGE_LIMIT, [(dis_grid, 1.0), (dis, -1.0)], -INF, 0.0)
    b.constraints(
        names.GRID_SOC_LIMIT, [(soc_grid, 1.0), (c[names.BATTERY_SOC_KWH], -1.0)], -INF, 0.0
    )
    _storage(
        b, problem, soc_grid, ch_grid, dis_grid, (names.GRID_SOC_DYNAMICS, names.GRID_SOC_INITIAL)
    )
    b.constraints(
        names.GRID_EXPORT_FROM_PV,
        [(c[names.GRID_EXPORT_KW], 1.0), (dis, -1.0), (dis_grid, 1.0)],
        -INF,
        surplus_kw,
    )


def _charge_discharge_switch(b: _Builder, problem: DispatchProblem) -> None:
    """``ch <= P_ch * on`` and ``dis <= P_dis * (1 - on)``."""
    if not problem.solver.forbid_simultaneous_charge_discharge:
        return
    battery = problem.battery
    on = b.variables(names.BATTERY_CHARGING_ON, len(problem.time_index), 0.0, 1.0, integer=True)
    b.constraints(
        names.BATTERY_CHARGE_SWITCH,
        [(b.columns[names.BATTERY_CHARGE_KW], 1.0), (on, -battery.charge_power_max_kw)],
        -INF,
        0.0,
    )
    b.constraints(
        names.BATTERY_DISCHARGE_SWITCH,
        [(b.columns[names.BATTERY_DISCHARGE_KW], 1.0), (on, battery.discharge_power_max_kw)],
        -INF,
        battery.discharge_power_max_kw,
    )


def _time_shared_grid_direction(b: _Builder, problem: DispatchProblem) -> None:
    """The exact hull of importing and exporting modes where export pays more (see linopy's)."""
    pays = problem.export_pays_more_steps()
    if not len(pays):
        return
    c = b.columns
    share = b.variables(names.GRID_IMPORTING_SHARE_FRAC, len(pays), 0.0, 1.0)
    mode_flows = {}
    for total, in_mode, cap_kw in problem.mode_flow_caps_kw():
        flow = b.variables(in_mode, len(pays))
        total_cols = c[total][pays]
        b.constraints(f"{in_mode}_share", [(flow, 1.0), (share, -cap_kw)], -INF, 0.0)
        b.constraints(
            f"{in_mode}_rest_share",
            [(total_cols, 1.0), (flow, -1.0), (share, cap_kw)],
            -INF,
            cap_kw,
        )
        b.constraints(f"{in_mode}_rest", [(total_cols, 1.0), (flow, -1.0)], 0.0, INF)
        mode_flows[in_mode] = flow
    net_load_kw = (problem.load_kw - problem.pv_kw)[pays]
    b.constraints(
        names.GRID_IMPORTING_MODE_BALANCE,
        [
            (c[names.GRID_IMPORT_KW][pays], 1.0),
            (share, -net_load_kw),
            (mode_flows[names.BATTERY_CHARGE_IMPORTING_KW], -1.0),
            (mode_flows[names.BATTERY_DISCHARGE_IMPORTING_KW], 1.0),
            (mode_flows[names.PV_CURTAIL_IMPORTING_KW], -1.0),
        ],
        0.0,
        0.0,
    )
    if problem.grid.import_limit_kw is not None:
        b.constraints(
            names.GRID_IMPORT_SHARE_LIMIT,
            [(c[names.GRID_IMPORT_KW][pays], 1.0), (share, -problem.grid.import_limit_kw)],
            -INF,
            0.0,
        )
    if problem.grid.export_limit_kw is not None:
        limit_kw = problem.grid.export_limit_kw
        b.constraints(
            names.GRID_EXPORT_SHARE_LIMIT,
            [(c[names.GRID_EXPORT_KW][pays], 1.0), (share, limit_kw)],
            -INF,
            limit_kw,
        )


def _objective(b: _Builder, problem: DispatchProblem) -> None:
    """The terms of ``objective.objective_terms``, as costs per column [GBP per unit]."""
    c = b.columns
    tariff = problem.tariff
    dt_h = problem.dt_h
    imp, exp = c[names.GRID_IMPORT_KW], c[names.GRID_EXPORT_KW]
    b.cost(imp, tariff.import_price_gbp_per_kwh * dt_h)
    b.cost(exp, -tariff.export_price_gbp_per_kwh * dt_h)
    b.cost(c[names.BATTERY_DISCHARGE_KW], problem.battery.degradation_cost_gbp_per_kwh * dt_h)
    if tariff.triad_weight_per_kw.any():
        b.cost(imp, tariff.triad_weight_per_kw)
        if tariff.triad_credit_export:
            b.cost(exp, -tariff.triad_weight_per_kw)
    for charge in (*tariff.demand_charges, *tariff.coincident_peaks):
        if not charge.period_names:
            continue
        billed_name = names.billed_variable(charge.name)
        billed = c[billed_name] if billed_name in c else c[names.peak_variable(charge.name)]
        b.cost(billed, charge.rate_gbp_per_kw)
    if tariff.excess_month_names:
        b.cost(c[names.EXCESS_CAPACITY_KVA], tariff.excess_rate_gbp_per_kva)
    if len(tariff.flex_steps):
        b.cost(c[names.FLEX_REDUCTION_KW], -tariff.flex_price_gbp_per_kwh[tariff.flex_steps] * dt_h)
    if problem.terminal_value_gbp_per_kwh:
        b.cost(c[names.BATTERY_SOC_KWH][-1:], -problem.terminal_value_gbp_per_kwh)


def matrix_lp(problem: DispatchProblem) -> MatrixLP:
    """The LP of ``build_model(problem)`` as sparse arrays."""
    b = _Builder()
    _core(b, problem)
    for charge in (*problem.tariff.demand_charges, *problem.tariff.coincident_peaks):
        if charge.period_names:
            _peak_charge(b, problem, charge)
    _excess_capacity(b, problem)
    _flexibility_events(b, problem)
    _grid_to_battery_to_grid_guard(b, problem)
    _charge_discharge_switch(b, problem)
    _time_shared_grid_direction(b, problem)
    _objective(b, problem)
    return b.finish()
