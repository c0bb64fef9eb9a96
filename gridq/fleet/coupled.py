"""A coupled fleet: sites behind one shared connection, solved exactly as one LP per scenario.

Every site still gets a normal run bundle: its inputs, its share of the joint optimum as
``dispatch.parquet``, its own baseline and metrics. Its baseline runs alone, as it would
without the fleet (it may break the shared limit; the optimised dispatch never does).
"""

import time
from typing import Any

from gridq.engine.metrics import summarise
from gridq.engine.model.joint import SharedConnection, solve_joint
from gridq.engine.model.problem import make_problem
from gridq.engine.run import backtest_of, with_summary
from gridq.errors import GridqError
from gridq.fleet.tasks import Task, record
from gridq.io import bundle as io
from gridq.io import fleet as fleet_io
from gridq.runners.backtest import publish_backtest
from gridq.schemas.fleet import Coupling, Fleet

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


def run_coupled(
    fleet: Fleet, coupling: Coupling, tasks: list[Task], progress: Any = None
) -> list[dict[str, Any]]:
    """Solve each scenario's sites as one LP under ``coupling``; a row per task, in order."""
    shared = SharedConnection(coupling.import_limit_kw, coupling.export_limit_kw)
    rows: dict[str, dict[str, Any]] = {}
    for scenario in fleet.scenarios:
        group = [task for task in tasks if task.scenario == scenario.name]
        started = time.perf_counter()
        try:
            inputs = [fleet_io.task_inputs(task.configs()) for task in group]
            problems = [make_problem(i.site, i.run_config, i.timeseries) for i in inputs]
            joint = solve_joint(problems, shared)
        except GridqError as error:
            rows |= {
                task.key: _failed(task, f"scenario '{scenario.name}': {error}") for task in group
            }
            continue
        solve_s = time.perf_counter() - started
        limits = {
            "import_limit_kw": coupling.import_limit_kw,
            "export_limit_kw": coupling.export_limit_kw,
        }
        for task, its_inputs, problem, dispatch in zip(
            group, inputs, problems, joint.dispatches, strict=True
        ):
            summary = summarise(dispatch, problem)
            stats = with_summary(
                {
                    "path": "joint",
                    "termination_condition": joint.stats["termination_condition"],
                    "shared_connection": limits,
                    "fleet_solve": joint.stats,
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
    return [rows[task.key] for task in tasks]
