"""The default perfect-foresight run is the exact optimum, on random years it never saw."""

import pytest

from gridq.engine.bill import CONSTANT_BILL_ITEMS, bill
from gridq.engine.model.build import build_model
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import solve
from gridq.engine.run import optimise
from gridq.runners.bench import random_site_year
from tests.engine.test_invariants import assert_physical


@pytest.mark.slow
@pytest.mark.parametrize("seed", [101, 202])
def test_default_run_of_a_random_year_is_the_exact_optimum(seed):
    site, run_config, timeseries = random_site_year(seed)
    optimised = optimise(site, run_config, timeseries)
    problem = make_problem(site, run_config, timeseries)
    reference = solve(build_model(problem), problem)
    stats = optimised.solve_stats
    assert stats["method"] == "exact"
    assert stats["objective_gbp"] == pytest.approx(reference.objective_gbp, rel=1e-9)
    its_bill = bill(optimised.dispatch, problem.tariff, site.battery.degradation_cost_gbp_per_kwh)
    constants_gbp = sum(getattr(its_bill, name) for name in CONSTANT_BILL_ITEMS)
    assert stats["objective_gbp"] + constants_gbp == pytest.approx(
        its_bill.total_cost_gbp, rel=1e-9
    )
    assert_physical(optimised.dispatch, site.battery)
