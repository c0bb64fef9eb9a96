"""The LP is described once: its two emitters agree term by term on random sites and tariffs."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridq.engine.model import names
from gridq.engine.model.build import build_model, describe
from gridq.engine.model.emit import to_arrays
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import solve, solve_in_place
from gridq.schemas import GridConnection, SolverOptions
from gridq.schemas.tariff import (
    Capacity,
    CoincidentPeak,
    DemandCharge,
    Duos,
    FlexibilityEvent,
    GridRules,
    Ratchet,
    Tariff,
    Triads,
)
from tests.conftest import make_run_config, make_site, make_timeseries

FEATURES = (
    "demand_charge",
    "ratchet",
    "coincident_peak",
    "excess_capacity",
    "triads",
    "flexibility_event",
    "no_battery_export",
    "charge_from_pv_only",
    "no_grid_to_battery_to_grid",
    "switch",
    "export_pays_more",
    "grid_limits",
    "rolling_window",
    "reserve",
)


def _problem(seed: int, steps: int, features: frozenset[str]):
    """A random site and window with ``features`` switched on."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-31T20:00Z")
    index = pd.date_range(start, periods=steps, freq="15min")
    pv_kw = np.round(rng.uniform(0, 8, steps), 3)
    import_price = np.round(rng.uniform(0.05, 0.4, steps), 4)
    export_price = (
        np.round(rng.uniform(0.0, 0.5, steps), 4) if "export_pays_more" in features else 0.03
    )
    timeseries = make_timeseries(
        np.round(rng.uniform(0.5, 6, steps), 3),
        pv_kw,
        import_price,
        export_price,
        start=start.isoformat(),
    )
    window = (index[steps // 3], index[steps // 3 + 2] + pd.Timedelta(minutes=15))
    tariff = Tariff(
        demand_charges=(
            (
                DemandCharge(
                    name="monthly",
                    rate_gbp_per_kw=float(rng.uniform(1, 15)),
                    averaging_min=30,
                    ratchet=Ratchet(fraction=0.8, months=2, history_kw={"2024-12": 3.0})
                    if "ratchet" in features
                    else None,
                ),
            )
            if "demand_charge" in features or "ratchet" in features
            else ()
        ),
        coincident_peaks=(
            (CoincidentPeak(name="cp", rate_gbp_per_kw=5.0, periods_utc=(window,)),)
            if "coincident_peak" in features
            else ()
        ),
        duos=(
            Duos(
                capacity=Capacity(
                    agreed_kva=4.0,
                    rate_gbp_per_kva_per_day=0.05,
                    excess_rate_gbp_per_kva_per_day=0.1,
                )
            )
            if "excess_capacity" in features
            else None
        ),
        triads=(
            Triads(periods_start_utc=(window[0],), rate_gbp_per_kw=20.0, credit_export=True)
            if "triads" in features
            else None
        ),
        flexibility_events=(
            (
                FlexibilityEvent(
                    name="turn_down",
                    start_utc=window[0],
                    end_utc=window[1],
                    baseline_import_kw=3.0,
                    price_gbp_per_kwh=0.5,
                ),
            )
            if "flexibility_event" in features
            else ()
        ),
        rules=GridRules(
            no_battery_export="no_battery_export" in features,
            charge_from_pv_only="charge_from_pv_only" in features,
            no_grid_to_battery_to_grid="no_grid_to_battery_to_grid" in features,
        ),
    )
    grid = (
        GridConnection(import_limit_kw=20.0, export_limit_kw=float(rng.uniform(1, 5)))
        if "grid_limits" in features
        else GridConnection()
    )
    site = make_site(
        grid,
        capacity_kwh=float(rng.uniform(2, 20)),
        charge_efficiency_frac=0.95,
        discharge_efficiency_frac=0.9,
        initial_soc_frac=0.5,
        terminal_soc="at_least_initial",
    )
    run_config = make_run_config(
        tariff=tariff,
        solver=SolverOptions(forbid_simultaneous_charge_discharge="switch" in features),
    )
    problem = make_problem(site, run_config, timeseries)
    if "rolling_window" in features:
        problem = replace(
            problem,
            terminal_soc_min_kwh=None,
            terminal_value_gbp_per_kwh=0.1,
            peak_floor_kw={
                c.name: np.full(len(c.period_names), 2.0) for c in problem.tariff.demand_charges
            },
        )
    if "reserve" in features:
        problem = replace(problem, soc_reserve_kwh=np.full(steps, 0.1 * site.battery.capacity_kwh))
    return problem


def _rows_as_bounds(sense: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low = np.where(sense == "<", -np.inf, rhs)
    high = np.where(sense == ">", np.inf, rhs)
    return low, high


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    steps=st.integers(4, 20),
    features=st.frozensets(st.sampled_from(FEATURES)),
)
def test_both_emitters_write_the_same_lp_and_solve_to_the_same_optimum(seed, steps, features):
    problem = _problem(seed, steps, features)
    lp = describe(problem)
    arrays = to_arrays(lp)
    model = build_model(problem)
    matrices = model.matrices
    # linopy's labels are the arrays' positions: columns and rows in the description's order.
    columns, rows = matrices.vlabels, matrices.clabels
    assert np.array_equal(columns, np.arange(arrays.matrix.shape[1]))
    assert np.array_equal(rows, np.arange(arrays.matrix.shape[0]))
    linopy_matrix = sp.csc_matrix(matrices.A)
    linopy_matrix.sum_duplicates()
    linopy_matrix.eliminate_zeros()
    assert (linopy_matrix != arrays.matrix).nnz == 0
    assert np.array_equal(matrices.c, arrays.cost)
    assert np.array_equal(matrices.lb, arrays.col_lo)
    assert np.array_equal(matrices.ub, arrays.col_hi)
    low, high = _rows_as_bounds(np.asarray(matrices.sense), matrices.b)
    assert np.array_equal(low, arrays.row_lo)
    assert np.array_equal(high, arrays.row_hi)
    assert set(model.variables) == set(arrays.columns)
    assert set(model.constraints) == set(arrays.rows)
    assert solve_in_place(problem).objective_gbp == pytest.approx(
        solve(model, problem).objective_gbp, rel=1e-7, abs=1e-7
    )


@pytest.mark.parametrize("feature", FEATURES)
def test_every_feature_writes_its_family(feature):
    """A feature that wrote nothing could not be compared: each adds columns or rows."""
    plain = to_arrays(describe(_problem(7, 12, frozenset())))
    featured = to_arrays(describe(_problem(7, 12, frozenset({feature}))))
    assert featured.matrix.shape != plain.matrix.shape or not (
        np.array_equal(featured.col_hi, plain.col_hi)
        and np.array_equal(featured.col_lo, plain.col_lo)
        and np.array_equal(featured.cost, plain.cost)
    ), feature


def test_the_time_dimension_labels_step_families():
    problem = _problem(3, 8, frozenset({"export_pays_more"}))
    model = build_model(problem)
    share = model.variables[names.GRID_IMPORTING_SHARE_FRAC]
    pays = problem.export_pays_more_steps()
    assert list(share.indexes[names.TIME]) == list(problem.time_index[pays])
    balance = model.constraints[names.SITE_POWER_BALANCE]
    assert list(balance.indexes[names.TIME]) == list(problem.time_index)
