"""The objective as named GBP terms; a cost is positive when money leaves the site."""

from linopy import LinearExpression, Model

from gridq.engine.model import names
from gridq.engine.model.constraints import time_array
from gridq.engine.model.problem import DispatchProblem


def objective_terms(model: Model, problem: DispatchProblem) -> dict[str, LinearExpression]:
    """Named terms, in GBP, signed as costs; their sum is minimised.

    They mirror :func:`gridq.engine.bill.bill` item by item, except the constant standing, DUoS
    fixed and capacity charges: ``import = sum(imp * (p_energy + p_duos)) * dt``,
    ``export = -sum(exp * p_exp) * dt``, ``triad = sum(w * (imp [- exp]))``,
    ``peaks = sum(rate * billed_or_peak)``, ``excess = sum(rate_m * excess_kva[m])``,
    ``flexibility = -sum(price * reduction) * dt``, ``degradation = c * sum(dis) * dt``, and
    for a rolling window ``terminal_value = -value * soc[T-1]``.
    """
    v = model.variables
    tariff = problem.tariff
    time = problem.time_index
    dt_h = problem.dt_h
    imp, exp = v[names.GRID_IMPORT_KW], v[names.GRID_EXPORT_KW]
    terms = {
        "import_gbp": (imp * time_array(tariff.import_price_gbp_per_kwh * dt_h, time)).sum(),
        "export_gbp": (exp * time_array(-tariff.export_price_gbp_per_kwh * dt_h, time)).sum(),
        "degradation_cost_gbp": (
            problem.battery.degradation_cost_gbp_per_kwh * dt_h * v[names.BATTERY_DISCHARGE_KW]
        ).sum(),
    }
    if tariff.triad_weight_per_kw.any():
        weight = time_array(tariff.triad_weight_per_kw, time)
        net = imp - exp if tariff.triad_credit_export else imp
        terms["triad_gbp"] = (net * weight).sum()
    for charge in (*tariff.demand_charges, *tariff.coincident_peaks):
        if not charge.period_names:
            continue
        billed_name = names.billed_variable(charge.name)
        billed = v[billed_name] if billed_name in v else v[names.peak_variable(charge.name)]
        terms[f"peak_{charge.name}_gbp"] = charge.rate_gbp_per_kw * billed.sum()
    if tariff.excess_month_names:
        excess = v[names.EXCESS_CAPACITY_KVA]
        terms["excess_capacity_gbp"] = (excess * tariff.excess_rate_gbp_per_kva).sum()
    if len(tariff.flex_steps):
        reduction = v[names.FLEX_REDUCTION_KW]
        steps = tariff.flex_steps
        terms["flexibility_gbp"] = (
            reduction * time_array(-tariff.flex_price_gbp_per_kwh[steps] * dt_h, time[steps])
        ).sum()
    if problem.terminal_value_gbp_per_kwh:
        last = v[names.BATTERY_SOC_KWH].sel({names.TIME: time[-1:]})
        terms["terminal_value_gbp"] = (-problem.terminal_value_gbp_per_kwh * last).sum()
    return terms


def add_objective(model: Model, problem: DispatchProblem) -> None:
    """Minimise the sum of :func:`objective_terms` [GBP]."""
    terms = list(objective_terms(model, problem).values())
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    model.add_objective(total)
