"""Describe the dispatch LP family by family, in a fixed, readable order."""

from linopy import Model

from gridq.engine.model.emit import MatrixLP, to_arrays, to_linopy
from gridq.engine.model.families import (
    add_charge_discharge_switch,
    add_flows,
    add_power_balance,
    add_soc_dynamics,
    add_terminal_soc,
    add_time_shared_grid_direction,
)
from gridq.engine.model.lp import LinearProgram
from gridq.engine.model.objective import add_objective
from gridq.engine.model.problem import DispatchProblem
from gridq.engine.tariff.families import (
    add_excess_capacity,
    add_flexibility_events,
    add_grid_to_battery_to_grid_guard,
    add_peak_charges,
)


def describe(problem: DispatchProblem) -> LinearProgram:
    """The LP of ``problem`` as data (see :mod:`gridq.engine.model.lp`)."""
    lp = LinearProgram()
    for add in (
        add_flows,
        add_power_balance,
        add_soc_dynamics,
        add_terminal_soc,
        add_peak_charges,
        add_excess_capacity,
        add_flexibility_events,
        add_grid_to_battery_to_grid_guard,
        add_charge_discharge_switch,
        add_time_shared_grid_direction,
        add_objective,
    ):
        add(lp, problem)
    return lp


def matrix_lp(problem: DispatchProblem) -> MatrixLP:
    """The LP of ``problem`` as sparse arrays: what every run solves."""
    return to_arrays(describe(problem))


def build_model(problem: DispatchProblem) -> Model:
    """The LP of ``problem`` as a linopy model (not yet solved), for reading and tests."""
    return to_linopy(describe(problem))
