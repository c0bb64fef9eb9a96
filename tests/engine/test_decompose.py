"""The decomposition of a coupled fleet against the joint LP: same optimum, proven gap."""

import numpy as np
import pytest

from gridq import conventions as col
from gridq.engine.checks import check_dispatch
from gridq.engine.model.decompose import solve_decomposed
from gridq.engine.model.joint import SharedConnection, solve_joint
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import solve_in_place
from gridq.errors import InfeasibleError
from tests.conftest import make_run_config, make_site, make_timeseries
from tests.engine.test_joint import LOAD_KW, PRICE_GBP_PER_KWH, two_example_weeks


def two_sites():
    timeseries = make_timeseries(LOAD_KW, import_price=PRICE_GBP_PER_KWH)
    return [make_problem(make_site(), make_run_config(), timeseries) for _ in range(2)]


def test_the_hand_computed_shared_limit_by_decomposition():
    result = solve_decomposed(two_sites(), SharedConnection(import_limit_kw=8.0))
    total_import_kw = sum(d[col.GRID_IMPORT_KW].to_numpy() for d in result.dispatches)
    assert total_import_kw[2:] == pytest.approx([8.0, 8.0])
    assert result.objective_gbp == pytest.approx(0.4)
    assert result.stats["gap_frac"] <= 1e-6
    assert result.stats["bound_gbp"] <= result.objective_gbp + 1e-9


def test_a_limit_no_battery_can_bridge_is_one_line_by_decomposition():
    with pytest.raises(InfeasibleError, match="cannot keep to the shared connection's limits"):
        solve_decomposed(two_sites(), SharedConnection(import_limit_kw=5.0))


def random_fleet(seed: int, sites: int, steps: int = 96):
    """Seeded random sites over one day: loads, PV, prices and batteries of their own."""
    rng = np.random.default_rng(seed)
    problems = []
    hours = np.arange(steps) / 4
    for _ in range(sites):
        load_kw = rng.uniform(2, 12) * (1 + 0.5 * np.sin((hours - 7) / 24 * 2 * np.pi))
        load_kw += rng.uniform(0, 3, steps)
        pv_kw = np.clip(rng.uniform(0, 8) * np.sin((hours - 6) / 12 * np.pi), 0, None)
        price = 0.15 + 0.15 * (hours >= 16) * (hours < 19) + rng.uniform(-0.03, 0.03, steps)
        timeseries = make_timeseries(
            list(load_kw), pv_kw=list(pv_kw), import_price=list(price), export_price=0.04
        )
        capacity_kwh = float(rng.uniform(5, 30))
        site = make_site(
            capacity_kwh=capacity_kwh,
            charge_power_max_kw=capacity_kwh / 2,
            discharge_power_max_kw=capacity_kwh / 2,
            charge_efficiency_frac=0.95,
            discharge_efficiency_frac=0.95,
        )
        problems.append(make_problem(site, make_run_config(), timeseries))
    return problems


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_decomposition_matches_the_joint_lp_on_random_fleets(seed):
    problems = random_fleet(seed, sites=4)
    alone = [solve_in_place(problem) for problem in problems]
    uncoupled_import_kw = sum(a.dispatch[col.GRID_IMPORT_KW].to_numpy() for a in alone)
    # A limit the sites broke on their own, at a random share of their summed peak.
    limit_kw = float(np.random.default_rng(seed).uniform(0.6, 0.8) * uncoupled_import_kw.max())
    shared = SharedConnection(import_limit_kw=limit_kw, export_limit_kw=limit_kw / 2)
    joint = solve_joint(problems, shared)
    decomposed = solve_decomposed(problems, shared)
    assert decomposed.objective_gbp == pytest.approx(joint.objective_gbp, rel=1e-6, abs=1e-6)
    assert decomposed.stats["bound_gbp"] <= joint.objective_gbp + 1e-6
    assert decomposed.stats["gap_frac"] <= 1e-6
    total_import_kw = sum(d[col.GRID_IMPORT_KW].to_numpy() for d in decomposed.dispatches)
    total_export_kw = sum(d[col.GRID_EXPORT_KW].to_numpy() for d in decomposed.dispatches)
    assert total_import_kw.max() <= limit_kw + 1e-6
    assert total_export_kw.max() <= limit_kw / 2 + 1e-6
    for problem, dispatch in zip(problems, decomposed.dispatches, strict=True):
        checks = check_dispatch(dispatch, problem.battery)
        assert checks["max_balance_residual_kw"] < 1e-6
        assert checks["max_soc_dynamics_residual_kwh"] < 1e-6
        assert checks["max_soc_bound_violation_kwh"] < 1e-6


def test_decomposition_matches_the_joint_lp_on_two_example_weeks(example_bundles):
    problems, _, peak_kw = two_example_weeks(example_bundles)
    shared = SharedConnection(import_limit_kw=0.8 * peak_kw)
    joint = solve_joint(problems, shared)
    decomposed = solve_decomposed(problems, shared)
    assert decomposed.objective_gbp == pytest.approx(joint.objective_gbp, rel=1e-6)
