"""The fast path (sparse arrays, HiGHS updated in place) solves the linopy model's LP."""

from dataclasses import replace

import numpy as np
import pytest
from linopy import Model

from gridq.engine.model.build import build_model
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.matrix_form import MatrixLP, matrix_lp
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import highs_options, solve, solve_in_place
from gridq.io.bundle import read_bundle
from tests.conftest import EXAMPLE_NAMES

FEASIBILITY_KW = 1e-6


def _linopy_values(model: Model, lp: MatrixLP, x: np.ndarray) -> np.ndarray:
    """``x`` (the fast path's columns) indexed by the linopy model's variable labels."""
    by_label = np.full(model._xCounter, np.nan)
    for name, columns in lp.columns.items():
        labels = model.variables[name].labels.to_numpy().ravel()
        by_label[labels] = x[columns]
    return by_label


def _worst_violation(model: Model, by_label: np.ndarray) -> float:
    """Largest violation of any linopy constraint by the values ``by_label``."""
    worst = 0.0
    for name in model.constraints:
        constraint = model.constraints[name]
        labels = constraint.labels.to_numpy()
        variables = constraint.vars.to_numpy().reshape(labels.size, -1)
        coeffs = constraint.coeffs.to_numpy().reshape(labels.size, -1)
        active = labels.ravel() >= 0
        used = variables >= 0
        lhs = (np.where(used, coeffs, 0.0) * by_label[np.where(used, variables, 0)]).sum(axis=1)
        gap = lhs - constraint.rhs.to_numpy().ravel()
        sign = np.broadcast_to(constraint.sign.to_numpy(), labels.shape).ravel()
        violation = np.where(sign == "<=", gap, np.where(sign == ">=", -gap, np.abs(gap)))
        assert not np.isnan(violation[active]).any(), name
        worst = max(worst, float(violation[active].max(initial=0.0)))
    return worst


def _linopy_objective(model: Model, by_label: np.ndarray) -> float:
    expression = model.objective.expression
    variables = expression.vars.to_numpy().ravel()
    coeffs = expression.coeffs.to_numpy().ravel()
    used = variables >= 0
    return float((coeffs[used] * by_label[variables[used]]).sum())


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_fast_path_solves_the_linopy_lp_of_every_example(example_bundles, name):
    inputs = read_bundle(example_bundles[name])
    problem = make_problem(inputs.site, inputs.run_config, inputs.timeseries)
    model = build_model(problem)
    reference = solve(model, problem)
    lp = matrix_lp(problem)
    fast = solve_in_place(problem)

    assert fast.objective_gbp == pytest.approx(reference.objective_gbp, rel=1e-7)
    assert lp.matrix.shape == (model.ncons, model.nvars)
    assert set(lp.columns) == set(model.variables)
    assert set(lp.rows) == set(model.constraints)
    # The fast optimum is feasible in the linopy model and costs the same there.
    highs = InPlaceHighs(highs_options(problem.solver))
    _, x, objective_gbp = highs.solve(lp)
    by_label = _linopy_values(model, lp, x)
    assert _worst_violation(model, by_label) < FEASIBILITY_KW
    assert _linopy_objective(model, by_label) == pytest.approx(objective_gbp, rel=1e-9)


def test_an_updated_model_gives_the_answer_of_a_fresh_one(example_bundles):
    inputs = read_bundle(example_bundles["export_limited_pv"])
    whole = make_problem(inputs.site, inputs.run_config, inputs.timeseries)
    highs = InPlaceHighs(highs_options(whole.solver))
    day = 96
    for start in range(0, 5 * day, day):
        window = inputs.timeseries.iloc[start : start + 2 * day]
        problem = replace(
            make_problem(inputs.site, inputs.run_config, window),
            terminal_soc_min_kwh=None,
            terminal_value_gbp_per_kwh=0.1,
        )
        updated = solve_in_place(problem, highs)
        fresh = solve_in_place(problem)
        assert updated.objective_gbp == pytest.approx(fresh.objective_gbp, rel=1e-9, abs=1e-9)
    assert highs.updates >= 1, "consecutive windows of one shape must reuse the model"
