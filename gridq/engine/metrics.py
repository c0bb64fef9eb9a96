"""What a dispatch saves against its baselines, and how it used the battery."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.bill import Bill, bill
from gridq.engine.checks import check_dispatch
from gridq.engine.model.problem import DispatchProblem
from gridq.engine.sums import exact_sum
from gridq.engine.timeseries import month_labels, timestep_h
from gridq.schemas import Battery


def monthly_peak_import_kw(dispatch: pd.DataFrame, local_timezone: str) -> dict[str, float]:
    """Highest ``grid_import_kw`` per calendar month of the tariff's clock [kW]."""
    local_month = month_labels(pd.DatetimeIndex(dispatch.index).tz_convert(local_timezone))
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


@dataclass(frozen=True)
class Summary:
    """One dispatch priced and checked: its bill, physics checks and use of the battery.

    Computed once per dispatch (:func:`summarise`); solve_stats.json, metrics.json and the
    runners read it.
    """

    bill: Bill
    checks: dict[str, float | int]
    monthly_peak_import_kw: dict[str, float]
    battery: dict[str, float]
    self_consumption_frac: float | None
    self_sufficiency_frac: float | None

    def as_dict(self) -> dict[str, Any]:
        """The dispatch's block of metrics.json."""
        return {
            "bill": self.bill.as_dict(),
            "monthly_peak_import_kw": self.monthly_peak_import_kw,
            "battery": self.battery,
            "self_consumption_frac": self.self_consumption_frac,
            "self_sufficiency_frac": self.self_sufficiency_frac,
            "checks": self.checks,
        }


def summarise(dispatch: pd.DataFrame, problem: DispatchProblem) -> Summary:
    """Price ``dispatch`` under ``problem``'s tariff and check it against its battery."""
    battery = problem.battery
    return Summary(
        bill=bill(dispatch, problem.tariff, battery.degradation_cost_gbp_per_kwh),
        checks=check_dispatch(dispatch, battery),
        monthly_peak_import_kw=monthly_peak_import_kw(dispatch, problem.tariff.local_timezone),
        battery=battery_usage(dispatch, battery),
        self_consumption_frac=self_consumption_frac(dispatch),
        self_sufficiency_frac=self_sufficiency_frac(dispatch),
    )


def _savings(reference: Bill, optimised: Bill) -> dict[str, float | None]:
    saved_gbp = reference.total_cost_gbp - optimised.total_cost_gbp
    base = reference.total_cost_gbp
    return {
        "savings_gbp": saved_gbp,
        "savings_pct": None if np.isclose(base, 0.0) else 100.0 * saved_gbp / abs(base),
    }


def compute_metrics(
    optimised: Summary, baselines: dict[str, Summary], headline_baseline: str
) -> dict[str, Any]:
    """Build metrics.json: each dispatch described, and what the optimised one saves.

    ``savings_gbp``/``savings_pct`` at the top are against ``headline_baseline``; each baseline
    also carries the savings against itself.
    """
    headline = _savings(baselines[headline_baseline].bill, optimised.bill)
    return {
        "baseline": headline_baseline,
        **headline,
        "optimised": optimised.as_dict(),
        "baselines": {
            name: summary.as_dict()
            | {"savings_of_optimised": _savings(summary.bill, optimised.bill)}
            for name, summary in baselines.items()
        },
    }
