"""Achievable value on sites nobody tuned to: seeded random sites of each archetype.

``gridq value --random N --seed S`` draws, for each archetype, N sites from ``S`` alone: a new
series seed, a start day anywhere in 2025, the battery (and PV array) scaled by 0.5-1.5. Each
site runs each window length after one week of history (what ``learned`` and
``persistence_week`` need), once per forecast, through the same rolling runner as ``gridq
backtest --mode rolling``, and is scored on the share of the perfect-foresight savings it keeps
and on how far its bill lies above the prescient bill over the same steps.
"""

import time
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from gridq.engine.forecast import make_provider
from gridq.engine.run import backtest_rolling
from gridq.engine.synth import SyntheticSeries, make_timeseries
from gridq.schemas import RunConfig, Site

HISTORY_DAYS = 7
"""Days drawn before each window: the history the learned and weekly forecasts start from."""
SIZE_SCALE = (0.5, 1.5)
"""Battery capacity and power (and a PV array) are the archetype's times a factor in this range."""


@dataclass(frozen=True)
class Archetype:
    """A kind of site: an example of params.yaml, and the PV array it gets if it has none."""

    name: str
    example: str
    pv_peak_kw: float | None = None
    """None keeps the example's array; a value gives the site this array (before scaling)."""


ARCHETYPES = (
    Archetype("commercial_demand_charge", "commercial_demand_charge"),
    Archetype("uk_business_duos", "uk_business_duos"),
    Archetype("home_pv_tou", "pv_battery_tou"),
    Archetype("export_limited_pv", "export_limited_pv"),
    Archetype("pv_demand_charge", "commercial_demand_charge", pv_peak_kw=150.0),
)
"""The last is no example: the commercial demand-charge site with a 150 kWp array."""


@dataclass(frozen=True)
class DrawnSite:
    """One random site of an archetype: its configs and its series."""

    archetype: str
    index: int
    site: Site
    run_config: RunConfig
    series: SyntheticSeries


ModelT = TypeVar("ModelT", bound=BaseModel)


def _validated(model: ModelT, **update: Any) -> ModelT:
    """``model`` with ``update`` applied and validated again (``model_copy`` would not)."""
    return type(model).model_validate(dict(model) | update)


def draw_sites(
    archetype: Archetype,
    site: Site,
    run_config: RunConfig,
    series: SyntheticSeries,
    count: int,
    seed: int,
    window_days: int,
) -> list[DrawnSite]:
    """``count`` sites of ``archetype`` (its example's configs given), drawn from ``seed`` alone."""
    rng = np.random.default_rng([seed, sum(map(ord, archetype.name)), window_days])
    drawn = []
    for index in range(count):
        scale = float(rng.uniform(*SIZE_SCALE))
        start_day = int(rng.integers(0, 365))
        battery = _validated(
            site.battery,
            capacity_kwh=site.battery.capacity_kwh * scale,
            charge_power_max_kw=site.battery.charge_power_max_kw * scale,
            discharge_power_max_kw=site.battery.discharge_power_max_kw * scale,
        )
        pv_peak_kw = (
            archetype.pv_peak_kw if archetype.pv_peak_kw is not None else series.pv_peak_kw
        ) * float(rng.uniform(*SIZE_SCALE))
        drawn_series = _validated(
            series,
            seed=int(rng.integers(1_000_000, 2**31 - 1)),
            start_utc=pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=start_day),
            days=window_days + HISTORY_DAYS,
            pv_peak_kw=pv_peak_kw,
        )
        drawn_site = _validated(
            site, name=f"{archetype.name}-{index + 1}", battery=battery, pv_peak_kw=pv_peak_kw
        )
        drawn.append(DrawnSite(archetype.name, index, drawn_site, run_config, drawn_series))
    return drawn


def drawn_inputs(drawn: DrawnSite, forecast: str) -> tuple[RunConfig, pd.DataFrame]:
    """One drawn site's run config, operated with ``forecast``, and its timeseries."""
    run_config = drawn.run_config.model_copy(
        update={"rolling": drawn.run_config.rolling.model_copy(update={"forecast": forecast})}
    )
    timeseries = make_timeseries(
        drawn.series,
        drawn.site,
        run_config.timestep_min,
        run_config.tariff.local_timezone,
        run_config.tariff.bank_holidays,
    )
    return run_config, timeseries


def run_site(drawn: DrawnSite, forecast: str) -> dict[str, Any]:
    """One drawn site's rolling run with ``forecast``: its captured share and bill excess."""
    run_config, timeseries = drawn_inputs(drawn, forecast)
    started = time.perf_counter()
    provider = make_provider(forecast, timeseries, drawn.site, run_config)
    metrics = backtest_rolling(drawn.site, run_config, timeseries, provider).metrics
    rolling_bill_gbp = metrics["optimised"]["bill"]["total_cost_gbp"]
    prescient_bill_gbp = rolling_bill_gbp - metrics["forecast_gap_gbp"]
    return {
        "archetype": drawn.archetype,
        "site": drawn.site.name,
        "seed": drawn.series.seed,
        "start": f"{drawn.series.start_utc:%Y-%m-%d}",
        "days": drawn.series.days - HISTORY_DAYS,
        "forecast": forecast,
        "captured_frac": metrics["captured_frac"],
        "bill_excess_frac": (
            metrics["forecast_gap_gbp"] / prescient_bill_gbp if prescient_bill_gbp > 0 else None
        ),
        "wall_s": time.perf_counter() - started,
    }


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per archetype, window length and forecast: mean, min and max captured share and excess."""
    table = pd.DataFrame(rows)
    summary = []
    for (archetype, days, forecast), group in table.groupby(
        ["archetype", "days", "forecast"], sort=False
    ):
        captured = group["captured_frac"].dropna().to_numpy(dtype=float)
        excess = group["bill_excess_frac"].dropna().to_numpy(dtype=float)
        summary.append(
            {
                "archetype": archetype,
                "days": int(days),
                "forecast": forecast,
                "sites": len(group),
                "captured_mean": float(captured.mean()) if len(captured) else None,
                "captured_min": float(captured.min()) if len(captured) else None,
                "captured_max": float(captured.max()) if len(captured) else None,
                "excess_mean": float(excess.mean()) if len(excess) else None,
                "excess_max": float(excess.max()) if len(excess) else None,
                "wall_s": float(group["wall_s"].sum()),
            }
        )
    return summary


def evaluate(
    archetypes: list[tuple[Archetype, Any]],
    count: int,
    seed: int,
    window_days: list[int],
    forecasts: list[str],
) -> list[dict[str, Any]]:
    """Every archetype (with its example bundle) x window x forecast over ``count`` drawn sites.

    Returns the :func:`summarise` rows.
    """
    summary = []
    for archetype, example in archetypes:
        for days in window_days:
            sites = draw_sites(
                archetype, example.site, example.run_config, example.series, count, seed, days
            )
            rows = [run_site(site, forecast) for site in sites for forecast in forecasts]
            summary += summarise(rows)
    return summary
