"""The live benchmark: a simulated home operated for days by real processes, timed.

``gridq generate`` makes the home (re-planned every 15 minutes over 48 h on persistence-day
forecasts), ``gridq live init`` its site folder, ``gridq sim`` serves it at ``speed`` (held
until the first setpoint) and ``gridq live run`` operates it for ``days``. The controller logs
its tick and plan times and its peak memory when it stops (:class:`RunStats`); this reads them.
"""

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from gridq.io.files import parse_json_line

LIVE_BENCH_SITE = "pv_battery_tou"
WARMUP_DAYS = 1


def run_live_bench(root: Path, days: int, speed: float, port: int) -> dict[str, float]:
    """Operate a generated home for ``days`` at ``speed``; the controller's stopped figures."""
    bundle, site_dir = root / "bundle", root / "site"
    gridq = [sys.executable, "-m", "gridq"]
    subprocess.run(
        [
            *gridq, "generate", LIVE_BENCH_SITE, "--out", str(bundle),
            "--days", str(days + WARMUP_DAYS + 1),
            "--set", "rolling.forecast=persistence_day",
            "--set", "rolling.reoptimise_every_min=15",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [*gridq, "live", "init", str(site_dir), "--bundle", str(bundle), "--port", str(port)],
        check=True,
        capture_output=True,
    )
    first = pd.read_parquet(site_dir / "history.parquet")["timestamp"].iloc[0]
    start = first + pd.Timedelta(days=WARMUP_DAYS)
    until = start + pd.Timedelta(days=days)
    simulator = subprocess.Popen(
        [
            *gridq, "sim", str(bundle), "--port", str(port), "--speed", str(speed),
            "--start", start.isoformat(), "--hold",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    began = time.monotonic()
    try:
        controller = subprocess.run(
            [*gridq, "live", "run", str(site_dir), "--until", until.isoformat()],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        simulator.terminate()
        simulator.wait(30)
    stopped = [
        parse_json_line(line)
        for line in controller.stderr.splitlines()
        if line.startswith("{") and '"stopped"' in line
    ]
    figures: dict[str, float] = parse_json_line(str(stopped[-1]["reason"]))
    return figures | {"days": days, "speed": speed, "wall_s": time.monotonic() - began}
