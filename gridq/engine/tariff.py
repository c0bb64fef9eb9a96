"""Compile a :class:`~gridq.schemas.Tariff` and a timeseries into per-step arrays.

Energy prices come per step from the timeseries. Demand charges become *demand periods*: one per
charge and calendar month (local clock), each a set of steps whose highest import is billed at
the charge's rate. A run covering part of a month pays the full monthly rate on that part's peak.
The standing charge accrues per day of run length.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridq.conventions import EXPORT_PRICE, IMPORT_PRICE
from gridq.engine.timeseries import timestep_h
from gridq.schemas import DemandCharge, Tariff


@dataclass(frozen=True)
class CompiledTariff:
    """Per-step prices and demand-period membership for one run.

    Attributes
    ----------
    import_price_gbp_per_kwh, export_price_gbp_per_kwh
        Per step [GBP/kWh]; export price is paid to the site.
    standing_charge_gbp
        Whole run [GBP].
    demand_period_names
        ``"<charge>:<YYYY-MM>"`` per period.
    demand_period_rate_gbp_per_kw
        Per period [GBP/kW].
    demand_period_of_step
        One row per demand charge: the period each step belongs to, or -1 outside the charge's
        window.
    """

    import_price_gbp_per_kwh: np.ndarray
    export_price_gbp_per_kwh: np.ndarray
    standing_charge_gbp: float
    demand_period_names: tuple[str, ...]
    demand_period_rate_gbp_per_kw: np.ndarray
    demand_period_of_step: np.ndarray

    def demand_peaks_kw(self, grid_import_kw: np.ndarray) -> np.ndarray:
        """Highest import in each demand period [kW]."""
        peaks_kw = np.zeros(len(self.demand_period_names))
        for period_of_step in self.demand_period_of_step:
            in_window = period_of_step >= 0
            np.maximum.at(peaks_kw, period_of_step[in_window], grid_import_kw[in_window])
        return peaks_kw


def _in_window(local: pd.DatetimeIndex, charge: DemandCharge) -> np.ndarray:
    mask = np.ones(len(local), dtype=bool)
    if charge.weekdays_only:
        mask &= local.day_of_week < 5
    if charge.window_start_local is not None and charge.window_end_local is not None:
        minute_of_day = local.hour * 60 + local.minute
        start = charge.window_start_local.hour * 60 + charge.window_start_local.minute
        end = charge.window_end_local.hour * 60 + charge.window_end_local.minute
        mask &= (minute_of_day >= start) & (minute_of_day < end)
    return mask


def compile_tariff(tariff: Tariff, timeseries: pd.DataFrame) -> CompiledTariff:
    """Turn ``tariff`` and a checked timeseries into the arrays the LP and the bill share."""
    index = pd.DatetimeIndex(timeseries.index)
    local = index.tz_convert(tariff.local_timezone)
    month_labels = local.strftime("%Y-%m")
    names: list[str] = []
    rates: list[float] = []
    period_of_step = np.full((len(tariff.demand_charges), len(index)), -1, dtype=np.int64)
    for row, charge in enumerate(tariff.demand_charges):
        in_window = _in_window(local, charge)
        for month in pd.unique(month_labels[in_window]):
            period_of_step[row, in_window & (month_labels == month)] = len(names)
            names.append(f"{charge.name}:{month}")
            rates.append(charge.rate_gbp_per_kw)
    run_days = len(index) * timestep_h(index) / 24.0
    return CompiledTariff(
        import_price_gbp_per_kwh=timeseries[IMPORT_PRICE].to_numpy(dtype=np.float64),
        export_price_gbp_per_kwh=timeseries[EXPORT_PRICE].to_numpy(dtype=np.float64),
        standing_charge_gbp=tariff.standing_charge_gbp_per_day * run_days,
        demand_period_names=tuple(names),
        demand_period_rate_gbp_per_kw=np.asarray(rates, dtype=np.float64),
        demand_period_of_step=period_of_step,
    )
