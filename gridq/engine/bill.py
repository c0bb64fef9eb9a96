"""The bill of any dispatch: one function for baselines and optimised schedules alike."""

import math
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.sums import exact_dot, exact_sum
from gridq.engine.tariff import CompiledTariff
from gridq.engine.timeseries import timestep_h

REVENUE_ITEMS = ("export_revenue_gbp", "flexibility_revenue_gbp")
CONSTANT_BILL_ITEMS = ("standing_charge_gbp", "duos_fixed_gbp", "capacity_charge_gbp")
"""Items no dispatch can change, so the LP's objective leaves them out."""


@dataclass(frozen=True)
class Bill:
    """Itemised cost of one dispatch [GBP]; costs are positive when money leaves the site.

    ``supplier_bill_gbp`` is every charge less the revenues (what the supplier and the
    flexibility buyer settle); ``total_cost_gbp`` adds the battery's wear.
    """

    energy_import_gbp: float
    duos_unit_gbp: float
    export_revenue_gbp: float
    standing_charge_gbp: float
    duos_fixed_gbp: float
    capacity_charge_gbp: float
    excess_capacity_gbp: float
    triad_gbp: float
    demand_charge_gbp: float
    coincident_peak_gbp: float
    flexibility_revenue_gbp: float
    degradation_cost_gbp: float
    billed_demand_kw: dict[str, float]

    @property
    def supplier_bill_gbp(self) -> float:
        """Charges less revenues, without the battery's wear [GBP]."""
        return math.fsum(
            -getattr(self, name) if name in REVENUE_ITEMS else getattr(self, name)
            for name in item_names()
            if name != "degradation_cost_gbp"
        )

    @property
    def total_cost_gbp(self) -> float:
        """Supplier bill plus battery wear [GBP]."""
        return self.supplier_bill_gbp + self.degradation_cost_gbp

    def as_dict(self) -> dict[str, object]:
        """Items, subtotals and billed demands, for metrics.json."""
        items: dict[str, object] = {item.name: getattr(self, item.name) for item in fields(self)}
        return items | {
            "supplier_bill_gbp": self.supplier_bill_gbp,
            "total_cost_gbp": self.total_cost_gbp,
        }


def item_names() -> list[str]:
    """The money items of a :class:`Bill`, in order."""
    return [item.name for item in fields(Bill) if item.name != "billed_demand_kw"]


def shown_bill_items(bills: list[dict[str, object]]) -> list[str]:
    """Bill items worth a row: those non-zero in any of ``bills``, then the two totals."""
    return [item for item in item_names() if any(b[item] != 0 for b in bills)] + [
        "supplier_bill_gbp",
        "total_cost_gbp",
    ]


def bill(
    dispatch: pd.DataFrame, tariff: CompiledTariff, degradation_cost_gbp_per_kwh: float
) -> Bill:
    """Price ``dispatch`` (a table with ``conventions.FLOW_COLUMNS`` on a UTC index).

    Energy items are ``sum(power_kw * price_gbp_per_kwh) * dt_h``; each demand or coincident
    peak period pays its rate on its billing demand; the other items follow
    :mod:`gridq.engine.tariff`; wear is ``degradation_cost_gbp_per_kwh`` per kWh discharged.
    """
    dt_h = timestep_h(pd.DatetimeIndex(dispatch.index))
    grid_import_kw = dispatch[col.GRID_IMPORT_KW].to_numpy(dtype=np.float64)
    grid_export_kw = dispatch[col.GRID_EXPORT_KW].to_numpy(dtype=np.float64)
    discharge_kw = dispatch[col.BATTERY_DISCHARGE_KW].to_numpy(dtype=np.float64)
    billed_demand_kw: dict[str, float] = {}
    peak_costs = {}
    for family, charges in (
        ("demand", tariff.demand_charges),
        ("coincident", tariff.coincident_peaks),
    ):
        cost = 0.0
        for charge in charges:
            billed = charge.billed_kw(charge.peaks_kw(grid_import_kw))
            billed_demand_kw |= dict(zip(charge.period_names, map(float, billed), strict=True))
            cost += charge.rate_gbp_per_kw * exact_sum(billed)
        peak_costs[family] = cost
    excess_kva = np.maximum(tariff.monthly_peak_kva(grid_import_kw) - tariff.agreed_kva, 0.0)
    triad_kw = grid_import_kw - (grid_export_kw if tariff.triad_credit_export else 0.0)
    reduction_kw = np.maximum(tariff.flex_baseline_kw - grid_import_kw, 0.0)
    return Bill(
        energy_import_gbp=exact_dot(grid_import_kw, tariff.energy_price_gbp_per_kwh) * dt_h,
        duos_unit_gbp=exact_dot(grid_import_kw, tariff.duos_unit_price_gbp_per_kwh) * dt_h,
        export_revenue_gbp=exact_dot(grid_export_kw, tariff.export_price_gbp_per_kwh) * dt_h,
        standing_charge_gbp=tariff.standing_charge_gbp,
        duos_fixed_gbp=tariff.duos_fixed_gbp,
        capacity_charge_gbp=tariff.capacity_charge_gbp,
        excess_capacity_gbp=exact_dot(excess_kva, tariff.excess_rate_gbp_per_kva),
        triad_gbp=exact_dot(triad_kw, tariff.triad_weight_per_kw),
        demand_charge_gbp=peak_costs["demand"],
        coincident_peak_gbp=peak_costs["coincident"],
        flexibility_revenue_gbp=exact_dot(reduction_kw, tariff.flex_price_gbp_per_kwh) * dt_h,
        degradation_cost_gbp=degradation_cost_gbp_per_kwh * exact_sum(discharge_kw) * dt_h,
        billed_demand_kw=billed_demand_kw,
    )
