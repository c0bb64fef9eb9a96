"""Closed loop: `gridq sim` and `gridq live run` as real processes, priced against the backtest.

Seeded random sites (not the examples' series): the realised bill of the operated period
(`gridq live export`, then `gridq bill`) is the rolling backtest's on the same bundle, with
the same forecast and cadence; the replay of the exported forecasts reproduces it; every
recorded step is inside the safety limits.
"""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gridq import conventions as col
from gridq.io.bundle import read_bundle
from gridq.io.live_store import LiveStore
from tests.conftest import invoke
from tests.live.livesites import LiveSite, Simulator, bill_gbp, live_run, make_live_site

BILL_TOLERANCE_FRAC = 0.005
"""The realised bill against the backtest's: 0.5% of the bill's size, the sum of its items'
magnitudes. A home that earns from export has a net bill near zero (-1.07 GBP on 13.9 GBP of
items here), where a share of the net measures nothing: with plans solved at their step's start
(0.02-0.1 s late, 20-100 simulated seconds at 1000x) it was 0.30% of the net on a quiet machine
and 0.78% under CI's load, 0.02-0.06% of the bill's size. Plans are now solved ahead of their
step (:func:`test_no_plan_comes_into_force_before_its_step`)."""
LIMIT_TOLERANCE = 2e-3
"""Register resolution: the simulator's map holds kW and kWh to 0.001."""

CASES = {
    # name: (example, series seed, forecast, re-plan interval [min])
    "home_tou_hourly": ("pv_battery_tou", 2031, "persistence_day", 60),
    "commercial_demand_daily": ("commercial_demand_charge", 2032, "persistence_day", 1440),
}


def bill_size_gbp(bill: dict[str, float]) -> float:
    """The sum of a bill's items' magnitudes (charges and revenues alike) [GBP]."""
    return sum(abs(v) for k, v in bill.items() if k not in ("supplier_bill_gbp", "total_cost_gbp"))


def assert_same_bill(realised: dict[str, float], expected: dict[str, float]) -> None:
    difference_gbp = abs(realised["total_cost_gbp"] - expected["total_cost_gbp"])
    assert difference_gbp <= BILL_TOLERANCE_FRAC * bill_size_gbp(expected), (realised, expected)


def operate(site: LiveSite, register_map: Path | None = None) -> str:
    """Run the site against the simulator over its whole period; the controller's log."""
    with Simulator(site, register_map):
        controller = live_run(site)
        _, log = controller.communicate(timeout=900)
    assert controller.returncode == 0, log[-2000:]
    return log


def export(site: LiveSite, out: Path) -> Path:
    result = invoke(
        "live", "export", site.site_dir, "--from", site.start_text, "--to", site.end_text,
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module", params=sorted(CASES))
def operated(request, tmp_path_factory):
    example, seed, forecast, every_min = CASES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    site = make_live_site(root, example, seed, 3, forecast, every_min)
    log = operate(site)
    return site, log, export(site, root / "exported")


def test_the_realised_bill_is_the_backtests(operated):
    site, _, exported = operated
    result = invoke("backtest", site.bundle, "--mode", "rolling")
    assert result.exit_code == 0, result.output
    assert_same_bill(bill_gbp(exported), bill_gbp(site.bundle))


def test_the_replay_of_what_was_forecast_reproduces_the_realised_bill(operated, tmp_path):
    _, _, exported = operated
    realised = bill_gbp(exported)
    replayed = shutil.copytree(exported, tmp_path / "replayed")
    result = invoke("backtest", replayed, "--mode", "rolling", "--forecast", "replay")
    assert result.exit_code == 0, result.output
    assert_same_bill(bill_gbp(replayed), realised)


def test_every_recorded_step_balances_and_keeps_the_limits(operated):
    site, _, exported = operated
    inputs = read_bundle(site.bundle)
    battery, grid = inputs.site.battery, inputs.site.grid
    steps = pd.read_parquet(exported / "dispatch.parquet")
    assert len(steps) == (site.end - site.start) / pd.Timedelta(minutes=15)
    supply = steps[col.PV_KW] + steps[col.BATTERY_DISCHARGE_KW] + steps[col.GRID_IMPORT_KW]
    demand = steps[col.LOAD_KW] + steps[col.BATTERY_CHARGE_KW] + steps[col.GRID_EXPORT_KW]
    np.testing.assert_allclose(supply, demand, atol=1e-9)
    assert (
        steps[col.SOC_KWH]
        .between(battery.soc_min_kwh - LIMIT_TOLERANCE, battery.soc_max_kwh + LIMIT_TOLERANCE)
        .all()
    )
    assert (steps[col.BATTERY_CHARGE_KW] <= battery.charge_power_max_kw + LIMIT_TOLERANCE).all()
    assert (
        steps[col.BATTERY_DISCHARGE_KW] <= battery.discharge_power_max_kw + LIMIT_TOLERANCE
    ).all()
    if grid.import_limit_kw is not None:
        assert (steps[col.GRID_IMPORT_KW] <= grid.import_limit_kw + LIMIT_TOLERANCE).all()
    # The load the meter, PV and battery balance to is the bundle's.
    actual = inputs.timeseries.loc[pd.DatetimeIndex(steps[col.TIMESTAMP])]
    np.testing.assert_allclose(steps[col.LOAD_KW], actual[col.LOAD_KW], atol=LIMIT_TOLERANCE)


def test_every_setpoint_written_is_finite_and_within_the_battery(operated):
    site, _, _ = operated
    battery = read_bundle(site.bundle).site.battery
    config = yaml.safe_load((site.site_dir / "live.yaml").read_text())
    store = LiveStore(site.site_dir / config.get("store", "live.sqlite"))
    written = store.setpoints()["written_kw"]
    store.close()
    assert len(written) > 0
    assert np.isfinite(written).all()
    assert written.between(-battery.charge_power_max_kw, battery.discharge_power_max_kw).all()


def test_no_plan_comes_into_force_before_its_step(operated):
    """A plan solved ahead of its step is held until the step begins, never adopted early.

    How soon after the step's start it comes into force depends on the machine (at 1000x a
    tick is 5 ms of wall time): 2 simulated seconds at the median in one CI run, 12 in
    another. That is a figure for the README, not a guarantee to test.
    """
    site, _, _ = operated
    config = yaml.safe_load((site.site_dir / "live.yaml").read_text())
    store = LiveStore(site.site_dir / config.get("store", "live.sqlite"))
    plans = store.plans()
    store.close()
    scheduled = plans.iloc[1:]  # the first plan is waited for
    assert len(scheduled) > 0
    late_s = scheduled["adopted_at_s"] - scheduled["issued_at_s"]
    assert (late_s >= 0).all(), late_s[late_s < 0]


def test_the_operation_needed_no_fallback(operated):
    _, log, _ = operated
    assert "-> safe" not in log, log[-2000:]
    assert "-> rule_based" not in log, log[-2000:]


@pytest.mark.parametrize("device", ["alien", "sunspec"])
def test_a_device_it_has_never_seen_gives_the_same_bill(tmp_path, device):
    """The simulator under another register map and the controller given only that map: the
    bill is the one the backtest gives.

    ``alien``: other addresses, word order, a SunSpec scale factor, W and %, the opposite
    signs, a clock of its own. ``sunspec``: the SunSpec preset (models from 40000, scale-factor
    registers, control writes, identity checked at connect) with the simulator's clock.
    """
    from tests.live.test_devices import ALIEN

    map_file = tmp_path / f"{device}.yaml"
    if device == "alien":
        clock = {"address": 160, "type": "uint32", "word_order": "little", "unit": "s"}
        alien = ALIEN | {"points": ALIEN["points"] | {"clock_unix_s": clock}}
        map_file.write_text(yaml.safe_dump(alien))
    else:
        result = invoke("live", "sunspec-map", map_file, "--clock-address", 0)
        assert result.exit_code == 0, result.output
    example, seed, forecast, every_min = CASES["home_tou_hourly"]
    site = make_live_site(tmp_path, example, seed, 3, forecast, every_min, register_map=map_file)
    operate(site, map_file)
    exported = export(site, tmp_path / "exported")
    result = invoke("backtest", site.bundle, "--mode", "rolling")
    assert result.exit_code == 0, result.output
    assert_same_bill(bill_gbp(exported), bill_gbp(site.bundle))
