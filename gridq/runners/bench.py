"""Benchmarks: GridQ's times against the same LPs passed straight to highspy.

Single runs compare GridQ's exact solve, end to end (LP arrays, HiGHS with GridQ's options,
dispatch, bill, checks), with the same LP built independently by linopy and solved by raw
highspy with HiGHS's default options, and report the cost gap between the two optima. Rolling runs
compare GridQ's whole loop (forecast, build, solve, settle) with the same sequence of LPs
solved by a twin highspy model as a plain loop would: updated in place where the structure
allows, passed anew from no basis where it changes (GridQ starts those from its last basis).
Peak memory is GridQ's, taken before the reference runs.

Each case runs in a fresh child process so that its peak memory is its own. Timings are wall
clock on whatever machine runs them; compare ratios measured in one run, not absolute times
across machines.
"""

import multiprocessing
import resource
import time
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.forecast import PerfectForecast, make_provider
from gridq.engine.model.build import build_model
from gridq.engine.model.emit import MatrixLP
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import highs_options
from gridq.engine.run import backtest_rolling, optimise
from gridq.engine.synth import SyntheticSeries, make_timeseries
from gridq.engine.timeseries import check_timeseries
from gridq.engine.windows import rolling_backtest
from gridq.errors import InputError
from gridq.schemas import Battery, GridConnection, RunConfig, Site
from gridq.schemas.tariff import DemandCharge, Tariff

CASE_DAYS = {
    "day": 1,
    "month": 30,
    "year": 365,
    "random_year": 365,
    "rolling_year": 365,
    "rolling_year_30min": 365,
    "rolling_year_learned": 365,
}
DEFAULT_CASES = ("day", "month", "year", "random_year", "rolling_year")
RANDOM_YEAR_SEED = 101
REOPTIMISE_EVERY = {
    "rolling_year": pd.Timedelta(days=1),
    "rolling_year_30min": pd.Timedelta("30min"),
    "rolling_year_learned": pd.Timedelta(days=1),
}
LEARNED_CASES = ("rolling_year_learned",)
"""Rolling cases planned from the learned forecast (its training timed) instead of the actuals."""


STEPS_PER_DAY = 96


def random_site_year(seed: int) -> tuple[Site, RunConfig, pd.DataFrame]:
    """A seeded site-year unlike the examples, with random sizes and rates.

    Noisy load with daily and seasonal shape, PV, dynamic prices, an export limit, and monthly
    plus weekday-evening (30-minute) demand charges. Tests hold GridQ to an independent LP on
    these years.
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range(
        "2025-01-01", periods=365 * STEPS_PER_DAY, freq="15min", tz="UTC", name=col.TIMESTAMP
    )
    hour = index.hour + index.minute / 60
    day = np.asarray(index.day_of_year)
    base_kw = rng.uniform(40, 200)
    load_kw = base_kw * (
        1
        + 0.4 * np.sin(np.pi * np.clip(hour - 7, 0, 12) / 12)
        + 0.15 * np.cos(2 * np.pi * day / 365)
        + rng.normal(0, 0.12, len(index))
    )
    pv_peak_kw = rng.uniform(0, 1.5) * base_kw
    daylight = np.clip(np.sin(np.pi * (hour - 6) / 12), 0, None)
    pv_kw = (
        pv_peak_kw
        * daylight
        * rng.uniform(0.2, 1.0, len(index))
        * (0.6 + 0.4 * np.sin(np.pi * day / 365))
    )
    import_price = 0.12 + 0.1 * (hour >= 16) * (hour < 19) + rng.normal(0, 0.03, len(index))
    frame = pd.DataFrame(
        {
            col.LOAD_KW: np.clip(load_kw, 0, None),
            col.PV_KW: pv_kw,
            col.IMPORT_PRICE: import_price,
            col.EXPORT_PRICE: np.clip(import_price - rng.uniform(0.03, 0.1), 0, None),
        },
        index=index,
    )
    power_kw = rng.uniform(0.2, 0.8) * base_kw
    site = Site(
        name=f"random_{seed}",
        latitude_deg=52.0,
        longitude_deg=-1.0,
        battery=Battery(
            capacity_kwh=power_kw * rng.uniform(1, 4),
            charge_power_max_kw=power_kw,
            discharge_power_max_kw=power_kw,
            charge_efficiency_frac=rng.uniform(0.9, 0.98),
            discharge_efficiency_frac=rng.uniform(0.9, 0.98),
            initial_soc_frac=0.5,
            degradation_cost_gbp_per_kwh=rng.uniform(0, 0.02),
        ),
        grid=GridConnection(export_limit_kw=rng.uniform(0.2, 1.0) * base_kw),
    )
    tariff = Tariff(
        energy="timeseries",
        export="timeseries",
        demand_charges=(
            DemandCharge(name="monthly", rate_gbp_per_kw=rng.uniform(2, 15)),
            DemandCharge(
                name="evening",
                rate_gbp_per_kw=rng.uniform(1, 8),
                start_local="16:00",
                end_local="19:00",
                days="weekdays",
                averaging_min=30,
            ),
        ),
    )
    return site, RunConfig(tariff=tariff), check_timeseries(frame, 15)


def _peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _RawTwin:
    """Solves each LP GridQ solved again, in a second in-place model with nothing of GridQ around.

    The twin is the plain loop: a model whose structure changed starts from no basis.

    Its time is the raw highspy in-place loop on the same LPs; it is subtracted from GridQ's
    wall time. Solving side by side keeps memory flat, where recording 17,520 LPs for a later
    replay would not.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self.twin = InPlaceHighs(options, carry_basis=False)
        self.raw_s = 0.0

    def __call__(self, lp: MatrixLP) -> None:
        started = time.perf_counter()
        self.twin.solve(lp)
        self.raw_s += time.perf_counter() - started


def _single(site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> dict[str, Any]:
    from linopy.io import to_highspy

    started = time.perf_counter()
    optimised = optimise(site, run_config, timeseries)
    total_s = time.perf_counter() - started
    peak_mib = _peak_memory_mib()
    highs = to_highspy(build_model(make_problem(site, run_config, timeseries)))
    highs.silent()
    highs.setOptionValue("random_seed", 0)
    raw_started = time.perf_counter()
    highs.run()
    raw_s = time.perf_counter() - raw_started
    stats = optimised.solve_stats
    exact_gbp = highs.getInfo().objective_function_value + sum(stats["constant_terms_gbp"].values())
    return {
        "method": "exact",
        "build_s": optimised.timings_s["build_s"],
        "solve_s": optimised.timings_s["solve_s"],
        "total_s": total_s,
        "raw_highspy_s": raw_s,
        "gap_frac": (stats["bill_gbp"]["total_cost_gbp"] - exact_gbp) / abs(exact_gbp),
        "peak_memory_mib": peak_mib,
    }


def _rolling(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    every: pd.Timedelta,
    learned: bool = False,
) -> dict[str, Any]:
    twin = _RawTwin(highs_options(run_config.solver))
    highs = InPlaceHighs(highs_options(run_config.solver), after_solve=twin)
    started = time.perf_counter()
    provider = (
        make_provider("learned", timeseries, site, run_config)
        if learned
        else PerfectForecast(timeseries)
    )
    result = rolling_backtest(
        site,
        run_config,
        timeseries,
        provider,
        every,
        pd.Timedelta(hours=48),
        highs=highs,
    )
    total = time.perf_counter() - started - twin.raw_s
    method = "rolling 48 h"
    if learned:
        training_s = getattr(provider, "training_s", 0.0)
        method += f", learned: training {training_s:.1f} s ({training_s / total:.0%})"
    return {
        "method": method,
        "build_s": result.timings_s["build_s"],
        "solve_s": result.timings_s["solve_s"] - twin.raw_s,
        "total_s": total,
        "raw_highspy_s": twin.raw_s,
        "gap_frac": None,
        "solves": result.solves,
        "peak_memory_mib": _peak_memory_mib(),
    }


def run_case(
    case: str, site: Site, run_config: RunConfig, series: SyntheticSeries, days: int | None = None
) -> dict[str, Any]:
    """Time one case (over ``days`` instead of the case's own, if given) in this process."""
    timeseries = make_timeseries(
        series.model_copy(update={"days": CASE_DAYS[case] if days is None else days}),
        site,
        run_config.timestep_min,
        run_config.tariff.local_timezone,
        run_config.tariff.bank_holidays,
    )
    if case == "random_year":
        site, run_config, timeseries = random_site_year(RANDOM_YEAR_SEED)
    if case in REOPTIMISE_EVERY:
        measured = _rolling(
            site, run_config, timeseries, REOPTIMISE_EVERY[case], case in LEARNED_CASES
        )
    else:
        measured = _single(site, run_config, timeseries)
    return {"case": case, "steps": len(timeseries), **measured}


def run_cases(
    cases: list[str], site: Site, run_config: RunConfig, series: SyntheticSeries
) -> list[dict[str, Any]]:
    """Each case in its own child process, in order."""
    context = multiprocessing.get_context("spawn")
    rows = []
    for case in cases:
        with context.Pool(1) as pool:
            rows.append(pool.apply(run_case, (case, site, run_config, series)))
    return rows


VALUE_FORECASTS = (
    "perfect",
    "persistence_day",
    "persistence_week",
    "seasonal_naive",
    "learned",
)
"""The providers the value table compares (``replay`` needs the bundle's own vintages)."""


def value_rows(
    name: str, site: Site, run_config: RunConfig, series: SyntheticSeries
) -> list[dict[str, Any]]:
    """Each provider's rolling run of one example over its own period.

    Cadence and horizon are the run_config's. Rows hold the captured share of perfect-foresight
    savings, load MAE, solves and wall time; a provider whose warm-up the period cannot hold
    gets a row with the reason.
    """
    timeseries = make_timeseries(
        series,
        site,
        run_config.timestep_min,
        run_config.tariff.local_timezone,
        run_config.tariff.bank_holidays,
    )
    rows = []
    for forecast in VALUE_FORECASTS:
        config = run_config.model_copy(
            update={"rolling": run_config.rolling.model_copy(update={"forecast": forecast})}
        )
        started = time.perf_counter()
        try:
            run = backtest_rolling(
                site, config, timeseries, make_provider(forecast, timeseries, site, config)
            )
        except InputError as error:
            rows.append({"site": name, "forecast": forecast, "skipped": str(error)})
            continue
        metrics = run.metrics
        rows.append(
            {
                "site": name,
                "forecast": forecast,
                "captured_frac": metrics["captured_frac"],
                "savings_gbp": metrics["savings_gbp"],
                "perfect_savings_gbp": metrics["perfect_foresight"]["savings_gbp"],
                "load_mae_kw": metrics["forecast_error"]["load_kw"]["mae_kw"],
                "solves": metrics["solves"],
                "wall_s": time.perf_counter() - started,
            }
        )
    return rows
