"""The site simulator: its battery by hand, and `gridq sim` served over real Modbus TCP."""

import math
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from gridq import conventions as col
from gridq.errors import DeviceError
from gridq.io.bundle import read_bundle
from gridq.live.modbus import ModbusDevice
from gridq.live.sim import SimulatedBattery, SiteSimulator
from gridq.live.sim_server import SLOW_ANSWER_S, inject_fault, read_map
from tests.conftest import PARAMS, REPO, invoke, make_site
from tests.live.conftest import _free_port


def _battery(**limits: float) -> SimulatedBattery:
    site = make_site(
        capacity_kwh=10.0,
        charge_power_max_kw=5.0,
        discharge_power_max_kw=5.0,
        charge_efficiency_frac=0.9,
        discharge_efficiency_frac=0.8,
        soc_min_frac=0.1,
        soc_max_frac=0.9,
        initial_soc_frac=0.5,
    )
    return SimulatedBattery(site.battery, soc_kwh=5.0, **limits)


def test_the_battery_integrates_with_its_efficiencies_by_hand():
    battery = _battery()
    battery.advance(4.0, 1800)  # 4 kW out for half an hour takes 2 / 0.8 = 2.5 kWh
    assert battery.power_kw == pytest.approx(4.0)
    assert battery.soc_kwh == pytest.approx(2.5)
    battery.advance(-2.0, 3600)  # 2 kW in for an hour stores 2 * 0.9 = 1.8 kWh
    assert battery.soc_kwh == pytest.approx(4.3)


@pytest.mark.parametrize(
    ("setpoint_kw", "seconds", "power_kw", "soc_kwh"),
    [
        (9.0, 60, 5.0, 5.0 - 5.0 / 60 / 0.8),  # the power limit
        (-9.0, 60, -5.0, 5.0 + 5.0 / 60 * 0.9),
        (5.0, 7200, 4 * 0.8 / 2, 1.0),  # 4 kWh above the minimum last 2 h at 1.6 kW
        (-5.0, 7200, -4 / 0.9 / 2, 9.0),  # 4 kWh of room: 2.22 kW for 2 h
        (float("nan"), 60, 0.0, 5.0),  # an invalid setpoint idles
    ],
)
def test_the_battery_obeys_its_power_and_soc_limits(setpoint_kw, seconds, power_kw, soc_kwh):
    battery = _battery()
    battery.advance(setpoint_kw, seconds)
    assert battery.power_kw == pytest.approx(power_kw)
    assert battery.soc_kwh == pytest.approx(soc_kwh)


def test_the_battery_ramps():
    battery = _battery(ramp_kw_per_s=0.5)
    battery.advance(4.0, 2.0)  # 0.5 kW/s for 2 s
    assert battery.power_kw == pytest.approx(1.0)
    battery.advance(-4.0, 1.0)
    assert battery.power_kw == pytest.approx(0.5)


def test_the_meter_balances_the_site():
    index = pd.date_range("2025-06-02", periods=4, freq="15min", tz="UTC")
    series = pd.DataFrame(
        {col.LOAD_KW: [3.0, 4.0, 5.0, 6.0], col.PV_KW: [1.0, 0.0, 2.0, 0.0]}, index
    )
    site = SiteSimulator(series, _battery(), index[0])
    site.advance(2.0, 1200)  # 20 minutes: the second step, 4 kW of load, 2 from the battery
    telemetry = site.telemetry()
    assert telemetry["grid_net_import_kw"] == pytest.approx(4.0 - 0.0 - 2.0)
    assert telemetry["clock_unix_s"] == (index[0] + pd.Timedelta(minutes=20)).timestamp()
    assert site.end == index[-1] + pd.Timedelta(minutes=15)


@pytest.fixture(scope="module")
def home_bundle(tmp_path_factory):
    bundle = tmp_path_factory.mktemp("sim") / "home"
    result = invoke(
        "generate", "pv_battery_tou", "--params", PARAMS, "--out", bundle, "--days", "2"
    )
    assert result.exit_code == 0, result.output
    return bundle


def _connected(register_map, port, capacity_kwh, timeout_s=20.0) -> ModbusDevice:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return ModbusDevice(
                register_map, "127.0.0.1", port, capacity_kwh=capacity_kwh
            ).__enter__()
        except DeviceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_gridq_sim_serves_the_bundle_and_follows_a_setpoint(home_bundle):
    inputs = read_bundle(home_bundle)
    battery = inputs.site.battery
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gridq",
            "sim",
            str(home_bundle),
            "--port",
            str(port),
            "--speed",
            "60",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        device = _connected(read_map(None), port, battery.capacity_kwh)
        try:
            first = device.read()
            assert first["battery_soc_kwh"] == pytest.approx(battery.initial_soc_kwh, abs=0.01)
            device.take_control()  # the simulator's map: remote control, then its heartbeat
            device.beat(0)
            device.write_setpoint(-2.0)  # the home's battery starts at its minimum: charge
            time.sleep(0.5)
            charging = device.read()
            for count in range(1, 11):  # two simulated minutes, a beat every 12 s
                time.sleep(0.2)
                device.beat(count)
            later = device.read()
        finally:
            device.__exit__(None, None, None)
    finally:
        server.terminate()
        _, announced = server.communicate(timeout=10)
    now = pd.Timestamp(later["clock_unix_s"], unit="s", tz="UTC")
    assert now > pd.Timestamp(first["clock_unix_s"], unit="s", tz="UTC")
    row = inputs.timeseries.iloc[inputs.timeseries.index.searchsorted(now, side="right") - 1]
    assert later["battery_power_kw"] == pytest.approx(-2.0)
    assert later["pv_kw"] == pytest.approx(row[col.PV_KW], abs=1e-3)
    # The meter is the site's balance: load - pv - battery.
    assert later["grid_net_import_kw"] == pytest.approx(
        row[col.LOAD_KW] - row[col.PV_KW] + 2.0, abs=2e-3
    )
    # 2 kW in over the simulated time between the two reads, less the charging loss; within a
    # tick (1.2 simulated s), the clock's whole seconds and the SOC's 0.001 kWh.
    simulated_h = (later["clock_unix_s"] - charging["clock_unix_s"]) / 3600
    assert simulated_h > 1 / 60
    assert later["battery_soc_kwh"] - charging["battery_soc_kwh"] == pytest.approx(
        2.0 * battery.charge_efficiency_frac * simulated_h, abs=0.003
    )
    assert "serving" in announced


def test_gridq_sim_refuses_a_port_in_use_in_one_line(home_bundle, modbus_server):
    result = invoke("sim", home_bundle, "--port", modbus_server.port)
    assert result.exit_code == 2
    assert "choose another --port" in result.output


def _served_reading(bundle, register_map_file, register_map, capacity_kwh):
    """Telemetry of ``gridq sim`` under ``register_map_file``, read through ``register_map``."""
    port = _free_port()
    command = [sys.executable, "-m", "gridq", "sim", str(bundle), "--port", str(port)]
    if register_map_file is not None:
        command += ["--map", str(register_map_file)]
    # Slow simulated time: both readings fall in the same quarter hour of the bundle.
    server = subprocess.Popen([*command, "--speed", "0.01"], cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        device = _connected(register_map, port, capacity_kwh)
        try:
            return device.read()
        finally:
            device.__exit__(None, None, None)
    finally:
        server.terminate()
        server.wait(10)


def test_a_device_it_has_never_seen_reads_the_same(home_bundle, tmp_path):
    """The simulator under another map (addresses, word order, W, %, sign, a SunSpec scale
    factor) reads the same through that map alone."""
    from tests.live.test_devices import ALIEN

    alien_file = tmp_path / "alien.yaml"
    alien_file.write_text(yaml.safe_dump(ALIEN))
    capacity_kwh = read_bundle(home_bundle).site.battery.capacity_kwh
    native = _served_reading(home_bundle, None, read_map(None), capacity_kwh)
    alien = _served_reading(home_bundle, alien_file, read_map(alien_file), capacity_kwh)
    # The alien map has no clock and no available powers: the rest reads the same.
    assert set(alien) == set(native) - {
        "clock_unix_s",
        "battery_charge_available_kw",
        "battery_discharge_available_kw",
    }
    assert alien == pytest.approx({name: native[name] for name in alien}, abs=0.01)


@pytest.fixture
def running_sim(home_bundle):
    """``gridq sim`` on the home bundle at 60x, and a way to read it through GridQ's map."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gridq", "sim", str(home_bundle), "--port", str(port)]
        + ["--speed", "60"],
        cwd=REPO,
        stderr=subprocess.DEVNULL,
    )
    _connected(read_map(None), port, 13.5).__exit__(None, None, None)
    yield port
    server.terminate()
    server.wait(10)


def _reading(port: int, timeout_s: float = 1.0) -> dict[str, float]:
    with ModbusDevice(read_map(None), "127.0.0.1", port, 13.5, timeout_s) as device:
        return device.read()


def test_a_nan_fault_reads_as_no_value_and_ends_by_itself(running_sim):
    inject_fault("127.0.0.1", running_sim, "nan", 60)  # one simulated minute: a wall second
    time.sleep(0.2)
    faulty = _reading(running_sim)
    assert all(math.isnan(value) for name, value in faulty.items() if name != "clock_unix_s")
    time.sleep(1.5)
    assert not any(math.isnan(value) for value in _reading(running_sim).values())


def test_a_frozen_device_keeps_its_clock_still(running_sim):
    inject_fault("127.0.0.1", running_sim, "freeze", 60)
    time.sleep(0.2)
    first = _reading(running_sim)
    time.sleep(0.5)
    assert _reading(running_sim)["clock_unix_s"] == first["clock_unix_s"]
    time.sleep(1.0)
    assert _reading(running_sim)["clock_unix_s"] > first["clock_unix_s"]


def test_rejected_writes_are_a_device_error_until_the_fault_ends(running_sim):
    inject_fault("127.0.0.1", running_sim, "reject", 60)
    with ModbusDevice(read_map(None), "127.0.0.1", running_sim, 13.5) as device:
        with pytest.raises(DeviceError, match="refused the setpoint"):
            device.write_setpoint(-1.0)
        time.sleep(1.5)
        device.write_setpoint(-1.0)


def test_a_dropped_connection_comes_back(running_sim):
    inject_fault("127.0.0.1", running_sim, "drop", 60)
    time.sleep(0.3)
    with pytest.raises(DeviceError):
        _reading(running_sim)
    time.sleep(1.5)
    assert _reading(running_sim)["battery_soc_kwh"] > 0


def test_a_slow_device_answers_late(running_sim):
    inject_fault("127.0.0.1", running_sim, "slow", 60)
    started = time.monotonic()
    _reading(running_sim, timeout_s=10.0)
    # Five registers' reads (the map's quantities), each answered late.
    assert time.monotonic() - started >= SLOW_ANSWER_S


def test_the_battery_follows_only_under_remote_control_and_its_heartbeat(running_sim):
    with ModbusDevice(read_map(None), "127.0.0.1", running_sim, 13.5) as device:
        device.write_setpoint(-2.0)
        time.sleep(0.3)
        assert device.read()["battery_power_kw"] == 0.0  # local control: ignored
        device.take_control()
        device.beat(0)
        time.sleep(0.3)
        assert device.read()["battery_power_kw"] == pytest.approx(-2.0)
        time.sleep(2.0)  # 120 simulated seconds: three heartbeats of 30 s missed
        assert device.read()["battery_power_kw"] == 0.0
        device.beat(1)
        time.sleep(0.3)
        assert device.read()["battery_power_kw"] == pytest.approx(-2.0)
        device.give_back_control()
        time.sleep(0.3)
        assert device.read()["battery_power_kw"] == 0.0


def test_the_device_reports_what_it_can_take(running_sim):
    reading = _reading(running_sim)
    # The home's battery starts at its SOC minimum: it can charge, not discharge.
    assert reading["battery_charge_available_kw"] == pytest.approx(5.0)
    assert reading["battery_discharge_available_kw"] == 0.0
