"""Long perfect-foresight runs in weekly windows: faster than one monolithic LP, within a gap.

The monolithic LP of a year is exact but its solve grows faster than linearly with its length.
Here each week is planned with two days of lookahead and the SOC carried into the next week,
on the fast path (:func:`gridq.engine.model.solve.solve_in_place`) in one HiGHS model:

1. a first pass floors each window's demand peaks at the month's peak realised so far, so an
   early week does not know what a later week will need;
2. a second pass floors every month's peak at what the first pass reached in that month, so no
   window pays to shave below a peak the month will set anyway.

The cheaper of the two dispatches under the run's bill is kept. Its cost is an upper bound on
the optimum; ``gridq bench`` measures the gap to the exact LP (``gridq backtest --exact``).
"""

import time

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.bill import CONSTANT_BILL_ITEMS, bill
from gridq.engine.checks import check_dispatch
from gridq.engine.forecast import PerfectForecast
from gridq.engine.model.solve import highs_options
from gridq.engine.tariff import CompiledTariff, compile_tariff
from gridq.runners.backtest import Optimised, optimise
from gridq.runners.rolling import rolling_backtest
from gridq.schemas import RunConfig, Site

WINDOW = pd.Timedelta(days=7)
LOOKAHEAD = pd.Timedelta(days=2)
EXACT_UP_TO = pd.Timedelta(days=92)
"""Runs up to a quarter long are solved exactly by default."""


def optimise_decomposed(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    tariff: CompiledTariff | None = None,
) -> Optimised:
    """Plan the run week by week in two passes; keep the cheaper dispatch.

    ``tariff``, if given, is the run's tariff already compiled for ``timeseries``.
    """
    started = time.perf_counter()
    tariff = compile_tariff(run_config.tariff, timeseries) if tariff is None else tariff
    degradation = site.battery.degradation_cost_gbp_per_kwh

    def run(targets: tuple[tuple[str, float], ...]) -> tuple[pd.DataFrame, float, int]:
        result = rolling_backtest(
            site,
            run_config,
            timeseries,
            PerfectForecast(timeseries),
            WINDOW,
            WINDOW + LOOKAHEAD,
            peak_targets_kw=targets,
            tariff=tariff,
        )
        return (
            result.dispatch,
            bill(result.dispatch, tariff, degradation).total_cost_gbp,
            result.solves,
        )

    first, first_cost_gbp, solves = run(())
    imports_kw = first[col.GRID_IMPORT_KW].to_numpy()
    targets = tuple(
        (period, float(peak_kw))
        for charge in tariff.demand_charges
        for period, peak_kw in zip(charge.period_names, charge.peaks_kw(imports_kw), strict=True)
    )
    passes = [(first, first_cost_gbp)]
    if targets:
        second, second_cost_gbp, _ = run(targets)
        passes.append((second, second_cost_gbp))
    chosen = int(np.argmin([cost for _, cost in passes]))
    dispatch = passes[chosen][0]
    its_bill = bill(dispatch, tariff, degradation)
    variable_cost_gbp = its_bill.total_cost_gbp - sum(
        getattr(its_bill, name) for name in CONSTANT_BILL_ITEMS
    )
    stats = {
        "solver": "highs",
        "method": "decomposed",
        "highs_options": highs_options(run_config.solver)
        | {"presolve": "off for LP windows updated in place"},
        "window_days": WINDOW.days,
        "lookahead_days": LOOKAHEAD.days,
        "windows_per_pass": solves,
        "passes_total_cost_gbp": [cost for _, cost in passes],
        "chosen_pass": chosen + 1,
        "steps": len(timeseries),
        "objective_gbp": variable_cost_gbp,
        "optimality_gap": "an upper bound; gridq bench measures the gap to --exact",
        "bill_gbp": its_bill.as_dict(),
        "constant_terms_gbp": {name: getattr(its_bill, name) for name in CONSTANT_BILL_ITEMS},
        "checks": check_dispatch(dispatch, site.battery),
    }
    return Optimised(
        dispatch=dispatch,
        solve_stats=stats,
        timings_s={"build_s": 0.0, "solve_s": time.perf_counter() - started},
    )


def optimise_run(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    exact: bool = False,
    tariff: CompiledTariff | None = None,
) -> Optimised:
    """The monolithic LP up to :data:`EXACT_UP_TO` or when ``exact``; else weekly windows."""
    index = pd.DatetimeIndex(timeseries.index)
    if exact or index[-1] - index[0] < EXACT_UP_TO:
        return optimise(site, run_config, timeseries, tariff)
    return optimise_decomposed(site, run_config, timeseries, tariff)
