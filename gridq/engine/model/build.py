"""Assemble the dispatch LP in a fixed, readable order."""

import linopy
from linopy import Model

from gridq.engine.model.constraints import (
    add_charge_discharge_switch,
    add_power_balance,
    add_soc_dynamics,
    add_terminal_soc,
    add_time_shared_grid_direction,
    add_variables,
)
from gridq.engine.model.objective import add_objective
from gridq.engine.model.problem import DispatchProblem
from gridq.engine.model.tariff_constraints import (
    add_excess_capacity,
    add_flexibility_events,
    add_grid_to_battery_to_grid_guard,
    add_peak_charges,
)


def build_model(problem: DispatchProblem) -> Model:
    """Return the linopy model of ``problem`` (not yet solved)."""
    with linopy.options as options:
        options(semantics="v1")
        model = Model(force_dim_names=True)
        add_variables(model, problem)
        add_power_balance(model, problem)
        add_soc_dynamics(model, problem)
        add_terminal_soc(model, problem)
        add_peak_charges(model, problem)
        add_excess_capacity(model, problem)
        add_flexibility_events(model, problem)
        add_grid_to_battery_to_grid_guard(model, problem)
        add_charge_discharge_switch(model, problem)
        add_time_shared_grid_direction(model, problem)
        add_objective(model, problem)
    return model
