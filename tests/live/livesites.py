"""Live sites for the closed-loop tests: a generated bundle, its site folder, real processes.

``gridq sim`` serves the bundle from the end of the forecast's warm-up, held until the
controller's first setpoint; ``gridq live run`` runs the site folder against it. Both are
real processes talking Modbus over TCP on localhost.
"""

import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from gridq.io.bundle import read_bundle
from tests.conftest import PARAMS, REPO, invoke

SPEED = 1000.0
"""Simulated seconds per wall second in these tests."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LiveSite:
    """A bundle, a site folder operating it, and the operated period."""

    bundle: Path
    site_dir: Path
    start: pd.Timestamp
    end: pd.Timestamp
    port: int

    @property
    def start_text(self) -> str:
        return self.start.strftime("%Y-%m-%dT%H:%MZ")

    @property
    def end_text(self) -> str:
        return self.end.strftime("%Y-%m-%dT%H:%MZ")


def make_live_site(
    root: Path,
    name: str,
    seed: int,
    days: int,
    forecast: str,
    every_min: int,
    register_map: Path | None = None,
    **live: object,
) -> LiveSite:
    """Generate ``name`` (``days`` long, series seed ``seed``) and a site folder running it."""
    bundle = root / "bundle"
    result = invoke(
        "generate", name, "--params", PARAMS, "--out", bundle, "--days", days,
        "--set", f"series.seed={seed}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run_config = yaml.safe_load((bundle / "run_config.yaml").read_text())
    run_config["rolling"] |= {"forecast": forecast, "reoptimise_every_min": every_min}
    (bundle / "run_config.yaml").write_text(yaml.safe_dump(run_config, sort_keys=False))
    site_dir = root / "site"
    site_dir.mkdir()
    for name_ in ("site_config.yaml", "run_config.yaml"):
        shutil.copy(bundle / name_, site_dir / name_)
    shutil.copy(bundle / "timeseries.parquet", site_dir / "history.parquet")
    port = free_port()
    device: dict[str, object] = {"map": "gridq_sim", "port": port}
    if register_map is not None:
        shutil.copy(register_map, site_dir / "device_map.yaml")
        device["map"] = "device_map.yaml"
    config = {"device": device, "tick_s": 5, "safety": {"watchdog_ticks": 10}} | live
    (site_dir / "live.yaml").write_text(yaml.safe_dump(config))
    index = read_bundle(bundle).timeseries.index
    warmup = pd.Timedelta(days=1 if forecast == "persistence_day" else 7)
    return LiveSite(bundle, site_dir, index[0] + warmup, index[-1] + (index[1] - index[0]), port)


class Simulator:
    """``gridq sim`` serving a live site's bundle, held until the first setpoint."""

    def __init__(self, site: LiveSite, register_map: Path | None = None, speed: float = SPEED):
        command = [
            sys.executable, "-m", "gridq", "sim", str(site.bundle), "--port", str(site.port),
            "--speed", str(speed), "--start", site.start_text, "--hold",
        ]  # fmt: skip
        if register_map is not None:
            command += ["--map", str(register_map)]
        self.process = subprocess.Popen(
            command, cwd=REPO, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", site.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("gridq sim did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def live_run(
    site: LiveSite, until: pd.Timestamp | None = None, log: Path | None = None
) -> subprocess.Popen[str]:
    """``gridq live run`` on the site folder, started (the caller waits or kills it).

    Its log goes to ``log`` where given, else to a pipe.
    """
    command = [sys.executable, "-m", "gridq", "live", "run", str(site.site_dir)]
    if until is not None:
        command += ["--until", until.strftime("%Y-%m-%dT%H:%M:%SZ")]
    if log is None:
        return subprocess.Popen(
            command, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
    with log.open("w") as stderr:  # the child keeps its own copy
        return subprocess.Popen(
            command, cwd=REPO, stderr=stderr, stdout=subprocess.DEVNULL, text=True
        )


def events(log: str) -> list[dict[str, object]]:
    """The structured log's events: one JSON object per line."""
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def bill_gbp(bundle: Path) -> dict[str, float]:
    result = invoke("bill", bundle, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
