"""What a dispatch saves against its baselines, and how it used the battery."""

from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.bill import Bill, bill
from gridq.engine.checks import check_dispatch
from gridq.engine.tariff import CompiledTariff
from gridq.engine.timeseries import timestep_h
from gridq.schemas import Battery


def monthly_peak_import_kw(dispatch: pd.DataFrame, local_timezone: str) -> dict[str, float]:
    """Highest ``grid_import_kw`` per calendar month of the tariff's clock [kW]."""
    local_month = pd.DatetimeIndex(dispatch.index).tz_convert(local_timezone).strftime("%Y-%m")
    peaks = dispatch[col.GRID_IMPORT_KW].groupby(local_month).max()
    return {str(month): float(peak) for month, peak in peaks.items()}


def battery_usage(dispatch: pd.DataFrame, battery: Battery) -> dict[str, float]:
    """Throughput [kWh] and equivalent full cycles (kWh discharged / capacity)."""
    dt_h = timestep_h(pd.DatetimeIndex(dispatch.index))
    charged_kwh = float(dispatch[col.BATTERY_CHARGE_KW].sum()) * dt_h
    discharged_kwh = float(dispatch[col.BATTERY_DISCHARGE_KW].sum()) * dt_h
    return {
        "charged_kwh": charged_kwh,
        "discharged_kwh": discharged_kwh,
        "equivalent_full_cycles": (
            discharged_kwh / battery.capacity_kwh if battery.capacity_kwh > 0 else 0.0
        ),
    }


def self_consumption_frac(dispatch: pd.DataFrame) -> float | None:
    """Share of PV generation used on site, ``(pv - export - curtail) / pv``; None without PV."""
    pv_kwh = float(dispatch[col.PV_KW].sum())
    if pv_kwh <= 0:
        return None
    sent_away = float(dispatch[col.GRID_EXPORT_KW].sum() + dispatch[col.PV_CURTAIL_KW].sum())
    return (pv_kwh - sent_away) / pv_kwh


def _describe(dispatch: pd.DataFrame, its_bill: Bill, battery: Battery, zone: str) -> dict:
    return {
        "bill": its_bill.as_dict(),
        "monthly_peak_import_kw": monthly_peak_import_kw(dispatch, zone),
        "battery": battery_usage(dispatch, battery),
        "self_consumption_frac": self_consumption_frac(dispatch),
        "checks": check_dispatch(dispatch, battery),
    }


def _savings(reference: Bill, optimised: Bill) -> dict[str, float | None]:
    saved_gbp = reference.total_cost_gbp - optimised.total_cost_gbp
    base = reference.total_cost_gbp
    return {
        "savings_gbp": saved_gbp,
        "savings_pct": None if np.isclose(base, 0.0) else 100.0 * saved_gbp / abs(base),
    }


def compute_metrics(
    optimised: pd.DataFrame,
    baselines: dict[str, pd.DataFrame],
    headline_baseline: str,
    tariff: CompiledTariff,
    battery: Battery,
    local_timezone: str,
) -> dict[str, Any]:
    """Build metrics.json: each dispatch described, and what the optimised one saves.

    ``savings_gbp``/``savings_pct`` at the top are against ``headline_baseline``; each baseline
    also carries the savings against itself.
    """
    cost_per_kwh = battery.degradation_cost_gbp_per_kwh
    bills = {name: bill(frame, tariff, cost_per_kwh) for name, frame in baselines.items()}
    optimised_bill = bill(optimised, tariff, cost_per_kwh)
    headline = _savings(bills[headline_baseline], optimised_bill)
    return {
        "baseline": headline_baseline,
        **headline,
        "optimised": _describe(optimised, optimised_bill, battery, local_timezone),
        "baselines": {
            name: _describe(frame, bills[name], battery, local_timezone)
            | {"savings_of_optimised": _savings(bills[name], optimised_bill)}
            for name, frame in baselines.items()
        },
    }
