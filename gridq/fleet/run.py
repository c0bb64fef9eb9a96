"""``gridq fleet run``: every task of a fleet on Dask, then the fleet's results.

By default an embedded ``dask.distributed`` LocalCluster (one single-threaded worker process
per core); with a scheduler address, any cluster that runs the same GridQ. Every task is
checked before anything is written or any cluster is asked, so a bad fleet file fails whole.
A worker that dies takes no result with it: the scheduler runs its tasks elsewhere. A rerun
skips every task whose bundle already holds its result (see :mod:`gridq.fleet.tasks`). A fleet
behind a shared connection is solved as one LP per scenario instead (:mod:`gridq.fleet.coupled`).
"""

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridq.errors import ConfigError
from gridq.fleet.coupled import run_coupled
from gridq.fleet.tasks import Task, run_task, tasks_of
from gridq.io import fleet as fleet_io
from gridq.report.fleet import build_fleet_report

CONNECT_TIMEOUT_S = 10
WORKER_MALLOC_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
FleetProgress = Callable[[int, int, int], None]
"""Called with (tasks done, of which failed, tasks in all) as each task finishes."""


@dataclass(frozen=True)
class FleetRun:
    """The rows of the results table (sites in fleet order, then scenarios) and the summary."""

    rows: list[dict[str, Any]]
    metrics: dict[str, Any]


CONNECT_ERRORS = (OSError, TimeoutError, ValueError, MemoryError)
"""What a failed connection raises (MemoryError: a non-Dask server's bytes read as a length)."""


def _connect(client_class: Any, scheduler: str) -> Any:
    """A client of the scheduler at ``scheduler``, or one line saying why there is none.

    Something other than Dask on that port can make the handshake read garbage as a frame
    length (a MemoryError) or wait forever, so the attempt runs in a thread with a deadline.
    """
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["client"] = client_class(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except BaseException as error:  # kept for the caller: a thread must not print its own
            outcome["error"] = error

    thread = threading.Thread(target=attempt, name="gridq-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S + 5)
    if "client" in outcome:
        return outcome["client"]
    error = outcome.get("error")
    if error is not None and not isinstance(error, CONNECT_ERRORS):
        raise error
    if error is None:
        reason = f"nothing answered the handshake within {CONNECT_TIMEOUT_S + 5} s"
    elif isinstance(error, MemoryError):
        reason = "something other than a Dask scheduler answered"
    else:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise ConfigError(
        f"--scheduler {scheduler}: no Dask scheduler answered ({reason}); check the address "
        "(e.g. tcp://host:8786), or leave --scheduler out to run on a local cluster"
    )


@contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster of ``workers`` processes."""
    import dask
    from distributed import Client, LocalCluster

    from gridq.fleet.worker_setup import QuietHighs

    if scheduler is not None:
        client = _connect(Client, scheduler)
        client.register_plugin(QuietHighs())
        try:
            yield client
        finally:
            client.close()
        return
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which also stops glibc from
    # raising its mmap threshold: HiGHS then took four times the page faults and 35% longer
    # (a full-year office, 5.1 s against 6.8 s), worse with two workers faulting at once.
    with dask.config.set({WORKER_MALLOC_TRIM: None}):
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            # Any free port: 8787 may belong to another run (None still means 8787).
            dashboard_address=":0",
            # A task's failure comes back as its row and a lost worker's tasks are rerun, so
            # Dask's own logs add only noise, such as a heartbeat to a scheduler already closing.
            silence_logs=logging.CRITICAL,
        )
    client = Client(cluster)
    client.register_plugin(QuietHighs())
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _lost(task: Task, error: BaseException) -> dict[str, Any]:
    """The row of a task Dask could not finish (its workers kept dying)."""
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return {
        "site": task.site,
        "scenario": task.scenario,
        "status": "failed",
        "error": f"the task was lost ({type(error).__name__}: {reason}); rerun the fleet",
        "resumed": False,
        "task_s": None,
        "solve_s": None,
    }


def run_tasks(
    client: Any, tasks: list[Task], progress: FleetProgress | None = None
) -> list[dict[str, Any]]:
    """Run ``tasks`` on ``client``'s cluster; their rows in the order of ``tasks``."""
    from distributed import as_completed

    futures = {
        client.submit(run_task, task, key=f"gridq-fleet-{task.key}-{os.urandom(4).hex()}"): task
        for task in tasks
    }
    rows: dict[str, dict[str, Any]] = {}
    failed = 0
    for future in as_completed(futures):
        task = futures[future]
        try:
            row = future.result()
        except Exception as error:  # noqa: BLE001 - a lost task is a failed row, not a crash
            row = _lost(task, error)
        rows[task.key] = row
        failed += row["status"] != "ok"
        if progress is not None:
            progress(len(rows), failed, len(tasks))
    return [rows[task.key] for task in tasks]


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p10": None, "p50": None, "p90": None, "mean": None}
    return {
        "p10": float(np.quantile(values, 0.1)),
        "p50": float(np.quantile(values, 0.5)),
        "p90": float(np.quantile(values, 0.9)),
        "mean": float(np.mean(values)),
    }


def fleet_metrics(name: str, rows: list[dict[str, Any]], scenarios: list[str]) -> dict[str, Any]:
    """fleet_metrics.json: per scenario, the savings spread and totals; every failure."""
    by_scenario = {}
    for scenario in scenarios:
        done = [r for r in rows if r["scenario"] == scenario and r["status"] == "ok"]
        savings = [r["savings_gbp"] for r in done]
        captured = [r["captured_frac"] for r in done if r.get("captured_frac") is not None]
        by_scenario[scenario] = {
            "sites": len(done),
            "total_savings_gbp": float(np.sum(savings)) if savings else 0.0,
            "savings_gbp": _spread(savings),
            "captured_frac": _spread(captured),
        }
    return {
        "fleet": name,
        "tasks": len(rows),
        "succeeded": sum(r["status"] == "ok" for r in rows),
        "failed": sum(r["status"] != "ok" for r in rows),
        "scenarios": by_scenario,
        "failures": [
            {"site": r["site"], "scenario": r["scenario"], "error": r["error"]}
            for r in rows
            if r["status"] != "ok"
        ],
    }


def run_fleet(
    fleet_file: Path,
    out: Path,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: FleetProgress | None = None,
) -> FleetRun:
    """Run every site under every scenario of ``fleet_file`` into ``out``."""
    fleet = fleet_io.read_fleet(fleet_file)
    tasks = tasks_of(fleet_file, fleet, out)
    for task in tasks:
        task.configs()
    coupling = fleet.coupling
    coupled = None
    if coupling is not None and coupling.method == "joint":
        coupled = run_coupled(fleet, coupling, tasks, None, progress)
    else:
        with dask_client(scheduler, workers) as client:
            if coupling is not None:
                coupled = run_coupled(fleet, coupling, tasks, client, progress)
            else:
                rows = run_tasks(client, tasks, progress)
    if coupled is not None:
        rows = coupled.rows
    metrics = fleet_metrics(fleet.name, rows, [s.name for s in fleet.scenarios])
    profiles = {}
    if coupling is not None and coupled is not None:
        metrics["coupling"] = coupling.model_dump(mode="json")
        for name, facts in coupled.scenarios.items():
            metrics["scenarios"][name] |= facts
        profiles = coupled.profiles
    page = build_fleet_report(metrics, pd.DataFrame(rows), profiles)
    fleet_io.write_fleet_results(out, rows, metrics, page)
    return FleetRun(rows=rows, metrics=metrics)
