"""Sites sharing a connection, solved as one LP: hand-computed cases and the uncoupled optimum."""

import numpy as np
import pytest

from gridq import conventions as col
from gridq.engine.checks import check_dispatch
from gridq.engine.model.joint import SharedConnection, solve_joint
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import solve_in_place
from gridq.errors import InfeasibleError
from gridq.io.bundle import read_bundle
from tests.conftest import make_run_config, make_site, make_timeseries

# Two sites that each need 6 kW in the last two of four 15-min steps, when import is cheapest.
LOAD_KW = [0.0, 0.0, 6.0, 6.0]
PRICE_GBP_PER_KWH = [0.10, 0.10, 0.05, 0.05]


def two_sites(limit_kw: float):
    timeseries = make_timeseries(LOAD_KW, import_price=PRICE_GBP_PER_KWH)
    problems = [make_problem(make_site(), make_run_config(), timeseries) for _ in range(2)]
    return solve_joint(problems, SharedConnection(import_limit_kw=limit_kw))


def test_a_binding_shared_limit_moves_import_into_the_battery_by_hand():
    result = two_sites(limit_kw=8.0)
    total_import_kw = sum(d[col.GRID_IMPORT_KW].to_numpy() for d in result.dispatches)
    # 12 kW wanted at steps 2 and 3, 8 allowed: 2 x 4 kW x 0.25 h = 2 kWh comes from the
    # batteries, charged at 0.10 (0.20 GBP); the 4 kWh imported at 0.05 cost 0.20 GBP.
    assert total_import_kw[2:] == pytest.approx([8.0, 8.0])
    assert total_import_kw[:2].sum() * 0.25 == pytest.approx(2.0)
    assert result.objective_gbp == pytest.approx(0.4)


def test_a_limit_the_batteries_cannot_bridge_is_one_line():
    # 5 kW allowed: 2.5 kWh can be stored in steps 0-1, but 3.5 kWh are missing in steps 2-3.
    with pytest.raises(InfeasibleError, match="cannot keep to the shared connection's limits"):
        two_sites(limit_kw=5.0)


def two_example_weeks(example_bundles):
    """The first week of two example sites, and their summed import peak alone [kW]."""
    problems = []
    for name in ("commercial_demand_charge", "uk_business_duos"):
        inputs = read_bundle(example_bundles[name])
        problems.append(make_problem(inputs.site, inputs.run_config, inputs.timeseries.iloc[:672]))
    alone = [solve_in_place(problem) for problem in problems]
    return problems, alone, sum(a.dispatch[col.GRID_IMPORT_KW].to_numpy() for a in alone).max()


@pytest.mark.parametrize("limit_frac", [10.0, 0.7])
def test_the_joint_lp_against_each_site_alone(example_bundles, limit_frac):
    problems, alone, peak_kw = two_example_weeks(example_bundles)
    result = solve_joint(problems, SharedConnection(import_limit_kw=limit_frac * peak_kw))
    separate_gbp = sum(a.objective_gbp for a in alone)
    total_import_kw = sum(d[col.GRID_IMPORT_KW].to_numpy() for d in result.dispatches)
    assert total_import_kw.max() <= limit_frac * peak_kw + 1e-6
    for problem, dispatch in zip(problems, result.dispatches, strict=True):
        checks = check_dispatch(dispatch, problem.battery)
        assert checks["max_balance_residual_kw"] < 1e-6
        assert checks["max_soc_dynamics_residual_kwh"] < 1e-6
    if limit_frac > 1:
        # A slack limit couples nothing: the fleet's optimum is the sum of the sites' own.
        assert result.objective_gbp == pytest.approx(separate_gbp, rel=1e-9)
    else:
        assert result.objective_gbp > separate_gbp
        assert np.isclose(total_import_kw.max(), limit_frac * peak_kw)
