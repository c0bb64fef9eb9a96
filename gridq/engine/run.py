"""A whole run: optimise it at once (perfect foresight), its baselines, metrics and bill."""

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from linopy import Model

from gridq.engine.baseline import baseline_dispatch, no_battery
from gridq.engine.bill import CONSTANT_BILL_ITEMS, Bill, bill
from gridq.engine.checks import check_dispatch
from gridq.engine.metrics import compute_metrics
from gridq.engine.model.build import build_model
from gridq.engine.model.inplace import InPlaceHighs
from gridq.engine.model.problem import make_problem
from gridq.engine.model.solve import solve_in_place
from gridq.engine.tariff import CompiledTariff, compile_tariff
from gridq.errors import InputError
from gridq.schemas import RunConfig, Site


@dataclass(frozen=True)
class Optimised:
    """The optimal dispatch, deterministic solve facts, and wall-clock timings [s]."""

    dispatch: pd.DataFrame
    solve_stats: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)


def optimise(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    tariff: CompiledTariff | None = None,
    highs: InPlaceHighs | None = None,
) -> Optimised:
    """Solve the dispatch LP of the whole run; report the bill's terms and the physics checks.

    It solves the LP's arrays in place (:func:`solve_in_place`); the emitter test holds them to
    the linopy model of the same description. A caller solving runs of one shape in turn (the
    years of a project) passes one ``highs`` so each starts from the last optimal basis.
    """
    started = time.perf_counter()
    problem = make_problem(site, run_config, timeseries, tariff)
    built = time.perf_counter()
    result = solve_in_place(problem, highs)
    solved = time.perf_counter()
    its_bill = bill(result.dispatch, problem.tariff, site.battery.degradation_cost_gbp_per_kwh)
    constants = {name: getattr(its_bill, name) for name in CONSTANT_BILL_ITEMS}
    stats = result.stats | {
        "bill_gbp": its_bill.as_dict(),
        "constant_terms_gbp": constants,
        "checks": check_dispatch(result.dispatch, site.battery),
    }
    timings = {"build_s": built - started, "solve_s": solved - built}
    return Optimised(dispatch=result.dispatch, solve_stats=stats, timings_s=timings)


def lp_model(site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> Model:
    """The linopy model of the whole run's LP, the one :func:`optimise` solves as arrays."""
    return build_model(make_problem(site, run_config, timeseries))


def run_baseline(site: Site, run_config: RunConfig, timeseries: pd.DataFrame) -> pd.DataFrame:
    """The run's configured baseline dispatch."""
    return baseline_dispatch(make_problem(site, run_config, timeseries), run_config.baseline)


def run_metrics(
    site: Site,
    run_config: RunConfig,
    timeseries: pd.DataFrame,
    dispatch: pd.DataFrame,
    baseline: pd.DataFrame,
) -> dict[str, Any]:
    """Compute metrics.json for ``dispatch``.

    It is compared with the configured baseline and with the site without a battery.
    """
    problem = make_problem(site, run_config, timeseries)
    baselines: dict[str, pd.DataFrame] = {run_config.baseline: baseline}
    if run_config.baseline != "no_battery":
        baselines["no_battery"] = no_battery(problem)
    return compute_metrics(
        dispatch,
        baselines,
        run_config.baseline,
        problem.tariff,
        site.battery,
        run_config.tariff.local_timezone,
    )


def price_dispatch(
    site: Site, run_config: RunConfig, timeseries: pd.DataFrame, flows: pd.DataFrame
) -> Bill:
    """The bill of ``flows`` (a dispatch or meter table) under the bundle's tariff.

    ``flows`` must cover exactly the bundle's timestamps.
    """
    if not pd.DatetimeIndex(flows.index).equals(pd.DatetimeIndex(timeseries.index)):
        raise InputError(
            f"the dispatch covers {flows.index[0]:%Y-%m-%dT%H:%MZ} to "
            f"{flows.index[-1]:%Y-%m-%dT%H:%MZ} ({len(flows)} steps) but the bundle's timeseries "
            f"{timeseries.index[0]:%Y-%m-%dT%H:%MZ} to {timeseries.index[-1]:%Y-%m-%dT%H:%MZ} "
            f"({len(timeseries)} steps); price it with a bundle of the same period"
        )
    tariff = compile_tariff(run_config.tariff, timeseries)
    return bill(flows, tariff, site.battery.degradation_cost_gbp_per_kwh)
