"""The objective as named GBP terms; a cost is positive when money leaves the site."""

from linopy import LinearExpression, Model

from gridq.engine.model import names
from gridq.engine.model.constraints import _series
from gridq.engine.model.problem import DispatchProblem


def objective_terms(model: Model, problem: DispatchProblem) -> dict[str, LinearExpression]:
    """Named terms whose sum is minimised (the standing charge is constant and left out).

    - ``import_cost_gbp = sum(imp * p_imp) * dt``
    - ``export_revenue_gbp = sum(exp * p_exp) * dt`` (subtracted)
    - ``demand_charge_gbp = sum(peak[p] * rate[p])``
    - ``degradation_cost_gbp = c_deg * sum(dis) * dt``
    """
    v = model.variables
    tariff = problem.tariff
    time = problem.time_index
    terms = {
        names.IMPORT_COST_GBP: (
            v[names.GRID_IMPORT_KW] * _series(tariff.import_price_gbp_per_kwh * problem.dt_h, time)
        ).sum(),
        names.EXPORT_REVENUE_GBP: (
            v[names.GRID_EXPORT_KW] * _series(tariff.export_price_gbp_per_kwh * problem.dt_h, time)
        ).sum(),
        names.DEGRADATION_COST_GBP: (
            problem.battery.degradation_cost_gbp_per_kwh
            * problem.dt_h
            * v[names.BATTERY_DISCHARGE_KW]
        ).sum(),
    }
    if tariff.demand_period_names:
        peak = v[names.DEMAND_PEAK_KW]
        terms[names.DEMAND_CHARGE_GBP] = (peak * tariff.demand_period_rate_gbp_per_kw).sum()
    return terms


def add_objective(model: Model, problem: DispatchProblem) -> None:
    """Minimise import cost - export revenue + demand charge + degradation cost [GBP]."""
    terms = objective_terms(model, problem)
    total = terms[names.IMPORT_COST_GBP] - terms[names.EXPORT_REVENUE_GBP]
    for name in (names.DEMAND_CHARGE_GBP, names.DEGRADATION_COST_GBP):
        if name in terms:
            total = total + terms[name]
    model.add_objective(total)
