"""Deterministic synthetic sites: load, PV and prices from a seed.

Load has daily, weekly and seasonal cycles on the local clock plus seeded noise; PV is pvlib's
clear-sky irradiance on a tilted plane at the site, dimmed by seeded cloudy spells; prices follow
each example's tariff bands on the local clock. Equal arguments give equal frames.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd
import pvlib
from pydantic import AwareDatetime, Field, model_validator

from gridq import conventions as col
from gridq.engine import elementwise
from gridq.engine.tariff import working_days
from gridq.schemas import Site
from gridq.schemas.base import FrozenModel

_PV_SYSTEM_LOSS_FRAC = 0.14


MAX_DAYS = 3660
"""A synthetic series is at most ten years long."""
CALENDAR_FIRST = datetime(1900, 1, 1)
CALENDAR_LAST = datetime(2250, 1, 1)
"""pandas holds nanosecond timestamps up to 2262; a series stays inside these dates."""


class SyntheticSeries(FrozenModel):
    """How to draw an example bundle's timeseries."""

    seed: int = Field(description="Seed of every random draw.")
    start_utc: AwareDatetime = Field(description="First step, UTC.")
    days: int = Field(gt=0, le=MAX_DAYS, description="Length of the run [days].")
    pv_peak_kw: float = Field(ge=0, description="PV array peak [kWp].")
    load_profile: Literal["home", "commercial", "small_business"]
    price_profile: Literal["home_tou", "commercial_day_night", "flat", "agile"]

    @model_validator(mode="after")
    def _within_the_calendar(self) -> "SyntheticSeries":
        start = self.start_utc.replace(tzinfo=None)
        if not (CALENDAR_FIRST <= start and start + timedelta(days=self.days) <= CALENDAR_LAST):
            raise ValueError(
                f"series from {self.start_utc:%Y-%m-%d} for {self.days} days leaves the calendar "
                f"GridQ's tables hold ({CALENDAR_FIRST:%Y}-{CALENDAR_LAST:%Y}); move start_utc or "
                "shorten days"
            )
        return self


def _hour(local: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(local.hour + local.minute / 60.0, dtype=np.float64)


def _seasonal(local: pd.DatetimeIndex) -> np.ndarray:
    """1 in midwinter, -1 in midsummer."""
    return elementwise.cos(
        2 * np.pi * (np.asarray(local.day_of_year, dtype=np.float64) - 15) / 365.25
    )


def _bump(hour: np.ndarray, centre_h: float, width_h: float) -> np.ndarray:
    return elementwise.exp(-0.5 * ((hour - centre_h) / width_h) ** 2)


def _ar_noise(rng: np.random.Generator, n: int, sigma: float, memory: float = 0.9) -> np.ndarray:
    shocks = rng.normal(0.0, sigma * np.sqrt(1 - memory**2), n)
    noise = np.empty(n)
    level = 0.0
    for step in range(n):  # an AR(1) recursion: each value needs the last
        level = memory * level + shocks[step]
        noise[step] = level
    return noise


def home_load_kw(
    local: pd.DatetimeIndex, rng: np.random.Generator, working_day: np.ndarray
) -> np.ndarray:
    """A household: overnight base, morning and evening peaks, more in winter and at weekends."""
    hour = _hour(local)
    weekend = ~working_day
    morning = np.where(weekend, _bump(hour, 9.5, 1.5), _bump(hour, 7.5, 1.0))
    midday = np.where(weekend, 0.5 * _bump(hour, 13.0, 2.5), 0.1 * _bump(hour, 13.0, 2.0))
    shape = 0.30 + 0.8 * morning + midday + 1.6 * _bump(hour, 18.5, 1.8)
    level = shape * (1.0 + 0.25 * _seasonal(local))
    return np.maximum(level * (1.0 + _ar_noise(rng, len(local), 0.15)), 0.05)


def commercial_load_kw(
    local: pd.DatetimeIndex, rng: np.random.Generator, working_day: np.ndarray
) -> np.ndarray:
    """An office and workshop: occupied on working days, heating in winter, machinery spikes."""
    hour = _hour(local)
    occupied = working_day & (hour >= 7.5) & (hour < 18.5)
    level = 45.0 + 110.0 * occupied + 35.0 * occupied * np.maximum(_seasonal(local), 0.0)
    level = level * (1.0 + _ar_noise(rng, len(local), 0.06))
    spikes = occupied & (rng.random(len(local)) < 0.02)
    return np.maximum(level + spikes * rng.uniform(40.0, 110.0, len(local)), 5.0)


def small_business_load_kw(
    local: pd.DatetimeIndex, rng: np.random.Generator, working_day: np.ndarray
) -> np.ndarray:
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


def home_tou_prices(local: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Import 0.09 before 07:00, 0.36 16:00-19:00, else 0.26; export 0.15 [GBP/kWh]."""
    hour = _hour(local)
    import_price = np.where(hour < 7, 0.09, np.where((hour >= 16) & (hour < 19), 0.36, 0.26))
    return import_price, np.full(len(local), 0.15)


def commercial_day_night_prices(local: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Import 0.24 07:00-23:00, else 0.15; no export payment [GBP/kWh]."""
    hour = _hour(local)
    import_price = np.where((hour >= 7) & (hour < 23), 0.24, 0.15)
    return import_price, np.zeros(len(local))


def flat_prices(local: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Import 0.27, export 0.06 [GBP/kWh] at every step."""
    return np.full(len(local), 0.27), np.full(len(local), 0.06)


LOAD_PROFILES: dict[
    str, Callable[[pd.DatetimeIndex, np.random.Generator, np.ndarray], np.ndarray]
] = {
    "home": home_load_kw,
    "commercial": commercial_load_kw,
    "small_business": small_business_load_kw,
}


def agile_prices(local: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Half-hourly dynamic prices in the style of a UK agile tariff [GBP/kWh].

    A wholesale shape (morning and evening peaks, a midday solar dip deeper in summer, a
    deterministic half-hourly wobble) gives import ``2.2 * wholesale + 0.12`` from 16:00 to
    19:00 (else ``+ 0``), capped at 1.0, and export ``0.95 * wholesale + 0.02``.
    """
    # Floored in UTC: a local floor is ambiguous in the hour the clocks go back.
    half_hour = local.tz_convert("UTC").floor("30min").tz_convert(local.tz)
    hour = _hour(half_hour)
    summer = (1 - _seasonal(half_hour)) / 2
    wobble = 0.012 * elementwise.sin(
        np.asarray(half_hour.asi8 // 1_800_000_000_000, dtype=float) * 1.7
    )
    wholesale = (
        0.07
        + 0.05 * _bump(hour, 18.0, 1.5)
        + 0.025 * _bump(hour, 8.0, 1.2)
        - (0.02 + 0.05 * summer) * _bump(hour, 13.0, 2.0)
        + wobble
    )
    peak = (hour >= 16) & (hour < 19)
    import_price = np.minimum(2.2 * wholesale + 0.12 * peak, 1.0)
    return np.round(import_price, 4), np.round(0.95 * wholesale + 0.02, 4)


PRICE_PROFILES: dict[str, Callable[[pd.DatetimeIndex], tuple[np.ndarray, np.ndarray]]] = {
    "agile": agile_prices,
    "home_tou": home_tou_prices,
    "commercial_day_night": commercial_day_night_prices,
    "flat": flat_prices,
}


def make_timeseries(
    series: SyntheticSeries,
    site: Site,
    timestep_min: int,
    local_timezone: str = col.DEFAULT_LOCAL_TIMEZONE,
    bank_holidays: str = "england_and_wales",
) -> pd.DataFrame:
    """The timeseries that ``series`` describes for ``site``, on a UTC index.

    Working days (weekdays that are not bank holidays of ``bank_holidays``) shape the loads.
    """
    steps_per_day = 24 * 60 // timestep_min
    index = pd.date_range(
        pd.Timestamp(series.start_utc).tz_convert("UTC"),
        periods=series.days * steps_per_day,
        freq=f"{timestep_min}min",
        name=col.TIMESTAMP,
        unit="ns",
    )
    local = index.tz_convert(local_timezone)
    rng = np.random.default_rng(series.seed)
    import_price, export_price = PRICE_PROFILES[series.price_profile](local)
    return pd.DataFrame(
        {
            col.LOAD_KW: np.round(
                LOAD_PROFILES[series.load_profile](local, rng, working_days(local, bank_holidays)),
                4,
            ),
            col.PV_KW: np.round(pv_kw(site, index, series.pv_peak_kw, rng), 4),
            col.IMPORT_PRICE: import_price,
            col.EXPORT_PRICE: export_price,
        },
        index=index,
    )
