"""Deterministic synthetic sites: load, PV and prices from a seed.

Load has daily, weekly and seasonal cycles on the local clock plus seeded noise; PV is pvlib's
clear-sky irradiance on a tilted plane at the site, dimmed by seeded cloudy spells; prices follow
each example's tariff bands on the local clock. Equal arguments give equal frames.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib

from gridq import conventions as col
from gridq.schemas import Battery, DemandCharge, GridConnection, RunConfig, Site, Tariff

LOCAL_TIMEZONE = col.DEFAULT_LOCAL_TIMEZONE
_PV_SYSTEM_LOSS_FRAC = 0.14


@dataclass(frozen=True)
class Example:
    """An example bundle: its configs, its default window and how to draw its series."""

    site: Site
    run_config: RunConfig
    start_utc: str
    days: int
    pv_peak_kw: float
    load_kw: Callable[[pd.DatetimeIndex, np.random.Generator], np.ndarray]
    prices_gbp_per_kwh: Callable[[pd.DatetimeIndex], tuple[np.ndarray, np.ndarray]]


def _hour(local: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(local.hour + local.minute / 60.0, dtype=np.float64)


def _seasonal(local: pd.DatetimeIndex) -> np.ndarray:
    """1 in midwinter, -1 in midsummer."""
    return np.cos(2 * np.pi * (np.asarray(local.day_of_year, dtype=np.float64) - 15) / 365.25)


def _bump(hour: np.ndarray, centre_h: float, width_h: float) -> np.ndarray:
    return np.exp(-0.5 * ((hour - centre_h) / width_h) ** 2)


def _ar_noise(rng: np.random.Generator, n: int, sigma: float, memory: float = 0.9) -> np.ndarray:
    shocks = rng.normal(0.0, sigma * np.sqrt(1 - memory**2), n)
    noise = np.empty(n)
    level = 0.0
    for step in range(n):  # an AR(1) recursion: each value needs the last
        level = memory * level + shocks[step]
        noise[step] = level
    return noise


def home_load_kw(local: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """A household: overnight base, morning and evening peaks, more in winter and at weekends."""
    hour = _hour(local)
    weekend = np.asarray(local.day_of_week >= 5)
    morning = np.where(weekend, _bump(hour, 9.5, 1.5), _bump(hour, 7.5, 1.0))
    midday = np.where(weekend, 0.5 * _bump(hour, 13.0, 2.5), 0.1 * _bump(hour, 13.0, 2.0))
    shape = 0.30 + 0.8 * morning + midday + 1.6 * _bump(hour, 18.5, 1.8)
    level = shape * (1.0 + 0.25 * _seasonal(local))
    return np.maximum(level * (1.0 + _ar_noise(rng, len(local), 0.15)), 0.05)


def commercial_load_kw(local: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """An office and workshop: weekday occupancy, heating in winter, short machinery spikes."""
    hour = _hour(local)
    weekday = np.asarray(local.day_of_week < 5)
    occupied = weekday & (hour >= 7.5) & (hour < 18.5)
    level = 45.0 + 110.0 * occupied + 35.0 * occupied * np.maximum(_seasonal(local), 0.0)
    level = level * (1.0 + _ar_noise(rng, len(local), 0.06))
    spikes = occupied & (rng.random(len(local)) < 0.02)
    return np.maximum(level + spikes * rng.uniform(40.0, 110.0, len(local)), 5.0)


def small_business_load_kw(local: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """A farm shop: daytime trading every day, refrigeration around the clock."""
    hour = _hour(local)
    level = 8.0 + 18.0 * _bump(hour, 13.0, 3.5) + 6.0 * _bump(hour, 19.0, 1.5)
    return np.maximum(level * (1.0 + _ar_noise(rng, len(local), 0.1)), 1.0)


def pv_kw(
    site: Site, index: pd.DatetimeIndex, pv_peak_kw: float, rng: np.random.Generator
) -> np.ndarray:
    """Average PV output per step [kW] of a south-facing array tilted at 35 degrees."""
    if pv_peak_kw == 0:
        return np.zeros(len(index))
    step = index[1] - index[0]
    middle = index + step / 2
    location = pvlib.location.Location(site.latitude_deg, site.longitude_deg, tz="UTC")
    solar = location.get_solarposition(middle)
    # A numeric day of year keeps pvlib off a pandas accessor that pandas 3 deprecates.
    dni_extra = pvlib.irradiance.get_extra_radiation(np.asarray(middle.day_of_year))
    clear = location.get_clearsky(
        middle, model="ineichen", solar_position=solar, dni_extra=dni_extra, linke_turbidity=3.0
    )
    plane = pvlib.irradiance.get_total_irradiance(
        35.0,
        180.0,
        solar["apparent_zenith"],
        solar["azimuth"],
        clear["dni"],
        clear["ghi"],
        clear["dhi"],
    )
    poa_w_per_m2 = plane["poa_global"].fillna(0.0).to_numpy()
    day = np.asarray((index - index[0]) // pd.Timedelta(days=1))
    daily_clearness = np.clip(0.65 + _ar_noise(rng, day[-1] + 1, 0.3, memory=0.6), 0.1, 1.0)
    passing_clouds = np.clip(1.0 + _ar_noise(rng, len(index), 0.15, memory=0.8), 0.3, 1.0)
    clearness = np.clip(daily_clearness[day] * passing_clouds, 0.05, 1.0)
    return pv_peak_kw * poa_w_per_m2 / 1000.0 * (1 - _PV_SYSTEM_LOSS_FRAC) * clearness


def _home_tou_prices(local: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    hour = _hour(local)
    import_price = np.where(hour < 7, 0.09, np.where((hour >= 16) & (hour < 19), 0.36, 0.26))
    return import_price, np.full(len(local), 0.15)


def _commercial_prices(local: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    hour = _hour(local)
    import_price = np.where((hour >= 7) & (hour < 23), 0.24, 0.15)
    return import_price, np.zeros(len(local))


def _flat_prices(local: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    return np.full(len(local), 0.27), np.full(len(local), 0.06)


EXAMPLES: dict[str, Example] = {
    "pv_battery_tou": Example(
        site=Site(
            name="pv_battery_tou",
            latitude_deg=51.45,
            longitude_deg=-2.58,
            battery=Battery(
                capacity_kwh=13.5,
                charge_power_max_kw=5.0,
                discharge_power_max_kw=5.0,
                soc_min_frac=0.05,
                initial_soc_frac=0.05,
                degradation_cost_gbp_per_kwh=0.01,
            ),
            grid=GridConnection(import_limit_kw=23.0, export_limit_kw=3.68),
        ),
        run_config=RunConfig(tariff=Tariff(standing_charge_gbp_per_day=0.53)),
        start_utc="2025-03-17T00:00Z",
        days=28,
        pv_peak_kw=4.0,
        load_kw=home_load_kw,
        prices_gbp_per_kwh=_home_tou_prices,
    ),
    "commercial_demand_charge": Example(
        site=Site(
            name="commercial_demand_charge",
            latitude_deg=52.48,
            longitude_deg=-1.89,
            battery=Battery(
                capacity_kwh=500.0,
                charge_power_max_kw=250.0,
                discharge_power_max_kw=250.0,
                soc_min_frac=0.1,
                soc_max_frac=0.95,
                initial_soc_frac=0.5,
                degradation_cost_gbp_per_kwh=0.02,
            ),
            grid=GridConnection(import_limit_kw=500.0, export_limit_kw=0.0),
        ),
        run_config=RunConfig(
            tariff=Tariff(
                standing_charge_gbp_per_day=4.8,
                demand_charges=(DemandCharge(name="monthly_peak", rate_gbp_per_kw=12.0),),
            ),
            baseline="no_battery",
        ),
        start_utc="2025-01-01T00:00Z",
        days=59,
        pv_peak_kw=0.0,
        load_kw=commercial_load_kw,
        prices_gbp_per_kwh=_commercial_prices,
    ),
    "export_limited_pv": Example(
        site=Site(
            name="export_limited_pv",
            latitude_deg=50.72,
            longitude_deg=-3.53,
            battery=Battery(
                capacity_kwh=100.0,
                charge_power_max_kw=50.0,
                discharge_power_max_kw=50.0,
                soc_min_frac=0.05,
                initial_soc_frac=0.05,
                degradation_cost_gbp_per_kwh=0.01,
            ),
            grid=GridConnection(import_limit_kw=69.0, export_limit_kw=20.0),
        ),
        run_config=RunConfig(tariff=Tariff(standing_charge_gbp_per_day=1.2)),
        start_utc="2025-06-02T00:00Z",
        days=14,
        pv_peak_kw=80.0,
        load_kw=small_business_load_kw,
        prices_gbp_per_kwh=_flat_prices,
    ),
}


def make_timeseries(
    example: Example, seed: int, days: int | None = None, start_utc: str | None = None
) -> pd.DataFrame:
    """The example's timeseries on a UTC index, drawn from ``seed``."""
    steps_per_day = 24 * 60 // example.run_config.timestep_min
    index = pd.date_range(
        start_utc or example.start_utc,
        periods=(days or example.days) * steps_per_day,
        freq=f"{example.run_config.timestep_min}min",
        name=col.TIMESTAMP,
        unit="ns",
    )
    local = index.tz_convert(LOCAL_TIMEZONE)
    rng = np.random.default_rng(seed)
    import_price, export_price = example.prices_gbp_per_kwh(local)
    return pd.DataFrame(
        {
            col.LOAD_KW: np.round(example.load_kw(local, rng), 4),
            col.PV_KW: np.round(pv_kw(example.site, index, example.pv_peak_kw, rng), 4),
            col.IMPORT_PRICE: import_price,
            col.EXPORT_PRICE: export_price,
        },
        index=index,
    )
