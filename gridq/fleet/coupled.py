"""A coupled fleet: sites behind one shared connection, solved together per scenario.

Exactly as one LP (``coupling.method: joint``), or by decomposition (``decomposed``): each
site's LP lives in a Dask actor on a worker and re-solves from its last basis as the prices on
the shared limits change (:mod:`gridq.engine.model.decompose`). The fleet's flexibility events
tighten the shared import limit over their windows (firm delivery).

Every site still gets a normal run bundle: its inputs, its share of the fleet's optimum as
``dispatch.parquet``, its own baseline and metrics. Its baseline runs alone, as it would
without the fleet (it may break the shared limit; the optimised dispatch never does).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridq import conventions as col
from gridq.engine.metrics import summarise
from gridq.engine.model.decompose import Proposal, SitePricer, solve_decomposed
from gridq.engine.model.joint import SharedConnection, solve_joint
from gridq.engine.model.problem import DispatchProblem, make_problem
from gridq.engine.run import backtest_of, with_summary
from gridq.errors import ConfigError, GridqError
from gridq.fleet.tasks import Task, record
from gridq.io import bundle as io
from gridq.io import fleet as fleet_io
from gridq.runners.backtest import publish_backtest
from gridq.schemas.fleet import Coupling, Fleet


@dataclass
class CoupledRun:
    """The task rows, and per scenario the fleet solve's facts and its events' outcome."""

    rows: list[dict[str, Any]]
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    profiles: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per scenario: the sites' summed import and the shared import limit per step [kW]."""


class DaskSites:
    """The decomposition's site pricers as Dask actors, one per site, spread over the workers."""

    def __init__(self, client: Any, problems: Sequence[DispatchProblem]) -> None:
        """Start an actor per site (its LP built and kept on its worker)."""
        self._futures = [client.submit(SitePricer, p, actor=True) for p in problems]
        self.actors = [future.result() for future in self._futures]

    def propose(self, import_price: np.ndarray, export_price: np.ndarray) -> list[Proposal]:
        """Every site's proposal under the prices, solved in parallel."""
        calls = [actor.propose(import_price, export_price) for actor in self.actors]
        return [call.result() for call in calls]

    def settle(
        self, import_cap_kw: np.ndarray, export_cap_kw: np.ndarray
    ) -> list[tuple[pd.DataFrame, float]]:
        """Every site settled under its row of the caps, in parallel."""
        calls = [
            actor.settle(import_cap_kw[site], export_cap_kw[site])
            for site, actor in enumerate(self.actors)
        ]
        return [call.result() for call in calls]


def shared_connection(coupling: Coupling, index: pd.DatetimeIndex) -> SharedConnection:
    """The coupling's limits per step, each event's window tightening the import limit."""
    import_limit_kw = np.full(len(index), np.inf)
    if coupling.import_limit_kw is not None:
        import_limit_kw[:] = coupling.import_limit_kw
    for event in coupling.flexibility_events:
        inside = (index >= event.start_utc) & (index < event.end_utc)
        if not inside.any():
            raise ConfigError(
                f"coupling.flexibility_events: '{event.name}' covers no step of the run "
                f"({index[0]:%Y-%m-%dT%H:%MZ} to {index[-1]:%Y-%m-%dT%H:%MZ}); move it or "
                "remove it"
            )
        import_limit_kw[inside] = np.minimum(
            import_limit_kw[inside], event.baseline_import_kw - event.reduction_kw
        )
    return SharedConnection(
        import_limit_kw if np.isfinite(import_limit_kw).any() else None,
        coupling.export_limit_kw,
    )


def event_outcomes(
    coupling: Coupling, index: pd.DatetimeIndex, total_import_kw: np.ndarray, dt_h: float
) -> list[dict[str, Any]]:
    """Each fleet event: the reduction committed and delivered, and what it pays."""
    outcomes = []
    for event in coupling.flexibility_events:
        inside = (index >= event.start_utc) & (index < event.end_utc)
        hours = float(inside.sum() * dt_h)
        outcomes.append(
            {
                "name": event.name,
                "committed_kwh": event.reduction_kw * hours,
                "least_reduction_kw": float(
                    event.baseline_import_kw - total_import_kw[inside].max()
                ),
                "revenue_gbp": event.reduction_kw * hours * event.price_gbp_per_kwh,
            }
        )
    return outcomes


COMMAND = "fleet run (shared connection)"


def _failed(task: Task, error: str) -> dict[str, Any]:
    return {
        "site": task.site,
        "scenario": task.scenario,
        "status": "failed",
        "error": error,
        "resumed": False,
        "task_s": None,
        "solve_s": None,
    }


def _solve(
    coupling: Coupling, problems: list[DispatchProblem], shared: SharedConnection, client: Any
) -> tuple[list[pd.DataFrame], dict[str, Any]]:
    if coupling.method == "joint":
        joint = solve_joint(problems, shared)
        return joint.dispatches, joint.stats
    decomposed = solve_decomposed(
        problems,
        shared,
        DaskSites(client, problems),
        gap_frac=coupling.gap_frac,
        max_rounds=coupling.max_rounds,
    )
    return decomposed.dispatches, decomposed.stats


def run_coupled(
    fleet: Fleet, coupling: Coupling, tasks: list[Task], client: Any = None, progress: Any = None
) -> CoupledRun:
    """Solve each scenario's sites together under ``coupling``; a row per task, in order.

    ``client`` (a Dask client) runs the decomposition's site LPs; the joint LP needs none.
    """
    run = CoupledRun(rows=[])
    rows: dict[str, dict[str, Any]] = {}
    for scenario in fleet.scenarios:
        group = [task for task in tasks if task.scenario == scenario.name]
        started = time.perf_counter()
        try:
            inputs = [fleet_io.task_inputs(task.configs()) for task in group]
            problems = [make_problem(i.site, i.run_config, i.timeseries) for i in inputs]
            shared = shared_connection(coupling, problems[0].time_index)
            dispatches, fleet_stats = _solve(coupling, problems, shared, client)
        except GridqError as error:
            rows |= {
                task.key: _failed(task, f"scenario '{scenario.name}': {error}") for task in group
            }
            continue
        solve_s = time.perf_counter() - started
        index = problems[0].time_index
        total_import_kw = np.sum([d[col.GRID_IMPORT_KW].to_numpy() for d in dispatches], axis=0)
        run.profiles[scenario.name] = pd.DataFrame(
            {
                "import_kw": total_import_kw,
                "import_limit_kw": np.broadcast_to(
                    np.inf if shared.import_limit_kw is None else shared.import_limit_kw,
                    len(index),
                ),
            },
            index=index,
        )
        run.scenarios[scenario.name] = {
            "solve": {
                key: fleet_stats.get(key)
                for key in ("path", "objective_gbp", "bound_gbp", "gap_frac", "rounds")
            },
            "peak_import_kw": float(np.max(total_import_kw)),
            "flexibility_events": event_outcomes(
                coupling, index, total_import_kw, problems[0].dt_h
            ),
        }
        limits = {
            "import_limit_kw": coupling.import_limit_kw,
            "export_limit_kw": coupling.export_limit_kw,
        }
        for task, its_inputs, problem, dispatch in zip(
            group, inputs, problems, dispatches, strict=True
        ):
            summary = summarise(dispatch, problem)
            stats = with_summary(
                {
                    "path": fleet_stats["path"],
                    "termination_condition": fleet_stats.get("termination_condition", "optimal"),
                    "shared_connection": limits,
                    "fleet_solve": fleet_stats,
                },
                summary,
            )
            done = backtest_of(
                problem,
                its_inputs.run_config.baseline,
                summary,
                dispatch,
                stats,
                {"solve_s": solve_s},
            )
            bundle = task.bundle
            if not fleet_io.holds_inputs(bundle, its_inputs):
                io.write_inputs(
                    bundle, its_inputs.site, its_inputs.run_config, its_inputs.timeseries
                )
            with io.locked(bundle):
                publish_backtest(bundle, its_inputs, done, COMMAND)
            rows[task.key] = record(task, done.metrics, stats) | {
                "resumed": False,
                "task_s": time.perf_counter() - started,
                "solve_s": solve_s,
            }
            if progress is not None:
                progress(len(rows), 0, len(tasks))
    run.rows = [rows[task.key] for task in tasks]
    return run
