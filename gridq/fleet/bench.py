"""``gridq bench --cases fleet``: throughput on 1 and 2 workers, overhead, memory, projection.

Each worker count runs the whole fleet into a fresh temporary folder on its own LocalCluster;
the clock runs from the first task submitted to the last one finished (the cluster's start-up
is timed apart). Per-task overhead is a task's wall time less the HiGHS time inside it (inputs
drawn and written, baseline, metrics, lineage), against that HiGHS time. The speedup splits
into the workers' busy share and the slowdown of a task while both cores solve (they share
memory bandwidth and the L3 cache).
"""

import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from gridq.fleet.run import dask_client, run_tasks
from gridq.fleet.tasks import tasks_of
from gridq.io import fleet as fleet_io
from gridq.io.files import scratch_folder

PROJECTED_TASKS = 4000
"""A 1,000-site x 4-scenario portfolio."""
PROJECTED_WORKERS = (8, 64, 512)


def _peak_rss_mib() -> float:
    """Peak resident memory of the calling process [MiB] (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_fleet(fleet_file: Path, worker_counts: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """Throughput per worker count, scaling, overhead, memory and the projection."""
    fleet = fleet_io.read_fleet(fleet_file)
    runs = []
    for workers in worker_counts:
        with scratch_folder("gridq-fleet-") as folder:
            tasks = tasks_of(fleet_file, fleet, folder)
            started = time.perf_counter()
            with dask_client(None, workers) as client:
                up_s = time.perf_counter() - started
                began = time.perf_counter()
                rows = run_tasks(client, tasks)
                run_s = time.perf_counter() - began
                memory = client.run(_peak_rss_mib)
        done = [row for row in rows if row["status"] == "ok"]
        task_s = np.array([row["task_s"] for row in done])
        solve_s = np.array([row["solve_s"] for row in done])
        runs.append(
            {
                "workers": workers,
                "tasks": len(rows),
                "failed": len(rows) - len(done),
                "startup_s": up_s,
                "run_s": run_s,
                "tasks_per_s": len(rows) / run_s,
                "task_s_mean": float(task_s.mean()),
                "solve_s_mean": float(solve_s.mean()),
                "overhead_frac": float((task_s - solve_s).mean() / solve_s.mean()),
                # Worker time spent inside tasks; the rest is Dask's hand-offs and the tail
                # of a short fleet, where one worker finishes the last task alone.
                "busy_frac": float(task_s.sum() / (workers * run_s)),
                "peak_worker_mib": max(memory.values()),
            }
        )
    first, last = runs[0], runs[-1]
    speedup = last["tasks_per_s"] / first["tasks_per_s"]
    efficiency = speedup / (last["workers"] / first["workers"])
    per_task_s = first["run_s"] / first["tasks"]
    projection = {
        workers: last["startup_s"] + PROJECTED_TASKS * per_task_s / (workers * efficiency)
        for workers in PROJECTED_WORKERS
    }
    return {
        "runs": runs,
        "speedup": speedup,
        "task_slowdown": last["task_s_mean"] / first["task_s_mean"],
        "efficiency": efficiency,
        "projection_s": projection,
    }
