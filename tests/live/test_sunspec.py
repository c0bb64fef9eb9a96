"""The SunSpec preset: pysunspec2 itself reads the simulator served under it, and agrees.

The preset's addresses and scale factors come from pysunspec2's model definitions; here
pysunspec2's own client scans the served device (the "SunS" marker, each model's id and
length) and reads each point GridQ uses, against GridQ's driver on the same registers.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

from gridq.errors import ConfigError
from gridq.io.bundle import read_bundle
from gridq.live.modbus import ModbusDevice
from gridq.live.sim_server import read_map
from gridq.live.sunspec import sunspec_register_map
from tests.conftest import invoke
from tests.live.livesites import Simulator, make_live_site


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sunspec") / "sunspec.yaml"
    result = invoke("live", "sunspec-map", path, "--clock-address", 0)
    assert result.exit_code == 0, result.output
    return path


def test_pysunspec2_scans_the_served_preset_and_reads_what_gridq_reads(tmp_path, preset):
    site = make_live_site(tmp_path, "pv_battery_tou", 2061, 2, "persistence_day", 60)
    capacity_kwh = read_bundle(site.bundle).site.battery.capacity_kwh
    # Held, the simulator's clock stands still: both clients read the same state.
    with Simulator(site, preset, speed=1.0):
        with ModbusDevice(
            read_map(preset), "127.0.0.1", site.port, capacity_kwh=capacity_kwh
        ) as device:
            ours = device.read()
        theirs = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=site.port)
        try:
            theirs.scan()
            models = {number: theirs.models[number][0] for number in (1, 203, 103, 701, 713, 704)}
            meter_w = models[203].W.cvalue
            pv_w = models[103].W.cvalue
            battery_w = models[701].W.cvalue
            soc_pct = models[713].SoC.cvalue
        finally:
            theirs.close()
    assert meter_w / 1e3 == pytest.approx(ours["grid_net_import_kw"], abs=1e-9)
    assert pv_w / 1e3 == pytest.approx(ours["pv_kw"], abs=1e-9)
    assert battery_w / 1e3 == pytest.approx(ours["battery_power_kw"], abs=1e-9)
    assert soc_pct * capacity_kwh / 100 == pytest.approx(ours["battery_soc_kwh"], abs=1e-9)
    # Something to read: a home at night imports, its battery holds energy.
    assert ours["battery_soc_kwh"] > 0
    assert meter_w != 0 or pv_w != 0


def test_the_preset_refuses_a_device_laid_out_otherwise(tmp_path):
    site = make_live_site(tmp_path, "pv_battery_tou", 2062, 2, "persistence_day", 60)
    with Simulator(site):  # the simulator's own map: no "SunS" at 40000
        with pytest.raises(ConfigError, match="another device"):
            ModbusDevice(sunspec_register_map(), "127.0.0.1", site.port).__enter__()


def test_an_unknown_model_is_one_line(tmp_path):
    result = invoke("live", "sunspec-map", tmp_path / "x.yaml", "--models", "1,203,103,99999")
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.yaml").exists()


def test_the_preset_names_its_models_in_live_yaml(tmp_path):
    site = make_live_site(tmp_path, "pv_battery_tou", 2063, 2, "persistence_day", 60)
    text = (site.site_dir / "live.yaml").read_text().replace("gridq_sim", "sunspec")
    (site.site_dir / "live.yaml").write_text(text)
    with Simulator(site):  # served under the simulator's own map: refused in one line
        done = subprocess.run(
            [sys.executable, "-m", "gridq", "live", "run", str(site.site_dir)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    assert "another device" in done.stderr
    assert "Traceback" not in done.stderr
