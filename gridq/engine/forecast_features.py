"""Features of the learned forecaster, each known a whole number of days ahead of its step.

Calendar (local clock, bank holidays), the clear-sky shape (pvlib), and lags of a series on the
local wall clock (:func:`lag_features`), with the baseline levels whose error the load trees learn.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib

from gridq.engine.tariff import working_days

WEEKLY_LAG_DAYS = (7, 14, 21, 28)


def calendar_features(
    index: pd.DatetimeIndex, local_timezone: str, bank_holidays: str
) -> pd.DataFrame:
    """Time of day, day of week and working day (bank holidays off) on the local clock."""
    local = index.tz_convert(local_timezone)
    return pd.DataFrame(
        {
            "hour_local": np.asarray(local.hour + local.minute / 60.0, dtype=float),
            "day_of_week": np.asarray(local.day_of_week, dtype=float),
            "working_day": working_days(local, bank_holidays).astype(float),
        },
        index=index,
    )


def clear_sky_features(
    index: pd.DatetimeIndex, latitude_deg: float, longitude_deg: float
) -> pd.DataFrame:
    """Clear-sky irradiance and sun elevation at each step's middle (pvlib, Ineichen)."""
    middle = index + (index[1] - index[0]) / 2
    location = pvlib.location.Location(latitude_deg, longitude_deg, tz="UTC")
    solar = location.get_solarposition(middle)
    dni_extra = pvlib.irradiance.get_extra_radiation(np.asarray(middle.day_of_year))
    clear = location.get_clearsky(
        middle, model="ineichen", solar_position=solar, dni_extra=dni_extra, linke_turbidity=3.0
    )
    return pd.DataFrame(
        {
            "clear_sky_ghi_w_per_m2": clear["ghi"].fillna(0.0).to_numpy(),
            "sun_elevation_deg": solar["apparent_elevation"].to_numpy(),
        },
        index=index,
    )


def day_types(calendar: pd.DataFrame) -> np.ndarray:
    """Per step: 0 on a working day, 1 on a weekend day or bank holiday."""
    return np.where(calendar["working_day"].to_numpy() > 0, 0, 1)


MAX_SAME_TYPE_DAYS = 21
"""How far back (days beyond the lead) same-slot means look for days of the step's type."""


def local_lag_positions(
    index: pd.DatetimeIndex, zone: str, days: int, lead_days: int
) -> np.ndarray:
    """Per step, the position of the same local wall-clock time ``days`` days earlier (or -1).

    Lags follow the local clock, so a site's 09:00 stays 09:00 across a clock change. A source
    step later than ``lead_days`` before the step (possible for an hour after the clocks go
    forward) is dropped, so every lag is known ``lead_days`` ahead; so is a wall time the
    source day lacks. In the repeated hour of autumn the first of the two is taken.
    """
    local = index.tz_convert(zone).tz_localize(None)
    first_position = pd.Series(np.arange(len(index)), index=local)
    first_position = first_position[~first_position.index.duplicated()]
    source = first_position.reindex(local - pd.Timedelta(days=days)).to_numpy()
    positions = np.where(np.isnan(source), -1, source).astype(np.int64)
    too_new = (positions >= 0) & (
        index[np.maximum(positions, 0)] > index - pd.Timedelta(days=lead_days)
    )
    positions[too_new] = -1
    return positions


def _take(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return np.where(positions >= 0, values[np.maximum(positions, 0)], np.nan)


def _nanmean_rows(rows: np.ndarray) -> np.ndarray:
    counts = (~np.isnan(rows)).sum(axis=0)
    return np.where(counts > 0, np.nansum(rows, axis=0) / np.maximum(counts, 1), np.nan)


def lag_positions(index: pd.DatetimeIndex, zone: str, lead_days: int) -> dict[int, np.ndarray]:
    """By days back, the positions :func:`lag_features` reads for ``lead_days`` ahead."""
    back = range(lead_days, lead_days + MAX_SAME_TYPE_DAYS)
    positions = {days: local_lag_positions(index, zone, days, lead_days) for days in back}
    for days in WEEKLY_LAG_DAYS:
        positions.setdefault(days, local_lag_positions(index, zone, days, lead_days))
    return positions


@dataclass(frozen=True)
class StepClock:
    """What the features take from the steps' times alone, whatever the values on them.

    Live operation forecasts every step on the same calendar with a few more values recorded:
    this part is computed once, not per plan (it was four fifths of a plan's time).
    """

    index: pd.DatetimeIndex
    calendar: pd.DataFrame
    sky: pd.DataFrame
    lag_positions: dict[int, dict[int, np.ndarray]]
    """By lead in days, then days back (see :func:`lag_positions`)."""


def step_clock(
    index: pd.DatetimeIndex,
    local_timezone: str,
    bank_holidays: str,
    latitude_deg: float,
    longitude_deg: float,
    leads_days: tuple[int, ...],
) -> StepClock:
    """The calendar, clear sky and lag positions of ``index`` for each lead."""
    return StepClock(
        index,
        calendar_features(index, local_timezone, bank_holidays),
        clear_sky_features(index, latitude_deg, longitude_deg),
        {lead: lag_positions(index, local_timezone, lead) for lead in leads_days},
    )


def lag_features(values: np.ndarray, clock: StepClock, lead_days: int) -> dict[str, np.ndarray]:
    """Features of one series known ``lead_days`` ahead of each step.

    Same-slot values (same local time) ``lead_days`` and one more day back and 1-4 weeks back,
    their 4-week mean, same-slot means over the last 3, 5 and 10 days of the step's day type and
    over the last 7 days, and the mean of the 24 hours that end ``lead_days`` back.
    """
    back = range(lead_days, lead_days + MAX_SAME_TYPE_DAYS)
    positions = clock.lag_positions[lead_days]
    lagged = {days: _take(values, where) for days, where in positions.items()}
    lags = {"lag_lead": lagged[lead_days], "lag_lead_plus_1d": lagged[lead_days + 1]}
    for days in WEEKLY_LAG_DAYS:
        lags[f"lag_{days}d"] = lagged[days]
    lags["same_slot_mean_4w"] = _nanmean_rows(np.vstack([lagged[d] for d in WEEKLY_LAG_DAYS]))
    # Same-slot values of earlier days whose type matches the step's, nearest first.
    step_type = day_types(clock.calendar)
    recent = np.vstack([lagged[days] for days in back])
    matching = np.vstack(
        [(positions[days] >= 0) & (_take(step_type, positions[days]) == step_type) for days in back]
    )
    rank = np.cumsum(matching, axis=0)
    for count in (3, 5, 10):
        chosen = np.where(matching & (rank <= count), recent, np.nan)
        lags[f"same_type_mean_{count}d"] = _nanmean_rows(chosen)
    lags["same_slot_mean_7d"] = _nanmean_rows(recent[:7])
    index = clock.index
    steps_per_day = int(pd.Timedelta(days=1) / (index[1] - index[0]))
    day_mean = pd.Series(values).rolling(steps_per_day, min_periods=steps_per_day).mean()
    lags["day_mean_lead"] = day_mean.shift(lead_days * steps_per_day).to_numpy()
    return lags


BASELINES = ("same_type_mean_10d", "same_slot_mean_7d")
"""Levels whose error the load trees learn; each retrain takes the one nearer its window."""


def baselines(lags: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each candidate level per step, falling back to the other, then the lag, then 0.

    Trees cannot extrapolate a level they have not seen (a season's trend, measured on random
    commercial sites in spring); learning the error of a baseline that follows the level can.
    """
    levels = {}
    for name in BASELINES:
        level = lags[name].to_numpy()
        for fallback in (*BASELINES, "lag_lead"):
            level = np.where(np.isnan(level), lags[fallback].to_numpy(), level)
        levels[name] = np.nan_to_num(level, nan=0.0)
    return levels


def type_seen(lags: pd.DataFrame) -> np.ndarray:
    """Per step, whether an earlier day of its type lies within the same-type look-back."""
    return ~np.isnan(lags["same_type_mean_10d"].to_numpy())
