"""One fleet task: a site under a scenario, written as a normal run bundle.

A task runs wherever Dask puts it. It resolves its inputs, and if its bundle already holds
those inputs with outputs whose lineage holds, it reads the result instead of solving again
(a resumed fleet run). Otherwise it writes the inputs and calls the backtest of
``gridq backtest`` under the bundle's lock. Bad input is a failed record with its one-line
error, never an exception that would stop the fleet.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridq.errors import GridqError
from gridq.io import bundle as io
from gridq.io import files, lineage
from gridq.io import fleet as fleet_io
from gridq.io.files import os_message
from gridq.runners.backtest import backtest_bundle, backtest_command
from gridq.schemas.fleet import Fleet

SITES_FOLDER = "sites"


@dataclass(frozen=True)
class Task:
    """Site ``site`` under scenario ``scenario`` of the fleet in ``fleet_file``."""

    fleet_file: Path
    fleet: Fleet
    site: str
    scenario: str
    out: Path

    @property
    def key(self) -> str:
        """The task's name: ``site/scenario``."""
        return f"{self.site}/{self.scenario}"

    @property
    def bundle(self) -> Path:
        """The task's run bundle."""
        return self.out / SITES_FOLDER / self.site / self.scenario

    def configs(self) -> fleet_io.TaskConfigs:
        """The task's validated configs."""
        site = next(s for s in self.fleet.sites if s.name == self.site)
        scenario = next(s for s in self.fleet.scenarios if s.name == self.scenario)
        return fleet_io.task_configs(self.fleet_file, self.fleet, site, scenario)


def tasks_of(fleet_file: Path, fleet: Fleet, out: Path) -> list[Task]:
    """Every site under every scenario, sites first."""
    return [
        Task(fleet_file, fleet, site.name, scenario.name, out)
        for site in fleet.sites
        for scenario in fleet.scenarios
    ]


def _finished(bundle: Path, inputs: io.BundleInputs, command: str) -> bool:
    """The bundle holds ``inputs`` and metrics ``command`` made, whose lineage chain holds."""
    try:
        made_by = (lineage.read_record(bundle / io.METRICS) or {}).get("command")
    except (GridqError, OSError):
        return False
    return made_by == command and fleet_io.holds_inputs(bundle, inputs) and not io.verify(bundle)


def record(task: Task, metrics: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """The task's row of the fleet's results table."""
    optimised = metrics["optimised"]
    baseline = metrics["baselines"][metrics["baseline"]]
    perfect = stats.get("perfect_foresight", stats)
    return {
        "site": task.site,
        "scenario": task.scenario,
        "status": "ok",
        "error": None,
        "baseline": metrics["baseline"],
        "savings_gbp": metrics["savings_gbp"],
        "optimised_total_cost_gbp": optimised["bill"]["total_cost_gbp"],
        "baseline_total_cost_gbp": baseline["bill"]["total_cost_gbp"],
        "equivalent_full_cycles": optimised["battery"]["equivalent_full_cycles"],
        "captured_frac": metrics.get("captured_frac"),
        "solve_status": perfect.get("termination_condition"),
    }


def run_task(task: Task) -> dict[str, Any]:
    """Run ``task``; its row, with ``resumed`` and the wall time ``task_s`` and ``solve_s``."""
    started = time.perf_counter()
    try:
        inputs = fleet_io.task_inputs(task.configs())
        bundle = task.bundle
        resumed = _finished(bundle, inputs, backtest_command(task.fleet.runner.mode))
        if not resumed:
            bundle.mkdir(parents=True, exist_ok=True)
            with io.locked(bundle):
                if not fleet_io.holds_inputs(bundle, inputs):
                    io.write_inputs(bundle, inputs.site, inputs.run_config, inputs.timeseries)
                backtest_bundle(bundle, inputs, task.fleet.runner.mode)
        metrics = files.read_json(bundle / io.METRICS)
        stats = files.read_json(bundle / io.SOLVE_STATS)
        timings = files.read_json(bundle / io.TIMINGS) if (bundle / io.TIMINGS).is_file() else {}
        row = record(task, metrics, stats) | {"resumed": resumed}
        solve_s = timings.get("solve_s")
    except (GridqError, OSError) as error:
        message = str(error) if isinstance(error, GridqError) else os_message(error)
        row = {"site": task.site, "scenario": task.scenario, "status": "failed"}
        row |= {"error": message, "resumed": False}
        solve_s = None
    return row | {"task_s": time.perf_counter() - started, "solve_s": solve_s}
