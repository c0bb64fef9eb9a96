"""The objective as named GBP terms; a cost is positive when money leaves the site."""

from gridq.engine.model import names
from gridq.engine.model.lp import LinearProgram
from gridq.engine.model.problem import DispatchProblem


def add_objective(lp: LinearProgram, problem: DispatchProblem) -> None:
    """Named terms, in GBP, signed as costs; their sum is minimised.

    They mirror :func:`gridq.engine.bill.bill` item by item, except the constant standing, DUoS
    fixed and capacity charges: ``import = sum(imp * (p_energy + p_duos)) * dt``,
    ``export = -sum(exp * p_exp) * dt``, ``triad = sum(w * (imp [- exp]))``,
    ``peaks = sum(rate * billed_or_peak)``, ``excess = sum(rate_m * excess_kva[m])``,
    ``flexibility = -sum(price * reduction) * dt``, ``degradation = c * sum(dis) * dt``, and
    for a rolling window ``terminal_value = -value * soc[T-1]``; an operated plan adds
    ``ratchet_ahead = rate * months * ahead[p]``, the ratchet its peaks bill after the horizon.
    """
    c = lp.columns
    tariff = problem.tariff
    dt_h = problem.dt_h
    imp, exp = c(names.GRID_IMPORT_KW), c(names.GRID_EXPORT_KW)
    lp.add_cost("import_gbp", imp, tariff.import_price_gbp_per_kwh * dt_h)
    lp.add_cost("export_gbp", exp, -tariff.export_price_gbp_per_kwh * dt_h)
    lp.add_cost(
        "degradation_cost_gbp",
        c(names.BATTERY_DISCHARGE_KW),
        problem.battery.degradation_cost_gbp_per_kwh * dt_h,
    )
    if tariff.triad_weight_per_kw.any():
        lp.add_cost("triad_gbp", imp, tariff.triad_weight_per_kw)
        if tariff.triad_credit_export:
            lp.add_cost("triad_gbp", exp, -tariff.triad_weight_per_kw)
    for charge in (*tariff.demand_charges, *tariff.coincident_peaks):
        if not charge.period_names:
            continue
        billed_name = names.billed_variable(charge.name)
        billed = billed_name if billed_name in lp.variables else names.peak_variable(charge.name)
        lp.add_cost(f"peak_{charge.name}_gbp", c(billed), charge.rate_gbp_per_kw)
        if names.ratchet_ahead(charge.name) in lp.variables:
            lp.add_cost(
                f"ratchet_ahead_{charge.name}_gbp",
                c(names.ratchet_ahead(charge.name)),
                charge.rate_gbp_per_kw * charge.ratchet_months,
            )
    if tariff.excess_month_names:
        lp.add_cost(
            "excess_capacity_gbp", c(names.EXCESS_CAPACITY_KVA), tariff.excess_rate_gbp_per_kva
        )
    if len(tariff.flex_steps):
        lp.add_cost(
            "flexibility_gbp",
            c(names.FLEX_REDUCTION_KW),
            -tariff.flex_price_gbp_per_kwh[tariff.flex_steps] * dt_h,
        )
    if problem.terminal_value_gbp_per_kwh:
        lp.add_cost(
            "terminal_value_gbp",
            c(names.BATTERY_SOC_KWH)[-1:],
            -problem.terminal_value_gbp_per_kwh,
        )
