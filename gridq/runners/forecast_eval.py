"""``gridq forecast evaluate``: every provider scored on the same windows.

Forecasts are issued every ``rolling.reoptimise_every_min`` over ``rolling.horizon_h``, from
the first step every provider compared has its warm-up, and each is scored on the steps until
the next issue: the part of a plan that a rolling run applies. Scores per series: MAE and RMSE
[kW] of the point forecast, and the mean pinball loss [kW] over the run config's quantiles. A
point forecast stands for every quantile (a forecast with no spread); ``learned`` gives its own.
"""

from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.forecast import FORECAST_SERIES, make_provider
from gridq.errors import InputError
from gridq.schemas import RunConfig, Site

EVALUATED = ("persistence_day", "persistence_week", "seasonal_naive", "learned")
"""Providers scored by default; ``replay`` joins when the bundle has vintages."""


def pinball_kw(actual: np.ndarray, quantiles: np.ndarray, levels: tuple[float, ...]) -> float:
    """Mean pinball loss over ``levels`` of forecasts ``quantiles`` (level x step) [kW]."""
    losses = [
        np.maximum(level * (actual - row), (level - 1) * (actual - row)).mean()
        for level, row in zip(levels, quantiles, strict=True)
    ]
    return float(np.mean(losses))


def evaluate_forecasts(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    vintages: pd.DataFrame | None = None,
    names: tuple[str, ...] = EVALUATED,
) -> dict[str, Any]:
    """Scores of each provider in ``names`` (and ``replay`` with vintages) on common windows.

    A provider whose warm-up leaves no window is left out with the reason.
    """
    options = run_config.rolling
    levels = tuple(sorted(options.quantiles))
    index = pd.DatetimeIndex(timeseries.index)
    step = index[1] - index[0]
    every = max(int(pd.Timedelta(minutes=options.reoptimise_every_min) / step), 1)
    horizon = max(int(pd.Timedelta(hours=options.horizon_h) / step), every)
    providers = {name: make_provider(name, timeseries, site, run_config) for name in names}
    if vintages is not None:
        providers["replay"] = make_provider("replay", timeseries, site, run_config, vintages)
    skipped = {}
    start = 0
    for name, provider in list(providers.items()):
        first = int(index.searchsorted(index[0] + provider.warmup))
        if first >= len(index) - 1:
            skipped[name] = f"the run is no longer than its warm-up ({provider.warmup})"
            del providers[name]
        else:
            start = max(start, first)
    if not providers:
        raise InputError("no forecast has enough history in this run to be evaluated")
    issues = range(start, len(index), every)
    scores: dict[str, Any] = {}
    for name, provider in providers.items():
        errors: dict[str, list[np.ndarray]] = {series: [] for series in FORECAST_SERIES}
        pinball: dict[str, list[float]] = {series: [] for series in FORECAST_SERIES}
        weights: list[int] = []
        inside_band: list[np.ndarray] = []
        above_top: list[np.ndarray] = []
        quantiles_of = getattr(provider, "quantiles", None)
        for issue in issues:
            steps = min(horizon, len(index) - issue)
            applied = min(every, steps)
            forecast = provider.forecast(index[issue], steps)
            spread = quantiles_of(index[issue], steps) if quantiles_of is not None else None
            weights.append(applied)
            for series in FORECAST_SERIES:
                actual = timeseries[series].to_numpy()[issue : issue + applied]
                point = forecast[series].to_numpy()[:applied]
                errors[series].append(point - actual)
                rows = (
                    spread[series][:, :applied]
                    if spread is not None
                    else np.tile(point, (len(levels), 1))
                )
                pinball[series].append(pinball_kw(actual, rows, levels))
                if spread is not None and series == col.LOAD_KW:
                    inside_band.append((rows[0] <= actual) & (actual <= rows[-1]))
                    above_top.append(actual > rows[-1])
        scores[name] = {
            series: {
                "mae_kw": float(np.abs(np.concatenate(errors[series])).mean()),
                "rmse_kw": float(np.sqrt((np.concatenate(errors[series]) ** 2).mean())),
                "pinball_kw": float(np.average(pinball[series], weights=weights)),
            }
            for series in FORECAST_SERIES
        }
        if inside_band:
            # Calibration: nominally the top level less the bottom one, and 1 less the top.
            scores[name][col.LOAD_KW] |= {
                "band_coverage_frac": float(np.concatenate(inside_band).mean()),
                "above_top_frac": float(np.concatenate(above_top).mean()),
            }
    return {
        "windows": {
            "first_issue": index[start].isoformat(),
            "issues": len(issues),
            "reoptimise_every_min": options.reoptimise_every_min,
            "horizon_h": options.horizon_h,
            "scored_steps": int(len(index) - start),
        },
        "quantiles": list(levels),
        "providers": scores,
        "skipped": skipped,
    }
