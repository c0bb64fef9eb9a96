"""HiGHS updated in place between windows gives the answers of fresh models."""

from dataclasses import replace

import pytest

from gridq.engine.model.build import build_model
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import highs_options, solve, solve_in_place
from gridq.errors import SolverError
from gridq.io.bundle import read_bundle


def _daily_windows(inputs, days: int):
    """Two-day windows starting at each of ``days`` midnights, each valuing leftover energy."""
    day = 96
    for start in range(0, days * day, day):
        window = inputs.timeseries.iloc[start : start + 2 * day]
        yield replace(
            make_problem(inputs.site, inputs.run_config, window),
            terminal_soc_min_kwh=None,
            terminal_value_gbp_per_kwh=0.1,
        )


def test_an_updated_model_gives_the_answer_of_a_fresh_one(example_bundles):
    inputs = read_bundle(example_bundles["export_limited_pv"])
    whole = make_problem(inputs.site, inputs.run_config, inputs.timeseries)
    highs = InPlaceHighs(highs_options(whole.solver))
    for problem in _daily_windows(inputs, 5):
        updated = solve_in_place(problem, highs)
        fresh = solve_in_place(problem)
        assert updated.objective_gbp == pytest.approx(fresh.objective_gbp, rel=1e-9, abs=1e-9)
    assert highs.updates >= 1, "consecutive windows of one shape must reuse the model"


def test_a_model_passed_anew_from_the_last_basis_gives_the_answer_of_a_fresh_one(
    example_bundles,
):
    """Windows over a week of demand-charge steps change structure at the weekend.

    Each is passed anew from the last window's basis; its optimum is a fresh model's, and a
    loop that starts such windows from no basis (the bench's raw twin) agrees too.
    """
    inputs = read_bundle(example_bundles["commercial_demand_charge"])
    whole = make_problem(inputs.site, inputs.run_config, inputs.timeseries)
    carrying = InPlaceHighs(highs_options(whole.solver))
    plain = InPlaceHighs(highs_options(whole.solver), carry_basis=False)
    for problem in _daily_windows(inputs, 8):
        fresh = solve_in_place(problem).objective_gbp
        for highs in (carrying, plain):
            solved = solve_in_place(problem, highs).objective_gbp
            assert solved == pytest.approx(fresh, rel=1e-9, abs=1e-9)
    assert carrying.carried >= 1, "a week's windows must change structure at least once"
    assert carrying.passes == plain.passes
    assert plain.carried == 0


def test_a_solve_stopped_by_its_time_limit_is_one_line_naming_the_fix(example_bundles):
    inputs = read_bundle(example_bundles["commercial_underwriting"])
    solver = inputs.run_config.solver.model_copy(update={"time_limit_s": 1e-3})
    problem = replace(
        make_problem(inputs.site, inputs.run_config, inputs.timeseries), solver=solver
    )
    for solved in (lambda: solve_in_place(problem), lambda: solve(build_model(problem), problem)):
        with pytest.raises(SolverError) as stopped:
            solved()
        assert str(stopped.value) == (
            "HiGHS stopped (time_limit); raise solver.time_limit_s or report the bundle as a bug"
        )
