"""Project finance on yearly cash flows; year 0 is the investment, flows fall at year ends."""

from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq

from gridq.engine import elementwise
from gridq.engine.sums import exact_dot

IRR_BRACKET = (-0.99, 10.0)


def discount_factors(rate_frac: float, years: int) -> np.ndarray:
    """``1 / (1 + r)^t`` for ``t = 0 .. years - 1``."""
    return 1.0 / elementwise.powers(1.0 + rate_frac, np.arange(years))


def npv(rate_frac: float, cash_flows_gbp: Sequence[float]) -> float:
    """Net present value: ``sum_t CF_t / (1 + r)^t`` [GBP]."""
    flows = np.asarray(cash_flows_gbp, dtype=float)
    return exact_dot(flows, discount_factors(rate_frac, len(flows)))


def irr(cash_flows_gbp: Sequence[float]) -> float | None:
    """The rate at which NPV is zero, within -99%..1000%; None where NPV does not change sign."""
    low, high = IRR_BRACKET
    at_low, at_high = npv(low, cash_flows_gbp), npv(high, cash_flows_gbp)
    if at_low == 0.0:
        return low
    if at_low * at_high > 0:
        return None
    return float(brentq(lambda rate: npv(rate, cash_flows_gbp), low, high, xtol=1e-12))


def payback_years(cash_flows_gbp: Sequence[float]) -> float | None:
    """Years until the cumulative cash flow turns non-negative, interpolated within the year.

    None if it never does within the flows given.
    """
    flows = np.asarray(cash_flows_gbp, dtype=float)
    cumulative = np.cumsum(flows)
    if cumulative[0] >= 0:
        return 0.0
    for year in range(1, len(flows)):
        if cumulative[year] >= 0:
            return float(year - 1 + (-cumulative[year - 1]) / flows[year])
    return None


def discounted_payback_years(rate_frac: float, cash_flows_gbp: Sequence[float]) -> float | None:
    """:func:`payback_years` of the discounted cash flows."""
    flows = np.asarray(cash_flows_gbp, dtype=float)
    return payback_years(flows * discount_factors(rate_frac, len(flows)))


def levelised_cost_gbp_per_kwh(
    rate_frac: float, costs_gbp: Sequence[float], discharged_kwh: Sequence[float]
) -> float | None:
    """Levelised cost of storage: ``sum_t C_t / (1+r)^t`` over ``sum_t E_t / (1+r)^t``.

    ``costs_gbp`` are capex (year 0), opex and replacements; ``discharged_kwh`` the energy the
    battery delivered each year (0 in year 0). None when it never discharges.
    """
    factors = discount_factors(rate_frac, len(costs_gbp))
    energy = exact_dot(np.asarray(discharged_kwh, dtype=float), factors)
    if energy <= 0:
        return None
    return exact_dot(np.asarray(costs_gbp, dtype=float), factors) / energy
