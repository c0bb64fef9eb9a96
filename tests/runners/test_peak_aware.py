"""Peak-aware operation: the import ceiling by hand, learned quantiles, the PV nowcast."""

import json

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine.controller import (
    NOWCAST_FADE_H,
    SiteController,
    at_risk_steps,
    calm_steps,
    lowest_held_level_kw,
    meter_band_kw,
    nowcast_error_kw,
    paid_for_kw,
    replan_step,
    reserve_still_needed_kwh,
)
from gridq.engine.forecast import make_provider
from gridq.engine.run import backtest_rolling
from gridq.engine.synth import SyntheticSeries, make_timeseries
from gridq.engine.tariff import compile_tariff
from gridq.engine.windows import plan_forecast
from gridq.io.params import example_bundle
from gridq.runners.live import plan_now, this_months_floor_kw
from gridq.schemas import GridConnection
from tests.conftest import PARAMS, REPO, invoke, make_site


def _flows(
    load_kw: list[float],
    soc_kwh: float,
    ceiling_kw: list[float],
    expected_net_kw: list[float] | None = None,
    paid_for_kw: list[float] | None = None,
    reserve_kwh: float = 0.0,
    demand_steps_ahead: list[bool] | None = None,
    spike_reserve_kwh: float = 0.0,
) -> pd.DataFrame:
    index = pd.date_range("2025-01-06", periods=len(load_kw), freq="15min", tz="UTC")
    actual = pd.DataFrame({col.LOAD_KW: load_kw, col.PV_KW: 0.0}, index=index)
    planned = pd.DataFrame(0.0, index=index, columns=PLANNED_COLUMNS)
    band_kw = (np.full(len(load_kw), -np.inf), np.array(ceiling_kw))
    expected = None if expected_net_kw is None else np.array(expected_net_kw)
    return SiteController(
        make_site(),
        planned,
        0.25,
        len(actual),
        band_kw,
        None if paid_for_kw is None else np.array(paid_for_kw),
        expected_net_kw=expected,
        reserve_kwh=reserve_kwh,
        demand_steps_ahead=None if demand_steps_ahead is None else np.array(demand_steps_ahead),
        spike_reserve_kwh=spike_reserve_kwh,
    ).settle(actual, soc_kwh)


PLANNED_COLUMNS = [
    col.BATTERY_CHARGE_KW,
    col.BATTERY_DISCHARGE_KW,
    col.GRID_IMPORT_KW,
    col.GRID_EXPORT_KW,
    col.PV_KW,
    col.PV_CURTAIL_KW,
]


@pytest.mark.parametrize(
    ("load_kw", "import_kw", "export_kw"),
    [
        # Planned 3 kW in and 0.5 kW out (net 2.5): the importing share is 3 / 3.5 = 6/7.
        (0.5, 3.0, 0.5),
        (1.0, 3.0 + 6 / 7 * 0.5, 0.5 - 1 / 7 * 0.5),
        (0.0, 3.0 - 6 / 7 * 0.5, 0.5 + 1 / 7 * 0.5),
        # 5 kW more than planned pushes the exporting mode past zero: all of it is import.
        (5.5, 7.5, 0.0),
    ],
)
def test_a_step_shared_between_import_and_export_settles_both_by_hand(
    load_kw, import_kw, export_kw
):
    index = pd.date_range("2025-01-06", periods=1, freq="15min", tz="UTC")
    actual = pd.DataFrame({col.LOAD_KW: load_kw, col.PV_KW: 0.0}, index=index)
    # Charging 4 kW and discharging 2 kW in one step: the plan's two modes.
    planned = pd.DataFrame([[4.0, 2.0, 3.0, 0.5, 0.0, 0.0]], index=index, columns=PLANNED_COLUMNS)
    flows = SiteController(make_site(), planned, 0.25, len(actual)).settle(actual, 5.0)
    assert flows[col.GRID_IMPORT_KW].iloc[0] == pytest.approx(import_kw)
    assert flows[col.GRID_EXPORT_KW].iloc[0] == pytest.approx(export_kw)
    assert flows[col.SOC_KWH].iloc[0] == pytest.approx(5.0 + 0.25 * (4.0 - 2.0))


def test_the_battery_holds_import_at_the_ceiling_while_it_has_energy():
    # 10 kW, lossless, 5 kWh stored: a 20 kW step under a 12 kW ceiling takes 8 kW (2 kWh).
    flows = _flows([5.0, 20.0], 5.0, [np.inf, 12.0])
    np.testing.assert_allclose(flows[col.GRID_IMPORT_KW], [5.0, 12.0])
    np.testing.assert_allclose(flows[col.BATTERY_DISCHARGE_KW], [0.0, 8.0])
    np.testing.assert_allclose(flows[col.SOC_KWH], [5.0, 3.0])


@pytest.mark.parametrize(
    ("planned_import_kw", "load_kw", "discharge_kw"),
    [
        # The plan holds its 20 kW top on a 24 kW high side with 4 kW: 18 kW come, none is
        # needed; 22 kW come, 2 kW hold the top.
        (20.0, 18.0, 0.0),
        (20.0, 22.0, 2.0),
        # A plan importing below its top discharges for the energy price: followed as planned.
        (5.0, 18.0, 4.0),
    ],
)
def test_a_plan_holding_its_top_discharges_only_what_the_actual_load_needs(
    planned_import_kw, load_kw, discharge_kw
):
    index = pd.date_range("2025-01-06", periods=1, freq="15min", tz="UTC")
    actual = pd.DataFrame({col.LOAD_KW: load_kw, col.PV_KW: 0.0}, index=index)
    planned = pd.DataFrame(
        [[0.0, 4.0, planned_import_kw, 0.0, 0.0, 0.0]], index=index, columns=PLANNED_COLUMNS
    )
    band_kw = (np.array([-np.inf]), np.array([20.0]))
    flows = SiteController(make_site(), planned, 0.25, len(actual), band_kw).settle(actual, 5.0)
    assert flows[col.BATTERY_DISCHARGE_KW].iloc[0] == pytest.approx(discharge_kw)
    assert flows[col.GRID_IMPORT_KW].iloc[0] == pytest.approx(load_kw - discharge_kw)


def test_an_empty_battery_lets_import_pass_the_ceiling():
    # 1 kWh stored gives at most 4 kW over a quarter hour.
    flows = _flows([20.0], 1.0, [12.0])
    np.testing.assert_allclose(flows[col.GRID_IMPORT_KW], [16.0])
    np.testing.assert_allclose(flows[col.SOC_KWH], [0.0], atol=1e-12)


def test_a_battery_short_of_energy_raises_the_top_by_as_little_as_suffices():
    # 1 kWh (4 kW over a quarter hour) for an hour of 20 kW expected under a 12 kW top: held
    # at 12 it empties in the first step and lets 20 kW through; 19 kW holds all four steps.
    cliff = _flows([20.0] * 4, 1.0, [12.0] * 4)
    np.testing.assert_allclose(cliff[col.GRID_IMPORT_KW], [16.0, 20.0, 20.0, 20.0])
    spread = _flows([20.0] * 4, 1.0, [12.0] * 4, expected_net_kw=[20.0] * 4)
    np.testing.assert_allclose(spread[col.GRID_IMPORT_KW], [19.0] * 4)
    # An hour's interval of a plan whose horizon expects two hours of it: 2 kWh (8 kW-steps)
    # must last eight steps, 19 kW, not the interval's four, 18 kW (then nothing is left).
    lasting = _flows([20.0] * 4, 2.0, [12.0] * 8, expected_net_kw=[20.0] * 8)
    np.testing.assert_allclose(lasting[col.GRID_IMPORT_KW], [19.0] * 4)
    assert lasting[col.SOC_KWH].iloc[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(spread[col.SOC_KWH], [0.75, 0.5, 0.25, 0.0], atol=1e-9)


def test_a_top_above_the_paid_for_peak_comes_down_to_what_the_energy_can_hold():
    # The plan accepts 30 kW where 10 kW is paid for; 20 kW is expected and comes. 2 kWh (8 kW
    # over a quarter hour) for four steps holds 18 kW: the meter stays there, not at 20 kW.
    flows = _flows([20.0] * 4, 2.0, [30.0] * 4, [20.0] * 4, paid_for_kw=[10.0] * 4)
    np.testing.assert_allclose(flows[col.GRID_IMPORT_KW], [18.0] * 4)
    np.testing.assert_allclose(flows[col.SOC_KWH], [1.5, 1.0, 0.5, 0.0], atol=1e-9)
    # With six busy hours ahead (20 kW reaches 3/4 of a 24 kW top) 6/11 of an 11/6 kWh reserve
    # is kept: 1 kWh of 7 held back leaves 24 kW-steps for 24 steps, 19 kW. Each step lets go
    # 1/24 of it, so the level falls, until the last step keeps only that.
    kept = _flows(
        [20.0] * 24, 7.0, [24.0] * 24, [20.0] * 24, paid_for_kw=[10.0] * 24, reserve_kwh=11 / 6
    )
    imported = kept[col.GRID_IMPORT_KW].to_numpy()
    assert imported[0] == pytest.approx(19.0)
    assert np.all(np.diff(imported) < 0)
    assert imported.min() > 10.0
    assert kept[col.SOC_KWH].iloc[-1] == pytest.approx(1.0 / 24)
    # An hour's interval of a plan whose horizon expects twelve busy hours: the busy hours
    # beyond the interval keep the whole reserve, so 6 kWh (24 kW-steps) hold four steps at
    # 14 kW and 1 kWh is left. Counted within the interval alone (one busy hour), the reserve
    # would keep 1/11 kWh at most.
    hour = _flows(
        [20.0] * 4,
        7.0,
        [24.0] * 4,
        [20.0] * 48,
        paid_for_kw=[10.0] * 4,
        reserve_kwh=1.0,
        demand_steps_ahead=[True] * 48,
    )
    np.testing.assert_allclose(hour[col.GRID_IMPORT_KW], [14.0] * 4)
    assert hour[col.SOC_KWH].iloc[-1] == pytest.approx(1.0)
    short = _flows([20.0] * 4, 7.0, [24.0] * 4, [20.0] * 4, paid_for_kw=[10.0] * 4, reserve_kwh=1.0)
    assert short[col.SOC_KWH].iloc[-1] < 1.0 / 11 + 1e-9
    # One spike's 0.5 kWh stays to the last busy step: 6.5 kWh (26 kW-steps) hold 13.5 kW.
    spiked = _flows(
        [20.0] * 4,
        7.0,
        [24.0] * 4,
        [20.0] * 4,
        paid_for_kw=[10.0] * 4,
        reserve_kwh=1.0,
        spike_reserve_kwh=0.5,
    )
    np.testing.assert_allclose(spiked[col.GRID_IMPORT_KW], [13.5] * 4)
    assert spiked[col.SOC_KWH].iloc[-1] == pytest.approx(0.5)
    # Plenty of energy holds the paid-for 10 kW, never less.
    full = _flows([20.0] * 4, 20.0, [30.0] * 4, [20.0] * 4, paid_for_kw=[10.0] * 4)
    np.testing.assert_allclose(full[col.GRID_IMPORT_KW], [10.0] * 4)


@pytest.mark.parametrize(
    ("expected_kw", "demand", "kept_kwh"),
    [
        # Two busy hours of quarter hours keep 2/11 of an 11 kWh reserve.
        ([20.0] * 8, [True] * 8, 2.0),
        # Eleven busy hours or more keep all of it.
        ([20.0] * 44, [True] * 44, 11.0),
        ([20.0] * 50, [True] * 50, 11.0),
        # 10 kW is under 3/4 of the 24 kW top: one busy hour.
        ([20.0] * 4 + [10.0] * 4, [True] * 8, 1.0),
        # Outside demand charges nothing is at risk.
        ([20.0] * 8, [False] * 8, 0.0),
    ],
)
def test_the_reserve_still_needed_by_hand(expected_kw, demand, kept_kwh):
    assert reserve_still_needed_kwh(
        11.0, np.array(expected_kw), np.array(demand), 24.0, 0.25
    ) == pytest.approx(kept_kwh)


@pytest.mark.parametrize(
    ("busy_steps", "spike_kwh", "kept_kwh"),
    [
        # One busy quarter hour left keeps a 3 kWh spike, not 1/44 of the 11 kWh reserve.
        (1, 3.0, 3.0),
        # Eight busy hours keep 8/11 of the reserve, more than the spike.
        (32, 3.0, 8.0),
        # A spike larger than the reserve keeps the reserve.
        (1, 20.0, 11.0),
        # No busy step left keeps nothing, spike or not.
        (0, 3.0, 0.0),
    ],
)
def test_one_spike_is_kept_while_any_busy_step_remains(busy_steps, spike_kwh, kept_kwh):
    expected_kw = np.array([20.0] * busy_steps + [5.0] * 8)
    assert reserve_still_needed_kwh(
        11.0, expected_kw, np.ones(len(expected_kw), dtype=bool), 24.0, 0.25, spike_kwh
    ) == pytest.approx(kept_kwh)


def test_calm_steps_by_hand():
    # Hourly steps (12 h lookahead = 12 steps): busy at steps 2-3 and again at step 20.
    at_risk = np.zeros(24, dtype=bool)
    at_risk[[2, 3, 20]] = True
    calm = calm_steps(at_risk, 24, 1.0)
    # Steps 0-2 have a busy step after them; 3-7 look no further than step 19; from step 8 the
    # lookahead reaches step 20; after it nothing is busy.
    np.testing.assert_array_equal(calm, [False] * 3 + [True] * 5 + [False] * 12 + [True] * 4)


@pytest.mark.parametrize(
    ("settled", "planned", "calm", "step"),
    [
        # 15 kWh above the plan (10% of 100 is the threshold) at calm step 2: re-plan from 3.
        ([50, 50, 55, 55, 55], [50, 45, 40, 40, 40], [False, True, True, True, True], 3),
        # The surplus comes while busy steps lie ahead: no re-plan until a calm step has it.
        ([50, 60, 60, 60, 60], [50, 45, 45, 45, 45], [False, False, False, True, True], 4),
        # Below the threshold, or only at the interval's last step: no re-plan.
        ([50, 55, 55, 55, 55], [50, 46, 46, 46, 46], [True] * 5, None),
        ([50, 50, 50, 50, 70], [50, 50, 50, 50, 40], [True] * 5, None),
        # Energy short of the plan is the held top's business, not a re-plan's.
        ([20, 20, 20, 20, 20], [50, 50, 50, 50, 50], [True] * 5, None),
    ],
)
def test_the_replan_step_by_hand(settled, planned, calm, step):
    assert (
        replan_step(np.array(settled, float), np.array(planned, float), np.array(calm), 100.0)
        == step
    )


def _fading_sum(steps: int) -> float:
    """The share of an error expected over ``steps`` quarter hours from now, summed."""
    return float(sum(np.exp(-lead * 0.25 / NOWCAST_FADE_H) for lead in range(steps)))


def test_the_top_follows_a_load_running_above_its_forecast():
    # Expected 12 kW under a 12 kW top; 16 kW comes. The first step knows no error and spends
    # 1 kWh of 3.5; from the second the error is 4 kW, fading ahead, so the 2.5 kWh (10 kW-steps)
    # hold five steps of 12 + 4 * fade(lead) kW at the level L where their excess is 10:
    # L = (5 * 12 + 4 * sum(fade) - 10) / 5 (13.69 kW). The error persists, so the top creeps
    # up as the battery empties, where the forecast alone would hold 12 and then import 16.
    flows = _flows([16.0] * 6, 3.5, [12.0] * 6, [12.0] * 6)
    imported = flows[col.GRID_IMPORT_KW].to_numpy()
    assert imported[0] == pytest.approx(12.0)
    assert imported[1] == pytest.approx((5 * 12.0 + 4.0 * _fading_sum(5) - 10.0) / 5)
    assert np.all(np.diff(imported[1:]) > 0)
    assert imported.max() < 14.5
    np.testing.assert_allclose(flows[col.SOC_KWH].iloc[-1], 0.0, atol=1e-9)
    blind = _flows([16.0] * 6, 3.5, [12.0] * 6)
    np.testing.assert_allclose(blind[col.GRID_IMPORT_KW], [12.0] * 3 + [14.0, 16.0, 16.0])


def test_an_error_the_load_sheds_raises_the_top_less_than_one_carried_to_the_end():
    # 16 kW comes twice where 12 is expected, then 12. After the first step 0.6 kWh (2.4 kW-steps)
    # is left and the error is 4 kW: faded, the five steps ahead are held at
    # (5 * 12 + 4 * sum(fade) - 2.4) / 5 = 15.21 kW; carried undiminished, at 16 - 2.4 / 5 = 15.52.
    flows = _flows([16.0, 16.0, 12.0, 12.0, 12.0, 12.0], 1.6, [12.0] * 6, [12.0] * 6)
    np.testing.assert_allclose(
        flows[col.GRID_IMPORT_KW],
        [12.0, (5 * 12.0 + 4.0 * _fading_sum(5) - 2.4) / 5] + [12.0] * 4,
    )


@pytest.mark.parametrize(
    ("actual_kw", "expected_kw", "error_kw"),
    [
        ([], [], 0.0),
        ([12.0, 14.0, 13.0], [10.0, 10.0, 10.0], 3.0),
        # One spike among the latest does not move the median.
        ([10.0, 10.0, 90.0, 11.0, 11.0], [10.0] * 5, 1.0),
        # Only the latest eight count.
        ([100.0] * 3 + [5.0] * 8, [0.0] * 11, 5.0),
    ],
)
def test_the_nowcast_error_by_hand(actual_kw, expected_kw, error_kw):
    assert nowcast_error_kw(np.array(actual_kw), np.array(expected_kw)) == pytest.approx(error_kw)


@pytest.mark.parametrize(
    ("expected_kw", "tops_kw", "spare_kw_steps", "held_kw"),
    [
        ([20.0] * 4, [12.0] * 4, 4.0, 19.0),  # 4 x (20 - T) = 4
        ([20.0] * 4, [12.0] * 4, 40.0, 12.0),  # enough: the top stays
        ([20.0, 20.0, 5.0, 30.0], [12.0, 12.0, 12.0, np.inf], 8.0, 16.0),  # 2 x (20 - T) = 8
        ([20.0, 14.0], [12.0, 18.0], 4.0, 16.0),  # 20 - T = 4; 14 kW is under its own top
        ([20.0, 20.0], [12.0, 12.0], 0.0, 20.0),  # empty: the load itself
    ],
)
def test_the_held_top_by_hand(expected_kw, tops_kw, spare_kw_steps, held_kw):
    caps_kw = np.full(len(tops_kw), np.inf)
    level_kw = lowest_held_level_kw(
        np.array(expected_kw), np.array(tops_kw), caps_kw, spare_kw_steps
    )
    assert level_kw == pytest.approx(held_kw, abs=1e-6)


@pytest.mark.parametrize(
    ("expected_kw", "floors_kw", "caps_kw", "spare_kw_steps", "held_kw"),
    [
        ([20.0] * 4, [10.0] * 4, [30.0] * 4, 8.0, 18.0),  # 4 x (20 - L) = 8
        ([20.0] * 4, [10.0] * 4, [30.0] * 4, 100.0, 10.0),  # down to the floor, not below
        # A later step capped at 12 kW holds there whatever L: 8 of the 10 go to it.
        ([20.0, 20.0], [10.0, 10.0], [30.0, 12.0], 10.0, 18.0),
        ([20.0, 20.0], [10.0, 25.0], [30.0, 30.0], 4.0, 16.0),  # the second is under its floor
    ],
)
def test_the_lowest_held_level_by_hand(expected_kw, floors_kw, caps_kw, spare_kw_steps, held_kw):
    level_kw = lowest_held_level_kw(
        np.array(expected_kw), np.array(floors_kw), np.array(caps_kw), spare_kw_steps
    )
    assert level_kw == pytest.approx(held_kw, abs=1e-6)


@pytest.mark.parametrize("seed", [4, 9])
def test_peak_aware_runs_balance_and_stay_within_the_battery(seed):
    """Seeded random windows: the physics hold whatever the forecast got wrong."""
    example = example_bundle(REPO / "params.yaml", "commercial_demand_charge")
    series = SyntheticSeries(
        seed=seed,
        start_utc=pd.Timestamp("2025-01-06", tz="UTC") + pd.Timedelta(days=7 * seed),
        days=21,
        pv_peak_kw=0.0,
        load_profile="commercial",
        price_profile="commercial_day_night",
    )
    timeseries = make_timeseries(series, example.site, 15)
    provider = make_provider("learned", timeseries, example.site, example.run_config)
    result = backtest_rolling(example.site, example.run_config, timeseries, provider)
    # Fourteen daily plans after the week's warm-up, and re-plans on evenings with energy left.
    assert result.metrics["solves"] > 14
    dispatch = result.dispatch
    balance = (
        dispatch[col.LOAD_KW]
        + dispatch[col.BATTERY_CHARGE_KW]
        + dispatch[col.GRID_EXPORT_KW]
        + dispatch[col.PV_CURTAIL_KW]
        - dispatch[col.PV_KW]
        - dispatch[col.BATTERY_DISCHARGE_KW]
        - dispatch[col.GRID_IMPORT_KW]
    )
    assert np.abs(balance).max() < 1e-6
    battery = example.site.battery
    assert (
        dispatch[col.SOC_KWH].between(battery.soc_min_kwh - 1e-6, battery.soc_max_kwh + 1e-6).all()
    )
    assert (dispatch[col.BATTERY_DISCHARGE_KW] <= battery.discharge_power_max_kw + 1e-9).all()
    assert (dispatch[col.GRID_EXPORT_KW] <= 1e-9).all()  # the site's export limit is 0


def test_peak_aware_learned_keeps_most_of_the_example_demand_charge_value(tmp_path):
    """A regression guard on the example (74% measured), far above persistence_week (34%)."""
    folder = tmp_path / "site"
    generated = invoke("generate", "commercial_demand_charge", "--params", PARAMS, "--out", folder)
    assert generated.exit_code == 0, generated.output
    result = invoke("backtest", folder, "--mode", "rolling", "--forecast", "learned")
    assert result.exit_code == 0, result.output
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["captured_frac"] > 0.6


def test_live_plan_holds_the_reserve_and_names_its_import_ceiling():
    example = example_bundle(REPO / "params.yaml", "commercial_demand_charge")
    timeseries = make_timeseries(example.series, example.site, 15)
    run_config = example.run_config.model_copy(
        update={"rolling": example.run_config.rolling.model_copy(update={"forecast": "learned"})}
    )
    provider = make_provider("learned", timeseries, example.site, run_config)
    now = timeseries.index[30 * 96 + 40]
    reserve_kwh = provider.peak_reserve_kwh(now, 0.9)
    assert reserve_kwh > 0
    battery = example.site.battery
    plan, (_, ceiling_kw) = plan_now(example.site, run_config, provider, now, 400.0, 150.0)
    assert ceiling_kw is not None
    assert ceiling_kw >= 150.0
    # Starting above it, the plan never dips into the reserve where load could set a peak.
    tariff = compile_tariff(run_config.tariff, plan.dispatch)
    paid_for = paid_for_kw(
        tariff, this_months_floor_kw(tariff, now, run_config.tariff.local_timezone, 150.0)
    )
    net_kw = (plan.dispatch[col.LOAD_KW] - plan.dispatch[col.PV_KW]).to_numpy()
    at_risk = at_risk_steps(tariff, net_kw, paid_for)
    assert at_risk.any()
    held_kwh = plan.dispatch[col.SOC_KWH].to_numpy()[at_risk] - battery.soc_min_kwh
    assert (held_kwh >= reserve_kwh - 1e-6).all()


# Measured on three seeded pv_demand_charge sites of each of seeds 2026, 2027 and 2030 (42 and
# 90 days): PV at its P10 in demand-charge steps kept 2-9 points more than at its median.
def test_demand_charge_steps_plan_on_the_net_loads_high_side():
    """Load at peak_quantile, PV at its complement: a busier, cloudier step than the median.

    Only in the day ahead: the second day of a 48-hour plan keeps the median.
    """
    example = example_bundle(PARAMS, "commercial_demand_charge")
    series = example.series.model_copy(
        update={"pv_peak_kw": 150.0, "days": 21, "start_utc": pd.Timestamp("2025-05-05", tz="UTC")}
    )
    site = example.site.model_copy(update={"pv_peak_kw": 150.0})
    timeseries = make_timeseries(series, site, 15)
    run_config = example.run_config.model_copy(
        update={"rolling": example.run_config.rolling.model_copy(update={"forecast": "learned"})}
    )
    provider = make_provider("learned", timeseries, site, run_config)
    now = timeseries.index[14 * 96]
    point = provider.forecast(now, 192)
    tariff = compile_tariff(run_config.tariff, timeseries.loc[point.index])
    planned = plan_forecast(point, provider, tariff, 0.9)
    pd.testing.assert_frame_equal(planned.iloc[96:], point.iloc[96:])
    assert tariff.demand_steps()[96:].any()
    planned, point = planned.iloc[:96], point.iloc[:96]
    inside = tariff.demand_steps()[:96]
    quantiles = {series: q[:, :96] for series, q in provider.quantiles(now, 192).items()}
    assert inside.any()
    np.testing.assert_array_equal(
        planned[col.LOAD_KW].to_numpy()[inside], quantiles[col.LOAD_KW][2][inside]
    )
    np.testing.assert_array_equal(
        planned[col.PV_KW].to_numpy()[inside], quantiles[col.PV_KW][0][inside]
    )
    np.testing.assert_array_equal(
        planned[col.PV_KW].to_numpy()[~inside], point[col.PV_KW].to_numpy()[~inside]
    )
    assert (planned[col.PV_KW] <= point[col.PV_KW] + 1e-9).all()
    assert (planned[col.PV_KW] < point[col.PV_KW] - 1.0).any(), "a cloudier P10 in daylight"
    assert (planned[col.LOAD_KW] >= point[col.LOAD_KW] - 1e-9).all()


# Measured on seeds 1001-1004 of each PV example, 28 days in random months: hourly with the PV
# nowcast kept a mean 87% at the export-limited site (78% daily) and 83% at the home (81%).
@pytest.mark.parametrize(("seed", "month"), [(1001, 6), (1003, 4)])
def test_hourly_plans_with_the_pv_nowcast_keep_more_on_unseen_pv_sites(seed, month):
    example = example_bundle(PARAMS, "export_limited_pv")
    series = example.series.model_copy(
        update={
            "seed": seed,
            "days": 28,
            "start_utc": pd.Timestamp(f"2025-{month:02d}-03", tz="UTC"),
        }
    )
    timeseries = make_timeseries(series, example.site, 15)
    captured = {}
    for every_min in (1440, 60):
        run_config = example.run_config.model_copy(
            update={
                "rolling": example.run_config.rolling.model_copy(
                    update={"reoptimise_every_min": every_min, "forecast": "learned"}
                )
            }
        )
        provider = make_provider("learned", timeseries, example.site, run_config)
        run = backtest_rolling(example.site, run_config, timeseries, provider)
        captured[every_min] = run.metrics["captured_frac"]
    assert captured[60] > captured[1440] + 0.05


def _one_step(
    planned: list[float], load_kw: float, pv_kw: float, grid: GridConnection | None = None
) -> pd.Series:
    """Settle one quarter hour of ``planned`` (PLANNED_COLUMNS) in its meter band, 5 kWh stored."""
    index = pd.date_range("2025-06-02T12:00Z", periods=1, freq="15min")
    actual = pd.DataFrame({col.LOAD_KW: load_kw, col.PV_KW: pv_kw}, index=index)
    plan = pd.DataFrame([planned], index=index, columns=PLANNED_COLUMNS)
    site = make_site(grid)
    band_kw = meter_band_kw(plan, site.grid.export_limit_kw, np.array([np.inf]), np.array([False]))
    return SiteController(site, plan, 0.25, len(actual), band_kw).settle(actual, 5.0).iloc[0]


@pytest.mark.parametrize(
    ("planned", "demand_step", "band"),
    [
        # charge, discharge, import, export, PV, curtail -> (least, most net import)
        ([2.0, 0.0, 0.0, 0.0, 6.0, 0.0], False, (0.0, 0.0)),
        ([2.0, 0.0, 0.0, 0.0, 6.0, 0.0], True, (0.0, 7.0)),
        ([0.0, 1.0, 0.0, 5.0, 9.0, 0.0], False, (-5.0, np.inf)),
        ([0.0, 0.0, 4.0, 0.0, 9.0, 6.0], False, (-np.inf, np.inf)),
        ([0.0, 0.0, 4.0, 0.0, 0.0, 0.0], True, (-np.inf, 7.0)),
    ],
)
def test_the_meter_band_by_hand(planned, demand_step, band):
    plan = pd.DataFrame([planned], columns=PLANNED_COLUMNS)
    low, high = meter_band_kw(
        plan, 5.0, np.array([7.0 if demand_step else np.inf]), np.array([demand_step])
    )
    assert (low[0], high[0]) == band


@pytest.mark.parametrize(
    ("load_kw", "pv_kw", "flows"),
    [
        # Planned: charge 2 kW of a 6 kW PV surplus over a 4 kW load; nothing through the meter.
        (4.0, 6.0, {col.BATTERY_CHARGE_KW: 2.0, col.GRID_IMPORT_KW: 0.0}),
        # 3 kW more load: the battery stops charging and discharges 1 kW instead of importing.
        (7.0, 6.0, {col.BATTERY_DISCHARGE_KW: 1.0, col.GRID_IMPORT_KW: 0.0}),
        # 3 kW more PV: stored, not exported.
        (4.0, 9.0, {col.BATTERY_CHARGE_KW: 5.0, col.GRID_EXPORT_KW: 0.0}),
        # 12 kW more PV: the battery's 10 kW take 8 more, the other 4 kW are exported.
        (4.0, 18.0, {col.BATTERY_CHARGE_KW: 10.0, col.GRID_EXPORT_KW: 4.0}),
    ],
)
def test_a_self_consuming_plan_holds_the_meter_at_zero(load_kw, pv_kw, flows):
    settled = _one_step([2.0, 0.0, 0.0, 0.0, 6.0, 0.0], load_kw, pv_kw)
    for column, kw in flows.items():
        assert settled[column] == pytest.approx(kw)


def test_pv_above_a_planned_export_limit_is_stored_not_curtailed():
    # Planned: 5 kW out at the 5 kW limit; 3 kW more PV go into the battery.
    settled = _one_step(
        [0.0, 0.0, 0.0, 5.0, 9.0, 0.0], 4.0, 12.0, GridConnection(export_limit_kw=5.0)
    )
    assert settled[col.BATTERY_CHARGE_KW] == pytest.approx(3.0)
    assert settled[col.GRID_EXPORT_KW] == pytest.approx(5.0)
    assert settled[col.PV_CURTAIL_KW] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("import_limit_kw", "curtail_kw", "import_kw"),
    # Planned: 9 kW PV capped at 3 kW to import 2 kW at a negative price; 10 kW come: 7 are cut.
    [(None, 7.0, 2.0), (1.0, 6.0, 1.0)],
)
def test_planned_curtailment_caps_pv_within_the_import_limit(
    import_limit_kw, curtail_kw, import_kw
):
    settled = _one_step(
        [0.0, 0.0, 2.0, 0.0, 9.0, 6.0], 5.0, 10.0, GridConnection(import_limit_kw=import_limit_kw)
    )
    assert settled[col.PV_CURTAIL_KW] == pytest.approx(curtail_kw)
    assert settled[col.GRID_IMPORT_KW] == pytest.approx(import_kw)
