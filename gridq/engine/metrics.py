"""What a dispatch saves against its baselines, and how it used the battery."""

from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.bill import Bill, bill
from gridq.engine.checks import check_dispatch
from gridq.engine.sums import exact_sum
from gridq.engine.tariff import CompiledTariff
from gridq.engine.timeseries import timestep_h
from gridq.schemas import Battery


def monthly_peak_import_kw(dispatch: pd.DataFrame, local_timezone: str) -> dict[str, float]:
    """Highest ``grid_import_kw`` per calendar month of the tariff's clock [kW]."""
    local_month = pd.DatetimeIndex(dispatch.index).tz_convert(local_timezone).strftime("%Y-%m")
    peaks = dispatch[col.GRID_IMPORT_KW].groupby(local_month).max()
    return {str(month): float(peak) for month, peak in peaks.items()}


def battery_usage(dispatch: pd.DataFrame, battery: Battery) -> dict[str, float]:
    """Throughput [kWh] and equivalent full cycles (kWh discharged / capacity; 0 without one)."""
    dt_h = timestep_h(pd.DatetimeIndex(dispatch.index))
    charged_kwh = exact_sum(dispatch[col.BATTERY_CHARGE_KW].to_numpy()) * dt_h
    discharged_kwh = exact_sum(dispatch[col.BATTERY_DISCHARGE_KW].to_numpy()) * dt_h
    return {
        "charged_kwh": charged_kwh,
        "discharged_kwh": discharged_kwh,
        "equivalent_full_cycles": (
            discharged_kwh / battery.capacity_kwh if battery.capacity_kwh > 0 else 0.0
        ),
    }


def self_consumption_frac(dispatch: pd.DataFrame) -> float | None:
    """Share of PV generation used on site, directly or through the battery, in [0, 1].

    Per step, PV that is not curtailed is exported first: ``pv_exported = min(export, pv -
    curtail)``, so export of stored energy is never counted against PV. The share is
    ``sum(pv - curtail - pv_exported) / sum(pv)``; None without PV.
    """
    pv_kw = dispatch[col.PV_KW].to_numpy(dtype=np.float64)
    pv_kwh = exact_sum(pv_kw)
    if pv_kwh <= 0:
        return None
    pv_used_kw = np.clip(pv_kw - dispatch[col.PV_CURTAIL_KW].to_numpy(), 0.0, pv_kw)
    pv_exported_kw = np.minimum(dispatch[col.GRID_EXPORT_KW].to_numpy(), pv_used_kw)
    return exact_sum(pv_used_kw - pv_exported_kw) / pv_kwh


def self_sufficiency_frac(dispatch: pd.DataFrame) -> float | None:
    """Share of the load met on site (PV or battery) rather than by import, in [0, 1].

    Per step, import meets the load first: ``load_from_grid = min(import, load)``. The share is
    ``1 - sum(load_from_grid) / sum(load)``; None without load.
    """
    load_kw = dispatch[col.LOAD_KW].to_numpy(dtype=np.float64)
    load_kwh = exact_sum(load_kw)
    if load_kwh <= 0:
        return None
    from_grid_kw = np.minimum(dispatch[col.GRID_IMPORT_KW].to_numpy(), load_kw)
    return 1.0 - exact_sum(from_grid_kw) / load_kwh


def _describe(dispatch: pd.DataFrame, its_bill: Bill, battery: Battery, zone: str) -> dict:
    return {
        "bill": its_bill.as_dict(),
        "monthly_peak_import_kw": monthly_peak_import_kw(dispatch, zone),
        "battery": battery_usage(dispatch, battery),
        "self_consumption_frac": self_consumption_frac(dispatch),
        "self_sufficiency_frac": self_sufficiency_frac(dispatch),
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
