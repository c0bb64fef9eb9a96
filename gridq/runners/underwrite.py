"""Underwriting: a battery's lifetime value, year by year, with ageing, finance and uncertainty.

Each life is a run of project years (:mod:`gridq.engine.lifetime`): every year re-optimised at
its state of health and escalated tariff, priced against the site without a battery, aged and
turned into cash flows.

Those are perfect-foresight figures: an upper bound. The headline is achievable value: each
weather year is also operated the way the site would be (the rolling runner with the run
config's forecast, re-planning and peak-aware options), at year-one conditions and at the last
year's with the battery worn to the replacement threshold: every project year's savings are its
perfect-foresight savings times the share kept at its SOH (interpolated between the two), and
the battery ages on the year-one operation's SOC profile.

The reference life takes the bundle's own year at the central assumptions; P10/P50/P90 come
from lives drawn over weather years, escalation, load growth and ageing rate
(:mod:`gridq.engine.underwriting_draws`). All lives share one HiGHS model: they differ only in
prices, load and usable capacity, so each year's solve starts from the last optimal basis.
"""

import itertools
import math
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.forecast import make_provider
from gridq.engine.lifetime import (
    Operation,
    capex_gbp,
    finance_summary,
    perfect_view,
    project_years,
    share_of_year,
    shared_highs,
    year_conditions,
)
from gridq.engine.run import backtest_rolling
from gridq.engine.underwriting_draws import central, drawn, sources, weather_year
from gridq.errors import ConfigError
from gridq.schemas import RunConfig, Site
from gridq.schemas.run import SIZE_MAX

EXCEEDED_IN = {"p10": 0.9, "p50": 0.5, "p90": 0.1}
"""P90 is the value exceeded in 90% of drawn lives: the 10th percentile; P10 the 90th."""
SWEEPABLE = ("capacity_kwh", "power_kw", "charge_power_max_kw", "discharge_power_max_kw")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Rolled:
    """What underwriting keeps of one rolling run: its captured share and SOC profile."""

    captured_frac: float
    soc_kwh: np.ndarray
    share_of_year: float


def _rolled(site: Site, run_config: RunConfig, weather: pd.DataFrame) -> _Rolled:
    """A rolling run of ``weather`` (the share is 1 where perfect foresight saves nothing)."""
    provider = make_provider(run_config.rolling.forecast, weather, site, run_config)
    rolled = backtest_rolling(site, run_config, weather, provider)
    captured = rolled.metrics["captured_frac"]
    return _Rolled(
        captured_frac=1.0 if captured is None else float(captured),
        soc_kwh=rolled.dispatch[col.SOC_KWH].to_numpy(),
        share_of_year=share_of_year(rolled.dispatch, run_config),
    )


PARALLEL_FROM_RUNS = 3
"""Rolling runs are spread over the cores from this many on (a child costs seconds to start)."""


def _rolled_all(runs: list[tuple[Site, RunConfig, pd.DataFrame]]) -> list[_Rolled]:
    """Every run, in order; independent, so spread over the machine's cores when worth it."""
    workers = min(os.cpu_count() or 1, len(runs))
    if workers < 2 or len(runs) < PARALLEL_FROM_RUNS:
        return [_rolled(*run) for run in runs]
    # Spawned children: no HiGHS or LightGBM thread state is copied by a fork.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_rolled, *zip(*runs, strict=True)))


def operate_all(
    site_runs: list[tuple[Site, pd.DataFrame]], run_config: RunConfig
) -> list[Operation]:
    """Each ``(site, weather)`` operated as the run config's rolling operation would.

    Once at year-one conditions: the share of the perfect-foresight savings it keeps over the
    rolling run's evaluation window, and that window's SOC profile, which every project year of
    this weather year ages on. Once at the last project year's central conditions (escalated
    tariff, grown load) with the battery worn to the replacement threshold, the least health a
    life runs a year at: the share each project year keeps is interpolated on its SOH between
    the two (:meth:`Operation.captured_frac_at`).
    """
    options = run_config.underwriting
    worn_soh_frac = options.replacement_soh_frac
    runs: list[tuple[Site, RunConfig, pd.DataFrame]] = []
    for site, weather in site_runs:
        worn = year_conditions(
            site, run_config, weather, options.life_years, worn_soh_frac, central(options)
        )
        runs += [(site, run_config, weather), (worn.site, worn.run_config, worn.timeseries)]
    rolled = _rolled_all(runs)
    return [
        Operation(
            captured_frac=new.captured_frac,
            soc_frac=new.soc_kwh / site.battery.capacity_kwh,
            share_of_year=new.share_of_year,
            worn_captured_frac=worn.captured_frac,
            worn_soh_frac=worn_soh_frac,
        )
        for (site, _), new, worn in zip(site_runs, rolled[::2], rolled[1::2], strict=True)
    ]


def operate(site: Site, run_config: RunConfig, weather: pd.DataFrame) -> Operation:
    """``weather`` operated as new and worn (see :func:`operate_all`)."""
    return operate_all([(site, weather)], run_config)[0]


@dataclass(frozen=True)
class Underwritten:
    """The yearly table of every life (``life`` 0 is the reference) and ``underwriting.json``."""

    years: pd.DataFrame
    summary: dict[str, Any]


def _spreads(summaries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """P10/P50/P90 of first-year savings and NPV over the drawn lives."""
    return {
        figure: {
            name: float(np.quantile([s[figure] for s in summaries], quantile))
            for name, quantile in EXCEEDED_IN.items()
        }
        for figure in ("first_year_savings_gbp", "npv_gbp")
    }


def _ticker(progress: Progress | None, total: int) -> Callable[[], None]:
    """Counts finished project years into ``progress`` as (done, total)."""
    done = itertools.count(1)

    def tick() -> None:
        if progress is not None:
            progress(next(done), total)

    return tick


def underwrite(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    progress: Progress | None = None,
) -> Underwritten:
    """The reference life, the drawn lives, and the summary: reference figures, P10/P50/P90."""
    if site.battery.capacity_kwh <= 0:
        raise ConfigError(
            "site_config.yaml: battery.capacity_kwh is 0 (no battery); underwriting values a "
            "battery, so give the site one"
        )
    options = run_config.underwriting
    draws = [drawn(options, life) for life in range(options.uncertainty.scenarios)]
    tick = _ticker(progress, (1 + len(draws)) * options.life_years)
    operations = operate_all(
        [
            (site, weather_year(timeseries, variant, run_config))
            for variant in range(options.weather_years)
        ],
        run_config,
    )
    highs = shared_highs(run_config)
    lives = [
        project_years(
            site, run_config, timeseries, assumed, tick, operations[assumed.weather_year], highs
        ).assign(life=number)
        for number, assumed in enumerate([central(options), *draws])
    ]
    summaries = [finance_summary(life, options) for life in lives]
    bounds = [finance_summary(perfect_view(life), options) for life in lives]
    rolling = run_config.rolling
    summary = {
        "life_years": options.life_years,
        "discount_rate_frac": options.discount_rate_frac,
        "tariff_escalation_frac_per_year": options.tariff_escalation_frac_per_year,
        "load_growth_frac_per_year": options.load_growth_frac_per_year,
        "capex_gbp": capex_gbp(site, options),
        "capacity_kwh": site.battery.capacity_kwh,
        "charge_power_max_kw": site.battery.charge_power_max_kw,
        "discharge_power_max_kw": site.battery.discharge_power_max_kw,
        "year_scaled_by": 1.0 / share_of_year(timeseries, run_config),
        "reference": summaries[0],
        "perfect_foresight_bound": bounds[0],
        "operation": {
            "forecast": rolling.forecast,
            "reoptimise_every_min": rolling.reoptimise_every_min,
            "horizon_h": rolling.horizon_h,
            "peak_quantile": rolling.peak_quantile,
            "captured_frac_by_weather_year": [o.captured_frac for o in operations],
            "worn_captured_frac_by_weather_year": [o.worn_captured_frac for o in operations],
            "worn_soh_frac": options.replacement_soh_frac,
            "ageing_on": "operated_soc_profile",
        },
        "weather_years": options.weather_years,
        "drawn_lives": len(draws),
        "uncertainty_sources": sources(options),
        "uncertainty": _spreads(summaries[1:]),
        "perfect_foresight_uncertainty": _spreads(bounds[1:]),
    }
    return Underwritten(years=pd.concat(lives, ignore_index=True), summary=summary)


MAX_SWEEP_SIZES = 400
"""Most battery sizes one sweep solves (each is a full-year solve)."""


def parse_sweep(specs: list[str]) -> dict[str, list[float]]:
    """``name=start:stop:step`` (stop included) or ``name=a,b,c`` per battery field."""
    sweep: dict[str, list[float]] = {}
    for spec in specs:
        name, _, values = spec.partition("=")
        if name not in SWEEPABLE or not values:
            raise ConfigError(
                f"--sweep {spec!r}: write NAME=START:STOP:STEP or NAME=A,B,C with NAME one of "
                f"{', '.join(SWEEPABLE)}"
            )
        try:
            if ":" in values:
                start, stop, step = (float(part) for part in values.split(":"))
                if not step > 0 or not stop >= start:
                    raise ValueError
                if (stop - start) / step + 1 > MAX_SWEEP_SIZES:
                    raise ConfigError(
                        f"--sweep {spec!r} asks for {(stop - start) / step + 1:.3g} sizes; give "
                        f"at most {MAX_SWEEP_SIZES} (a larger STEP or a narrower range)"
                    )
                sweep[name] = [float(v) for v in np.arange(start, stop + step / 2, step)]
            else:
                sweep[name] = [float(v) for v in values.split(",")]
        except ValueError:
            raise ConfigError(
                f"--sweep {spec!r}: START:STOP:STEP needs numbers with STEP > 0 and STOP >= START"
            ) from None
        if not all(0 < v <= SIZE_MAX for v in sweep[name]):
            raise ConfigError(
                f"--sweep {spec!r}: sizes must be positive numbers up to {SIZE_MAX:,.0f} "
                "(kWh or kW, as a site's battery)"
            )
    combinations = math.prod(len(values) for values in sweep.values())
    if combinations > MAX_SWEEP_SIZES:
        raise ConfigError(
            f"--sweep gives {combinations} size combinations; give at most {MAX_SWEEP_SIZES}"
        )
    return sweep


def sized(site: Site, size: dict[str, float]) -> Site:
    """``site`` with the battery's capacity and powers of ``size``."""
    update = {name: value for name, value in size.items() if name != "power_kw"}
    if "power_kw" in size:
        update |= {
            "charge_power_max_kw": size["power_kw"],
            "discharge_power_max_kw": size["power_kw"],
        }
    return site.model_copy(update={"battery": site.battery.model_copy(update=update)})


def sweep_sizes(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    sweep: dict[str, list[float]],
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Achievable NPV and the other figures of every size on the bundle's own year; the best.

    Each size is first operated (:func:`operate`, rolling runs of the bundle's year at that
    size, as new and worn); its project years' savings are the perfect-foresight ones times the
    share it keeps at their health and it ages on the operated SOC profile, so sizes are ranked
    on what their operation keeps; ``perfect_npv_gbp`` keeps the perfect-foresight savings.
    """
    names = list(sweep)
    sizes = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*sweep.values())]
    life = run_config.underwriting.life_years
    total = len(sizes) * life
    tick = _ticker(progress, total)
    highs = shared_highs(run_config)
    candidates = [sized(site, size) for size in sizes]
    operations = operate_all([(candidate, timeseries) for candidate in candidates], run_config)
    rows = []
    for size, candidate, operation in zip(sizes, candidates, operations, strict=True):
        years = project_years(
            candidate, run_config, timeseries, None, tick, operation=operation, highs=highs
        )
        figures = finance_summary(years, run_config.underwriting)
        bound = finance_summary(perfect_view(years), run_config.underwriting)
        rows.append(
            size
            | {"capex_gbp": capex_gbp(candidate, run_config.underwriting)}
            | {k: v for k, v in figures.items() if k != "soh_end_by_year_frac"}
            | {
                "captured_frac": operation.captured_frac,
                "worn_captured_frac": operation.worn_captured_frac,
                "perfect_npv_gbp": bound["npv_gbp"],
            }
        )
    table = pd.DataFrame(rows)
    best = table.loc[table["npv_gbp"].idxmax()].to_dict()
    return table, {key: (float(v) if isinstance(v, int | float) else v) for key, v in best.items()}
