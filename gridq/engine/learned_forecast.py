"""The learned forecaster: gradient-boosted quantile trees retrained walk-forward.

Each model has a lead in whole days (``LEAD_DAYS``): every feature of a target step is known that
long before it (calendar, the clear-sky shape, and load and PV at lags of at least the lead), so
a forecast uses the one-day model for the steps of its first day and the two-day model after.
A model trained at ``cut`` learns only from targets before ``cut``; a forecast issued at
``issued_at`` uses the newest models whose cut is not after it, so nothing at or after
``issued_at`` reaches a forecast. Quantile models (P10, P50, P90 by default) are sorted per step
so they never cross; the P50 is the point forecast.
"""

import time
from dataclasses import dataclass, field
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pvlib

from gridq import conventions as col
from gridq.engine.tariff import working_days
from gridq.errors import InputError

LEAD_DAYS = (1, 2)
MAX_LEAD = pd.Timedelta(days=max(LEAD_DAYS))
WEEKLY_LAG_DAYS = (7, 14, 21, 28)
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
_TREES = 120
# 63 bins trained a year of commercial_underwriting in 24 s against 34 s at LightGBM's 255, with
# the same load MAE (5.458 against 5.457 kW).
_DATASET_PARAMS: dict[str, Any] = {"verbose": -1, "seed": 0, "max_bin": 63}
_TREE_PARAMS: dict[str, Any] = {
    "objective": "quantile",
    "learning_rate": 0.06,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    # One thread, deterministic: the same trees on any machine. Two threads were 20% faster
    # alone but many times slower beside another busy process (OpenMP threads spin).
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "seed": 0,
    "verbose": -1,
}


@dataclass(frozen=True)
class LearnedOptions:
    """How the learned forecaster trains."""

    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    retrain_every: pd.Timedelta = pd.Timedelta(days=7)
    training_window: pd.Timedelta = pd.Timedelta(days=56)
    min_history: pd.Timedelta = pd.Timedelta(days=7)


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


def same_type_means(
    values: np.ndarray, day_type: np.ndarray, steps_per_day: int, days: int, lead_days: int
) -> np.ndarray:
    """Mean of the same slot on the last ``days`` days of the step's day type, ``lead_days`` old.

    Days are whole days from the run's first step; only days that end ``lead_days`` before the
    day of the step starts count, so the mean is known ``lead_days`` ahead of every step. A run
    is padded to whole days; slots with no such day are NaN.
    """
    n = len(values)
    whole = -(-n // steps_per_day) * steps_per_day
    padded = np.full(whole, np.nan)
    padded[:n] = values
    by_day = padded.reshape(-1, steps_per_day)
    padded_type = np.full(whole, -1)
    padded_type[:n] = day_type
    type_of_day = padded_type.reshape(-1, steps_per_day)[:, 0]
    means = np.full_like(by_day, np.nan)
    for day in range(len(by_day)):
        earlier = np.flatnonzero(type_of_day[: max(day - lead_days, 0)] == type_of_day[day])[-days:]
        if len(earlier):
            means[day] = by_day[earlier].mean(axis=0)
    return means.reshape(-1)[:n]


def _lagged(values: np.ndarray, shift: int) -> np.ndarray:
    lagged = np.full(len(values), np.nan)
    if shift < len(values):
        lagged[shift:] = values[: len(values) - shift]
    return lagged


def lag_features(
    values: np.ndarray, calendar: pd.DataFrame, steps_per_day: int, lead_days: int
) -> dict[str, np.ndarray]:
    """Features of one series known ``lead_days`` ahead of each step.

    Same-slot values ``lead_days`` and one more day back and 1-4 weeks back, their 4-week mean,
    same-slot means over recent days (of the step's day type, and of every type), and the mean
    of the day that ends ``lead_days`` back.
    """
    lags = {
        "lag_lead": _lagged(values, lead_days * steps_per_day),
        "lag_lead_plus_1d": _lagged(values, (lead_days + 1) * steps_per_day),
    }
    for days in WEEKLY_LAG_DAYS:
        lags[f"lag_{days}d"] = _lagged(values, days * steps_per_day)
    weekly = np.vstack([lags[f"lag_{d}d"] for d in WEEKLY_LAG_DAYS])
    counts = (~np.isnan(weekly)).sum(axis=0)
    sums = np.nansum(weekly, axis=0)
    lags["same_slot_mean_4w"] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    for days in (3, 5, 10):
        lags[f"same_type_mean_{days}d"] = same_type_means(
            values, day_types(calendar), steps_per_day, days, lead_days
        )
    lags["same_slot_mean_7d"] = same_type_means(
        values, np.zeros(len(values), dtype=int), steps_per_day, 7, lead_days
    )
    day_mean = pd.Series(values).rolling(steps_per_day, min_periods=steps_per_day).mean()
    lags["day_mean_lead"] = day_mean.shift(lead_days * steps_per_day).to_numpy()
    return lags


@dataclass
class LearnedForecast:
    """Quantile forecasts of load and PV from trees retrained every ``retrain_every``."""

    actuals: pd.DataFrame
    local_timezone: str
    bank_holidays: str
    latitude_deg: float
    longitude_deg: float
    options: LearnedOptions = LearnedOptions()
    training_s: float = 0.0
    _features: dict[tuple[str, int], pd.DataFrame] = field(default_factory=dict, repr=False)
    _reserves: dict[tuple[int, float], float] = field(default_factory=dict, repr=False)
    _models: dict[tuple[int, str, int], list[lightgbm.Booster] | None] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        """Features of every step and lead, computed once."""
        index = pd.DatetimeIndex(self.actuals.index)
        self._index = index
        self._step = index[1] - index[0]
        if self.options.retrain_every < self._step:
            raise InputError(
                f"rolling.retrain_every_h ({self.options.retrain_every.total_seconds() / 3600:g} h)"
                f" is shorter than the timestep ({self._step}); retrain at most once a step"
            )
        steps_per_day = int(pd.Timedelta(days=1) / self._step)
        calendar = calendar_features(index, self.local_timezone, self.bank_holidays)
        sky = clear_sky_features(index, self.latitude_deg, self.longitude_deg)
        for series in (col.LOAD_KW, col.PV_KW):
            values = self.actuals[series].to_numpy(dtype=float)
            for lead_days in LEAD_DAYS:
                lags = pd.DataFrame(
                    lag_features(values, calendar, steps_per_day, lead_days), index=index
                )
                parts = [calendar, lags] + ([sky] if series == col.PV_KW else [])
                self._features[series, lead_days] = pd.concat(parts, axis=1)

    @property
    def warmup(self) -> pd.Timedelta:
        """History before the first forecast: enough for the first training set."""
        return self.options.min_history

    def _cut(self, issued_at: pd.Timestamp) -> int:
        """Position of the newest retrain cut at or before ``issued_at``."""
        first = self._index[0] + self.options.min_history
        if issued_at < first:
            raise InputError(
                f"the learned forecast needs {self.options.min_history} of history before "
                f"{issued_at}; start the forecast at {first} or later"
            )
        cut_time = first + ((issued_at - first) // self.options.retrain_every) * (
            self.options.retrain_every
        )
        return int(self._index.searchsorted(cut_time))

    def _train(self, cut: int, series: str, lead_days: int) -> list[lightgbm.Booster] | None:
        key = (cut, series, lead_days)
        if key not in self._models:
            started = time.perf_counter()
            low = int(self._index.searchsorted(self._index[cut] - self.options.training_window))
            features = self._features[series, lead_days].iloc[low:cut]
            target = self.actuals[series].to_numpy(dtype=float)[low:cut]
            if np.ptp(target) == 0:
                self._models[key] = None  # constant (e.g. no PV): nothing to learn
            else:
                # Binned once, shared by the quantiles' models.
                data = lightgbm.Dataset(
                    features, target, params=_DATASET_PARAMS, free_raw_data=False
                )
                self._models[key] = [
                    lightgbm.train(_TREE_PARAMS | {"alpha": q}, data, num_boost_round=_TREES)
                    for q in self.options.quantiles
                ]
            self.training_s += time.perf_counter() - started
        return self._models[key]

    def quantiles(self, issued_at: pd.Timestamp, horizon_steps: int) -> dict[str, np.ndarray]:
        """Per series, an array (quantile x step) of the horizon's forecast, sorted by quantile."""
        start = int(self._index.searchsorted(issued_at))
        if start >= len(self._index) or self._index[start] != issued_at:
            raise InputError(f"forecast issued at {issued_at} is not a step of the timeseries")
        if horizon_steps * self._step > MAX_LEAD:
            raise InputError(
                f"the learned forecast reaches at most {MAX_LEAD.total_seconds() / 3600:g} h "
                "ahead; set rolling.horizon_h to 48 or less"
            )
        cut = self._cut(issued_at)
        stop = min(start + horizon_steps, len(self._index))
        # Steps less than a day ahead use the one-day model, the rest the two-day one.
        first_day = int(self._index[start:stop].searchsorted(issued_at + pd.Timedelta(days=1)))
        spans = {1: slice(start, start + first_day), 2: slice(start + first_day, stop)}
        result: dict[str, np.ndarray] = {}
        for series in (col.LOAD_KW, col.PV_KW):
            parts = []
            for lead_days, span in spans.items():
                if span.stop <= span.start:
                    continue
                models = self._train(cut, series, lead_days)
                if models is None:
                    last = float(self.actuals[series].iloc[cut - 1])
                    parts.append(
                        np.full((len(self.options.quantiles), span.stop - span.start), last)
                    )
                    continue
                features = self._features[series, lead_days].iloc[span]
                predicted = np.sort(np.vstack([m.predict(features) for m in models]), axis=0)
                if series == col.PV_KW:
                    predicted[:, features["sun_elevation_deg"].to_numpy() <= 0] = 0.0
                parts.append(np.maximum(predicted, 0.0))
            result[series] = np.hstack(parts)
        return result

    def forecast(self, issued_at: pd.Timestamp, horizon_steps: int) -> pd.DataFrame:
        """The P50 of load and PV, and the known prices."""
        quantiles = self.quantiles(issued_at, horizon_steps)
        median = self.options.quantiles.index(0.5)
        start = int(self._index.searchsorted(issued_at))
        horizon = self._index[start : start + quantiles[col.LOAD_KW].shape[1]]
        prices = self.actuals.loc[horizon, [col.IMPORT_PRICE, col.EXPORT_PRICE]]
        values = {series: q[median] for series, q in quantiles.items()}
        return pd.DataFrame(values, index=horizon).join(prices)[list(col.TIMESERIES_COLUMNS)]

    def load_quantile_kw(
        self, issued_at: pd.Timestamp, horizon_steps: int, quantile: float
    ) -> np.ndarray:
        """The horizon's load at ``quantile`` (one of the options' quantiles) [kW]."""
        row = self.options.quantiles.index(quantile)
        return self.quantiles(issued_at, horizon_steps)[col.LOAD_KW][row]

    def peak_reserve_kwh(self, issued_at: pd.Timestamp, quantile: float) -> float:
        """Energy to hold for load above ``quantile``: the most any training day needed [kWh].

        For each day of the latest model's training window, the load's excess over its
        ``quantile`` forecast, summed over the day; the reserve is the largest such day.
        """
        cut = self._cut(issued_at)
        key = (cut, quantile)
        if key not in self._reserves:
            models = self._train(cut, col.LOAD_KW, 1)
            low = int(self._index.searchsorted(self._index[cut] - self.options.training_window))
            if models is None:
                self._reserves[key] = 0.0
            else:
                model = models[self.options.quantiles.index(quantile)]
                actual = self.actuals[col.LOAD_KW].to_numpy(dtype=float)[low:cut]
                excess = np.maximum(
                    actual - model.predict(self._features[col.LOAD_KW, 1].iloc[low:cut]), 0.0
                )
                days = (self._index[low:cut] - self._index[low]) // pd.Timedelta(days=1)
                dt_h = self._step / pd.Timedelta(hours=1)
                self._reserves[key] = float(
                    np.bincount(np.asarray(days), weights=excess).max() * dt_h
                )
        return self._reserves[key]
