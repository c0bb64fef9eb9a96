"""Forecast providers: what a controller could know at ``issued_at``.

A provider returns load, PV and prices for the steps ``[issued_at, issued_at + horizon)``. Load
and PV come only from data strictly before ``issued_at`` (except the ``perfect`` provider, which
is the benchmark, and ``replay``, whose vintages were themselves issued by then). Prices are
taken as known ahead: tariff bands are fixed, and a dynamic tariff's prices are published before
delivery, so the timeseries' price columns pass through exactly.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.errors import InputError
from gridq.schemas import RunConfig, Site

FORECAST_SERIES = (col.LOAD_KW, col.PV_KW)
SIDE_COLUMNS = (
    "quantile",
    "load_high_kw",
    "pv_low_kw",
    "load_low_kw",
    "pv_high_kw",
    "peak_reserve_kwh",
    "spike_reserve_kwh",
)
"""A vintage's quantile sides, beside its point forecast: load at ``quantile`` with PV at
``1 - quantile`` (the high side), the reverse (the low side), and the provider's reserves at
``quantile``; a replay of them plans as the provider that issued them did."""
TIMESERIES_INDEX = pd.Index(col.TIMESERIES_COLUMNS)


class ForecastProvider(Protocol):
    """Anything that can forecast a horizon from what is known at ``issued_at``."""

    @property
    def warmup(self) -> pd.Timedelta:
        """History the provider needs before its first forecast."""
        ...

    def forecast(self, issued_at: pd.Timestamp, horizon_steps: int) -> pd.DataFrame:
        """Load, PV and prices for ``horizon_steps`` steps from ``issued_at``."""
        ...


def _start(actuals: pd.DataFrame, issued_at: pd.Timestamp) -> int:
    """Position of ``issued_at`` among the actuals' steps."""
    try:
        start = actuals.index.get_loc(issued_at)
    except KeyError:
        start = None
    if not isinstance(start, int):
        raise InputError(f"forecast issued at {issued_at} is not a step of the timeseries")
    return start


def _horizon(actuals: pd.DataFrame, issued_at: pd.Timestamp, steps: int) -> pd.DatetimeIndex:
    start = _start(actuals, issued_at)
    return pd.DatetimeIndex(actuals.index)[start : start + steps]


def _with_prices(
    actuals: pd.DataFrame, horizon: pd.DatetimeIndex, values: dict[str, np.ndarray]
) -> pd.DataFrame:
    prices = actuals.loc[horizon, [col.IMPORT_PRICE, col.EXPORT_PRICE]]
    return pd.DataFrame(values, index=horizon).join(prices)[list(col.TIMESERIES_COLUMNS)]


@dataclass(frozen=True)
class PerfectForecast:
    """The actual future: the benchmark every other provider is measured against."""

    actuals: pd.DataFrame
    warmup: pd.Timedelta = pd.Timedelta(0)
    values: np.ndarray = field(init=False, repr=False, compare=False)
    """The actuals' ``TIMESERIES_COLUMNS`` as one block, sliced per plan: a column selection
    per plan would cost a rolling year a fifth of a second."""

    def __post_init__(self) -> None:
        values = self.actuals[list(col.TIMESERIES_COLUMNS)].to_numpy(dtype=np.float64)
        object.__setattr__(self, "values", values)

    def forecast(self, issued_at: pd.Timestamp, horizon_steps: int) -> pd.DataFrame:
        """The actual values of the horizon."""
        start = _start(self.actuals, issued_at)
        stop = start + horizon_steps
        return pd.DataFrame(
            self.values[start:stop].copy(),
            index=self.actuals.index[start:stop],
            columns=TIMESERIES_INDEX,
        )


@dataclass(frozen=True)
class SeasonalNaiveForecast:
    """Each step is the mean of the same time on the ``seasons`` previous periods of ``period``.

    ``persistence`` is one season of a day (same time yesterday) or a week (last week);
    ``seasonal_naive`` averages several weeks. For a step further ahead than one period, the
    periods count back from the latest one that lies before ``issued_at``.
    """

    actuals: pd.DataFrame
    period: pd.Timedelta = pd.Timedelta(days=1)
    seasons: int = 1

    @property
    def warmup(self) -> pd.Timedelta:
        """Enough history for every season."""
        return self.period * self.seasons

    def forecast(self, issued_at: pd.Timestamp, horizon_steps: int) -> pd.DataFrame:
        """Means of past same-time values, all from before ``issued_at``."""
        horizon = _horizon(self.actuals, issued_at, horizon_steps)
        # How many periods back the first usable season of each step is.
        first_back = np.ceil((horizon - issued_at + pd.Timedelta(1)) / self.period).astype(int)
        first_back = np.maximum(first_back, 1)
        values = {}
        for series in FORECAST_SERIES:
            known = self.actuals[series].loc[self.actuals.index < issued_at]
            total = np.zeros(len(horizon))
            count = np.zeros(len(horizon))
            for season in range(self.seasons):
                source = horizon - (first_back + season) * self.period
                found = known.reindex(source).to_numpy()
                usable = ~np.isnan(found)
                total[usable] += found[usable]
                count[usable] += 1
            if (count == 0).any():
                raise InputError(
                    f"not enough history before {issued_at} to forecast {series}: it needs "
                    f"{self.warmup}; start the rolling run later"
                )
            values[series] = total / count
        return _with_prices(self.actuals, horizon, values)


@dataclass(frozen=True)
class ReplayForecast:
    """Forecasts replayed from stored vintages.

    The table has ``issued_at``, ``timestamp``, load and PV columns; each request takes the
    latest vintage issued at or before it.
    """

    actuals: pd.DataFrame
    vintages: pd.DataFrame
    warmup: pd.Timedelta = pd.Timedelta(0)

    def forecast(self, issued_at: pd.Timestamp, horizon_steps: int) -> pd.DataFrame:
        """The newest vintage's values for the horizon."""
        horizon = _horizon(self.actuals, issued_at, horizon_steps)
        issued = self.vintages.loc[self.vintages["issued_at"] <= issued_at]
        if issued.empty:
            raise InputError(f"no forecast vintage issued at or before {issued_at}")
        latest = issued.loc[issued["issued_at"] == issued["issued_at"].max()]
        rows = latest.set_index(col.TIMESTAMP).reindex(horizon)
        missing = rows[list(FORECAST_SERIES)].isna().any(axis=1)
        if missing.any():
            raise InputError(
                f"the vintage issued {latest['issued_at'].iloc[0]} has no forecast for "
                f"{horizon[int(np.argmax(missing.to_numpy()))]}; extend the vintage"
            )
        return _with_prices(
            self.actuals, horizon, {s: rows[s].to_numpy(dtype=float) for s in FORECAST_SERIES}
        )


@dataclass(frozen=True)
class SidedReplayForecast(ReplayForecast):
    """Replayed vintages that also hold their quantile sides and reserves (``SIDE_COLUMNS``).

    Answers what a plan asks of a provider with quantiles, at the vintage's quantile.
    """

    def _sides(self, issued_at: pd.Timestamp, horizon_steps: int, quantile: float) -> pd.DataFrame:
        horizon = _horizon(self.actuals, issued_at, horizon_steps)
        issued = self.vintages.loc[self.vintages["issued_at"] <= issued_at]
        latest = issued.loc[issued["issued_at"] == issued["issued_at"].max()]
        rows = latest.set_index(col.TIMESTAMP).reindex(horizon)
        stored = float(latest["quantile"].iloc[0])
        if not np.isclose(quantile, stored) and not np.isclose(quantile, 1 - stored):
            raise InputError(
                f"the vintages hold the sides at quantile {stored:g}; set "
                f"rolling.peak_quantile to {stored:g} to replay them"
            )
        return rows

    def high_side_kw(
        self, issued_at: pd.Timestamp, horizon_steps: int, quantile: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Load at ``quantile`` and PV at ``1 - quantile`` [kW], as issued."""
        rows = self._sides(issued_at, horizon_steps, quantile)
        high = np.isclose(quantile, float(rows["quantile"].dropna().iloc[0]))
        load, pv = ("load_high_kw", "pv_low_kw") if high else ("load_low_kw", "pv_high_kw")
        return rows[load].to_numpy(dtype=float), rows[pv].to_numpy(dtype=float)

    def peak_reserve_kwh(self, issued_at: pd.Timestamp, quantile: float) -> float:
        """The reserve the issuing provider held [kWh]."""
        return float(self._sides(issued_at, 1, quantile)["peak_reserve_kwh"].iloc[0])

    def spike_reserve_kwh(self, issued_at: pd.Timestamp, quantile: float) -> float:
        """The spike reserve the issuing provider kept [kWh]."""
        return float(self._sides(issued_at, 1, quantile)["spike_reserve_kwh"].iloc[0])


def quantile_sides(
    provider: ForecastProvider, issued_at: pd.Timestamp, horizon_steps: int, quantile: float | None
) -> dict[str, np.ndarray]:
    """``SIDE_COLUMNS`` of ``provider``'s forecast issued at ``issued_at``, or none.

    None where the provider has no quantiles or the run plans without a peak quantile.
    """
    high_side = getattr(provider, "high_side_kw", None)
    if high_side is None or quantile is None:
        return {}
    load_high, pv_low = high_side(issued_at, horizon_steps, quantile)
    load_low, pv_high = high_side(issued_at, horizon_steps, 1 - quantile)
    sided: Any = provider  # a provider with quantiles has its reserves too
    reserves = (
        sided.peak_reserve_kwh(issued_at, quantile),
        sided.spike_reserve_kwh(issued_at, quantile),
    )
    columns = (quantile, load_high, pv_low, load_low, pv_high, *reserves)
    return {
        name: np.broadcast_to(np.asarray(value, dtype=float), (len(load_high),)).copy()
        for name, value in zip(SIDE_COLUMNS, columns, strict=True)
    }


def make_provider(
    name: str,
    actuals: pd.DataFrame,
    site: Site,
    run_config: RunConfig,
    vintages: pd.DataFrame | None = None,
) -> ForecastProvider:
    """Make the provider called ``name``.

    One of perfect, persistence_day, persistence_week, seasonal_naive (mean of the last 4 same
    weekdays), learned (quantile trees, ``gridq.engine.learned_forecast``) or replay.
    """
    if name == "perfect":
        return PerfectForecast(actuals)
    if name == "persistence_day":
        return SeasonalNaiveForecast(actuals, pd.Timedelta(days=1), 1)
    if name == "persistence_week":
        return SeasonalNaiveForecast(actuals, pd.Timedelta(days=7), 1)
    if name == "seasonal_naive":
        return SeasonalNaiveForecast(actuals, pd.Timedelta(days=7), 4)
    if name == "learned":
        return learned_forecast(actuals, site, run_config)
    if name == "replay":
        if vintages is None:
            raise InputError("the replay forecast needs a forecasts.parquet in the bundle")
        if set(SIDE_COLUMNS) <= set(vintages.columns):
            return SidedReplayForecast(actuals, vintages)
        return ReplayForecast(actuals, vintages)
    raise InputError(
        f"unknown forecast '{name}'; choose perfect, persistence_day, "
        "persistence_week, seasonal_naive, learned or replay"
    )


def renewed_provider(
    previous: ForecastProvider | None,
    name: str,
    actuals: pd.DataFrame,
    site: Site,
    run_config: RunConfig,
) -> ForecastProvider:
    """:func:`make_provider` on ``actuals`` that extend ``previous``'s (live operation).

    A learned forecaster keeps what it has learnt (see ``LearnedForecast.refreshed``); the
    others cost nothing to make again.
    """
    from gridq.engine.learned_forecast import LearnedForecast

    if isinstance(previous, LearnedForecast):
        return previous.refreshed(actuals)
    return make_provider(name, actuals, site, run_config)


def learned_forecast(actuals: pd.DataFrame, site: Site, run_config: RunConfig) -> ForecastProvider:
    """The learned provider as the run config's ``rolling`` options set it up."""
    from gridq.engine.learned_forecast import MAX_LEAD, LearnedForecast, LearnedOptions

    options = run_config.rolling
    # Checked on the option, not per request: a run ending within 48 h never asks further.
    if pd.Timedelta(hours=options.horizon_h) > MAX_LEAD:
        raise InputError(
            f"rolling.horizon_h {options.horizon_h:g}: the learned forecast reaches at most "
            f"{MAX_LEAD / pd.Timedelta(hours=1):g} h ahead; set rolling.horizon_h to 48 or less"
        )
    return LearnedForecast(
        actuals,
        run_config.tariff.local_timezone,
        run_config.tariff.bank_holidays,
        site.latitude_deg,
        site.longitude_deg,
        LearnedOptions(
            quantiles=tuple(sorted(options.quantiles)),
            retrain_every=pd.Timedelta(hours=options.retrain_every_h),
            training_window=pd.Timedelta(days=options.training_days),
        ),
    )
