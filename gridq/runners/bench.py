"""Benchmarks: GridQ's build and solve times against the same LP passed straight to highspy.

Each case runs in a fresh child process so that its peak memory is its own. Timings are wall
clock on whatever machine runs them; compare ratios measured in one run, not absolute times
across machines.
"""

import multiprocessing
import resource
import time
from typing import Any

import pandas as pd

from gridq.engine.forecast import PerfectForecast
from gridq.engine.model.build import build_model
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import highs_options
from gridq.engine.synth import SyntheticSeries, make_timeseries
from gridq.runners.backtest import optimise
from gridq.runners.rolling import rolling_backtest
from gridq.schemas import RunConfig, Site

CASE_DAYS = {"day": 1, "month": 30, "year": 365, "rolling_year": 365}


def _peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _single(site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> dict[str, Any]:
    from linopy.io import to_highspy

    optimised = optimise(site, run_config, timeseries)
    problem = make_problem(site, run_config, timeseries)
    model = build_model(problem)
    highs = to_highspy(model)
    for option, value in highs_options(problem.solver).items():
        highs.setOptionValue(option, value)
    raw_started = time.perf_counter()
    highs.run()
    raw_s = time.perf_counter() - raw_started
    raw_objective = highs.getInfo().objective_function_value
    return {
        "build_s": optimised.timings_s["build_s"],
        "solve_s": optimised.timings_s["solve_s"],
        "total_s": optimised.timings_s["build_s"] + optimised.timings_s["solve_s"],
        "raw_highspy_s": raw_s,
        "objective_gap": abs(raw_objective - optimised.solve_stats["objective_gbp"]),
    }


def _rolling(site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> dict[str, Any]:
    started = time.perf_counter()
    result = rolling_backtest(
        site,
        run_config,
        timeseries,
        PerfectForecast(timeseries),
        pd.Timedelta(days=1),
        pd.Timedelta(hours=48),
    )
    total = time.perf_counter() - started
    return {
        "build_s": None,
        "solve_s": result.timings_s["solve_s"],
        "total_s": total,
        "raw_highspy_s": None,
        "solves": result.solves,
    }


def run_case(
    case: str, site: Site, run_config: RunConfig, series: SyntheticSeries
) -> dict[str, Any]:
    """Time one case in this process; adds its steps and this process's peak memory."""
    days = CASE_DAYS[case]
    timeseries = make_timeseries(
        series.model_copy(update={"days": days}),
        site,
        run_config.timestep_min,
        run_config.tariff.local_timezone,
    )
    measured = (_rolling if case == "rolling_year" else _single)(site, run_config, timeseries)
    return {
        "case": case,
        "steps": len(timeseries),
        **measured,
        "peak_memory_mib": _peak_memory_mib(),
    }


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
