"""Faults through real processes: the device fails, the solver fails, an operator overrides,
the controller is killed. Each ends in the documented mode, with its event, and recovers.

One run takes the device faults in turn (each injected through the simulator's fault register
while `gridq live run` operates it); the tests read its events from the store.
"""

import os
import signal
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from pymodbus.client import ModbusTcpClient

from gridq import conventions as col
from gridq.engine.tariff import compile_tariff
from gridq.io.bundle import read_bundle
from gridq.io.live_store import LiveStore
from gridq.live.sim_server import inject_fault
from tests.conftest import invoke
from tests.live.livesites import LiveSite, Simulator, free_port, live_run, make_live_site

SPEED = 100.0
HOURS = 3
FAULT_S = {"drop": 60, "nan": 60, "freeze": 60, "reject": 300}
"""How long each fault lasts [simulated s]: a minute, 0.6 s of wall time at 100x, two watchdog
periods; rejected writes outlast the retries (after 1, 2 and 4 ticks)."""
WATCHDOG_TICKS = 6
TICK_S = 5
FAULTS = tuple(FAULT_S)


def store_of(site_dir: Path, url: str | None = None) -> LiveStore:
    return LiveStore(site_dir / "live.sqlite" if url is None else url)


def wait_for_steps(site_dir: Path, count: int, timeout_s: float, url: str | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if url is not None or (site_dir / "live.sqlite").exists():
            store = store_of(site_dir, url)
            recorded = len(store.steps())
            store.close()
            if recorded >= count:
                return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} steps recorded in {timeout_s} s")


@pytest.fixture(scope="module")
def faulted(tmp_path_factory):
    """Three simulated hours at 100x with each device fault in turn, then an override.

    The API is up: its metrics are read before the controller stops.
    """
    root = tmp_path_factory.mktemp("faults")
    api_port = free_port()
    site = make_live_site(
        root, "pv_battery_tou", 2034, 2, "persistence_day", 60,
        safety={"watchdog_ticks": WATCHDOG_TICKS}, api={"port": api_port},
    )  # fmt: skip
    token = invoke("live", "token", site.site_dir, "--name", "ops", "--role", "viewer").stdout
    until = site.start + pd.Timedelta(hours=HOURS)
    with Simulator(site, speed=SPEED):
        controller = live_run(site, until)
        wait_for_steps(site.site_dir, 2, 60)
        for kind, seconds in FAULT_S.items():
            inject_fault("127.0.0.1", site.port, kind, seconds)
            time.sleep(seconds / SPEED + 2.5)  # the fault, then 250 simulated seconds
        result = invoke(
            "live", "override", site.site_dir, "--setpoint-kw", "-1.5", "--for", "10min",
            "--reason", "test",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        time.sleep(0.5)  # 50 simulated seconds: the controller has taken the override
        metrics = (
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{api_port}/metrics",
                    headers={"Authorization": f"Bearer {token.strip()}"},
                ),
                timeout=10,
            )
            .read()
            .decode()
        )
        _, log = controller.communicate(timeout=300)
        control_words = holding_registers(site.port, 10, 2)  # remote control, heartbeat
    assert controller.returncode == 0, log[-2000:]
    store = store_of(site.site_dir)
    run = Faulted(site, store.events(), store.setpoints(), log, control_words, metrics)
    store.close()
    return run


@dataclass(frozen=True)
class Faulted:
    site: LiveSite
    events: pd.DataFrame
    setpoints: pd.DataFrame
    log: str
    control_words: list[int]
    metrics: str


def metric(text: str, name: str) -> float:
    """A sample's value in the Prometheus exposition ``text``."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} in the metrics")


def holding_registers(port: int, address: int, count: int) -> list[int]:
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=5)
    try:
        assert client.connect()
        return list(client.read_holding_registers(address, count=count, device_id=1).registers)
    finally:
        client.close()


def transitions(events: pd.DataFrame, into: str) -> pd.DataFrame:
    mode = events.loc[events["kind"] == "mode"]
    return mode.loc[mode["reason"].str.contains(f"-> {into}:")]


def test_each_device_fault_puts_the_site_in_safe_mode_and_it_recovers(faulted):
    events = faulted.events
    safe = transitions(events, "safe")
    reasons = " | ".join(safe["reason"])
    # drop, NaN and freeze leave the telemetry stale; rejected writes fail.
    assert len(safe) >= len(FAULTS), reasons
    assert reasons.count("telemetry") >= 3, reasons
    assert "writes failing" in reasons, reasons
    alarms = events.loc[events["kind"] == "alarm", "reason"]
    assert alarms.str.contains("safe mode").sum() >= len(FAULTS)
    assert alarms.str.contains("setpoint write failed").any()
    assert events["kind"].eq("recovered").any()
    # Every safe spell ends: the site goes back to its plan.
    back = transitions(events, "plan")
    for clock_s in safe["clock_s"]:
        assert (back["clock_s"] > clock_s).any()


def test_safe_mode_comes_within_the_watchdogs_time(faulted):
    events = faulted.events
    for reason in transitions(events, "safe")["reason"]:
        if "telemetry" in reason:
            age_s = float(reason.split("telemetry ")[1].split(" s old")[0])
            # One tick late at most, and the simulator's 5 ms updates (0.5 s at 100x).
            assert age_s <= (WATCHDOG_TICKS + 1) * TICK_S + 0.5, reason


def test_safe_mode_idles_the_battery(faulted):
    setpoints = faulted.setpoints
    safe = setpoints.loc[setpoints["mode"] == "safe", "written_kw"]
    assert len(safe)
    assert (safe == 0.0).all()


def test_an_override_holds_and_then_expires(faulted):
    events, setpoints = faulted.events, faulted.setpoints
    started = transitions(events, "override")
    assert len(started) == 1
    assert "test" in started["reason"].iloc[0]
    begun = float(started["clock_s"].iloc[0])
    ended = transitions(events, "plan")
    ended = ended.loc[ended["clock_s"] > begun]
    assert len(ended), "the override never expired"
    assert float(ended["clock_s"].iloc[0]) - begun == pytest.approx(600, abs=TICK_S + 1)
    held = setpoints.loc[setpoints["mode"] == "override"]
    assert (held["asked_kw"] == -1.5).all()


def test_the_controller_beats_and_hands_control_back_when_it_stops(faulted):
    remote, beats = faulted.control_words
    assert remote == 0  # the simulator's map: its shutdown write
    # A beat per 30 s (none while the connection was down).
    assert beats > HOURS * 3600 / 30 * 0.9


def test_the_faults_alarms_are_in_the_metrics(faulted):
    metrics = faulted.metrics
    alarms = faulted.events["kind"].eq("alarm").sum()
    assert metric(metrics, "gridq_alarms_total") >= len(FAULTS)
    assert metric(metrics, "gridq_alarms_total") <= alarms
    assert metric(metrics, "gridq_safe_mode_entries_total") >= len(FAULTS)
    assert metric(metrics, "gridq_device_errors_total") > 0
    assert metric(metrics, 'gridq_mode{mode="override"}') == 1.0
    assert metric(metrics, "gridq_tick_latency_seconds_count") > 0


def test_a_solver_that_times_out_falls_back_to_the_rule(tmp_path):
    site = make_live_site(
        tmp_path, "pv_battery_tou", 2035, 2, "persistence_day", 60,
        safety={"solve_timeout_s": 1e-6, "watchdog_ticks": 10},
    )  # fmt: skip
    with Simulator(site):
        controller = live_run(site, site.start + pd.Timedelta(hours=3))
        _, log = controller.communicate(timeout=120)
    assert controller.returncode == 0, log[-2000:]
    store = store_of(site.site_dir)
    events, setpoints = store.events(), store.setpoints()
    store.close()
    assert events["kind"].eq("solve_failed").any()
    assert len(transitions(events, "rule_based")) >= 1
    assert len(transitions(events, "plan")) == 0
    assert set(setpoints["mode"]) == {"rule_based"}
    battery = read_bundle(site.bundle).site.battery
    assert (
        setpoints["written_kw"]
        .between(-battery.charge_power_max_kw, battery.discharge_power_max_kw)
        .all()
    )


def test_kill_9_then_a_restart_resumes_keeps_the_data_and_the_months_peak(tmp_path):
    site = make_live_site(tmp_path, "commercial_demand_charge", 2036, 2, "persistence_day", 1440)
    until = site.start + pd.Timedelta(hours=3)
    with Simulator(site, speed=100):
        first = live_run(site, until)
        wait_for_steps(site.site_dir, 4, 120)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=10)
        store = store_of(site.site_dir)
        before = store.steps()
        store.close()
        second = live_run(site, until)
        _, log = second.communicate(timeout=300)
    assert second.returncode == 0, log[-2000:]
    store = store_of(site.site_dir)
    after, events, setpoints = store.steps(), store.events(), store.setpoints()
    store.close()
    # Nothing recorded is lost or changed (the step the kill fell in only grows), no step is
    # missing, and none counts more than its own time.
    done = before.index[:-1]
    pd.testing.assert_frame_equal(after.loc[done], before.loc[done])
    last = before.index[-1]
    assert after.loc[last, "covered_s"] >= before.loc[last, "covered_s"]
    assert (after["covered_s"] <= 900 + TICK_S).all()
    expected = pd.date_range(site.start, until, freq="15min", inclusive="left")
    assert list(after.index) == list(expected)
    # The month's peak: what the recorded steps set, carried into the restart.
    resumed = events.loc[events["kind"] == "resumed"]
    assert len(resumed) == 1
    inputs = read_bundle(site.bundle)
    tariff = compile_tariff(inputs.run_config.tariff, inputs.timeseries.loc[before.index])
    peaks = [
        charge.peaks_kw(before[col.GRID_IMPORT_KW].to_numpy()) for charge in tariff.demand_charges
    ]
    peak_kw = max(float(kw.max()) for kw in peaks if len(kw))
    assert peak_kw > 0
    assert f"{round(peak_kw, 3)}" in resumed["reason"].iloc[0]
    # A setpoint within one tick of resuming.
    resumed_s = float(resumed["clock_s"].iloc[0])
    written_after = setpoints.loc[setpoints["clock_s"] >= resumed_s, "clock_s"]
    assert float(written_after.iloc[0]) - resumed_s <= TICK_S


def test_the_store_server_restarting_under_the_controller_loses_nothing(tmp_path, postgres):
    url = postgres.new_database("under_control")
    site = make_live_site(
        tmp_path, "pv_battery_tou", 2037, 2, "persistence_day", 60,
        store=url, safety={"watchdog_ticks": WATCHDOG_TICKS},
    )  # fmt: skip
    until = site.start + pd.Timedelta(hours=HOURS)
    with Simulator(site, speed=200):
        controller = live_run(site, until)
        wait_for_steps(site.site_dir, 2, 60, url)
        postgres.stop()
        time.sleep(3.0)  # 600 simulated seconds, 120 ticks without a store
        postgres.start()
        _, log = controller.communicate(timeout=300)
    assert controller.returncode == 0, log[-2000:]
    store = store_of(site.site_dir, url)
    steps, events, setpoints = store.steps(), store.events(), store.setpoints()
    store.close()
    down = events.loc[events["reason"].str.contains("store unavailable")]
    back = events.loc[events["reason"].str.contains("takes rows again")]
    assert len(down) == 1
    assert len(back) == 1
    assert (down["kind"] == "alarm").all()
    outage = (float(down["clock_s"].iloc[0]), float(back["clock_s"].iloc[0]))
    assert outage[1] - outage[0] >= 200
    # Control went on, out of safe mode, and no step was lost: every step of the run (those
    # in the outage too) covered as fully as one is in calm operation.
    assert len(transitions(events, "safe")) == 0
    assert len(setpoints)
    expected = pd.date_range(site.start, until, freq="15min", inclusive="left")
    assert list(steps.index) == list(expected)
    assert (steps["covered_s"].iloc[1:-1] >= 900 - 2 * TICK_S).all()
