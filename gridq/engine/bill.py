"""The bill of any dispatch: one function for baselines and optimised schedules alike."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.tariff import CompiledTariff
from gridq.engine.timeseries import timestep_h


@dataclass(frozen=True)
class Bill:
    """Itemised cost of one dispatch [GBP]; costs are positive when money leaves the site.

    ``total_cost_gbp = import_cost_gbp - export_revenue_gbp + demand_charge_gbp
    + standing_charge_gbp + degradation_cost_gbp``. ``supplier_bill_gbp`` is the same without
    the battery's wear, i.e. what the supplier invoices.
    """

    import_cost_gbp: float
    export_revenue_gbp: float
    demand_charge_gbp: float
    standing_charge_gbp: float
    degradation_cost_gbp: float
    demand_peaks_kw: dict[str, float]

    @property
    def supplier_bill_gbp(self) -> float:
        """What the supplier invoices [GBP]."""
        return (
            self.import_cost_gbp
            - self.export_revenue_gbp
            + self.demand_charge_gbp
            + self.standing_charge_gbp
        )

    @property
    def total_cost_gbp(self) -> float:
        """Supplier bill plus battery wear [GBP]."""
        return self.supplier_bill_gbp + self.degradation_cost_gbp

    def as_dict(self) -> dict[str, object]:
        """Items, subtotals and peaks, for metrics.json."""
        return {
            "import_cost_gbp": self.import_cost_gbp,
            "export_revenue_gbp": self.export_revenue_gbp,
            "demand_charge_gbp": self.demand_charge_gbp,
            "standing_charge_gbp": self.standing_charge_gbp,
            "supplier_bill_gbp": self.supplier_bill_gbp,
            "degradation_cost_gbp": self.degradation_cost_gbp,
            "total_cost_gbp": self.total_cost_gbp,
            "demand_peaks_kw": self.demand_peaks_kw,
        }


def bill(
    dispatch: pd.DataFrame, tariff: CompiledTariff, degradation_cost_gbp_per_kwh: float
) -> Bill:
    """Price ``dispatch`` (a table with ``conventions.FLOW_COLUMNS`` on a UTC index).

    Energy items are ``sum(power_kw * price_gbp_per_kwh) * dt_h``; each demand period pays its
    rate on the period's highest ``grid_import_kw``; wear is ``degradation_cost_gbp_per_kwh``
    per kWh discharged.
    """
    dt_h = timestep_h(pd.DatetimeIndex(dispatch.index))
    grid_import_kw = dispatch[col.GRID_IMPORT_KW].to_numpy(dtype=np.float64)
    grid_export_kw = dispatch[col.GRID_EXPORT_KW].to_numpy(dtype=np.float64)
    discharge_kw = dispatch[col.BATTERY_DISCHARGE_KW].to_numpy(dtype=np.float64)
    peaks_kw = tariff.demand_peaks_kw(grid_import_kw)
    return Bill(
        import_cost_gbp=float(grid_import_kw @ tariff.import_price_gbp_per_kwh) * dt_h,
        export_revenue_gbp=float(grid_export_kw @ tariff.export_price_gbp_per_kwh) * dt_h,
        demand_charge_gbp=float(peaks_kw @ tariff.demand_period_rate_gbp_per_kw),
        standing_charge_gbp=tariff.standing_charge_gbp,
        degradation_cost_gbp=degradation_cost_gbp_per_kwh * float(discharge_kw.sum()) * dt_h,
        demand_peaks_kw={
            name: float(peak)
            for name, peak in zip(tariff.demand_period_names, peaks_kw, strict=True)
        },
    )
