"""Rolling horizon and the live step against hand-computed and single-shot answers."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from gridq import conventions as col
from gridq.engine.bill import bill
from gridq.engine.forecast import ReplayForecast, make_provider
from gridq.engine.plan import LiveState, plan_window
from gridq.engine.run import optimise
from gridq.engine.tariff import compile_tariff
from gridq.engine.windows import RollingOperation, Windows, rolling_backtest
from gridq.io import bundle as io
from gridq.schemas.tariff import DemandCharge, FlatRate, Tariff
from tests.conftest import (
    EXAMPLE_NAMES,
    PARAMS,
    invoke,
    make_run_config,
    make_site,
    make_timeseries,
)
from tests.engine.test_invariants import assert_physical


@pytest.fixture(scope="module")
def week_bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("rolling")
    for name in EXAMPLE_NAMES:
        result = invoke("generate", name, "--params", PARAMS, "--out", root / name, "--days", "6")
        assert result.exit_code == 0, result.output
    return root


def test_perfect_forecast_with_a_whole_run_horizon_equals_the_single_shot(week_bundles):
    inputs = io.read_bundle(week_bundles / "commercial_demand_charge")
    site, run_config, timeseries = inputs.site, inputs.run_config, inputs.timeseries
    result = rolling_backtest(
        site,
        run_config,
        timeseries,
        make_provider("perfect", timeseries, site, run_config),
        pd.Timedelta(days=1),
        pd.Timedelta(days=30),
    )
    tariff = compile_tariff(run_config.tariff, timeseries)
    cost = site.battery.degradation_cost_gbp_per_kwh
    rolled = bill(result.dispatch, tariff, cost).total_cost_gbp
    single = bill(optimise(site, run_config, timeseries).dispatch, tariff, cost).total_cost_gbp
    assert rolled == pytest.approx(single, rel=1e-6)
    assert result.solves == 6


@pytest.mark.parametrize(
    ("name", "days", "feature"),
    [
        # At night this home exports at 0.15 and imports at 0.09 GBP/kWh: the plan shares steps
        # between importing and exporting, and settling those on the net alone lost ~6%.
        ("pv_battery_tou", 6, "imports_and_exports"),
        # In its second week import pays the site at midday: the plan curtails PV to import
        # more, and a controller that did not follow the curtailment lost ~2% of the value.
        ("export_limited_pv", 14, "curtails_to_import"),
    ],
)
def test_an_exact_forecast_settles_to_the_plan(tmp_path, name, days, feature):
    result = invoke("generate", name, "--params", PARAMS, "--out", tmp_path, "--days", days)
    assert result.exit_code == 0, result.output
    inputs = io.read_bundle(tmp_path)
    site, run_config, timeseries = inputs.site, inputs.run_config, inputs.timeseries
    vintage = timeseries[[col.LOAD_KW, col.PV_KW]].rename_axis(col.TIMESTAMP).reset_index()
    exact = ReplayForecast(timeseries, vintage.assign(issued_at=timeseries.index[0]))
    cost = site.battery.degradation_cost_gbp_per_kwh
    tariff = compile_tariff(run_config.tariff, timeseries)
    costs, features = {}, {}
    for provider_name, provider in (
        ("exact", exact),
        ("perfect", make_provider("perfect", timeseries, site, run_config)),
    ):
        dispatch = rolling_backtest(
            site, run_config, timeseries, provider, pd.Timedelta(hours=1), pd.Timedelta(hours=48)
        ).dispatch
        importing = dispatch[col.GRID_IMPORT_KW] > 1e-6
        costs[provider_name] = bill(dispatch, tariff, cost).total_cost_gbp
        features[provider_name] = {
            "imports_and_exports": int((importing & (dispatch[col.GRID_EXPORT_KW] > 1e-6)).sum()),
            "curtails_to_import": int((importing & (dispatch[col.PV_CURTAIL_KW] > 1e-6)).sum()),
        }
    assert features["perfect"][feature] > 0
    assert costs["exact"] == pytest.approx(costs["perfect"], abs=1e-6)
    assert features["exact"] == features["perfect"]


def _rolling_backtest(bundle, *options):
    """A rolling backtest on the day-old forecast (a day of warm-up suits week-long bundles)."""
    rolling = ("--mode", "rolling", "--forecast", "persistence_day")
    return invoke("backtest", bundle, *rolling, *options)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_realised_savings_never_exceed_perfect_foresight(week_bundles, name):
    bundle = week_bundles / name
    result = _rolling_backtest(bundle, "--reoptimise-every", "1d", "--horizon", "36h")
    assert result.exit_code == 0, result.output
    metrics = json.loads((bundle / io.METRICS).read_text())
    assert metrics["mode"] == "rolling"
    assert metrics["savings_gbp"] <= metrics["perfect_foresight"]["savings_gbp"] + 1e-6
    assert metrics["forecast_gap_gbp"] >= -1e-6
    perfect_gbp = metrics["perfect_foresight"]["savings_gbp"]
    if perfect_gbp > 1e-9:
        # Published figures are rounded to 1e-6 (PUBLISHED_DECIMALS).
        assert metrics["captured_frac"] == pytest.approx(
            metrics["savings_gbp"] / perfect_gbp, abs=2e-6
        )
        assert metrics["captured_frac"] <= 1 + 1e-9
    assert set(metrics["forecast_error"]) == {"load_kw", "pv_kw"}
    inputs = io.read_bundle(bundle)
    assert_physical(io.read_dispatch(bundle / io.DISPATCH, 15), inputs.site.battery)


def test_live_step_is_deterministic_and_within_limits(week_bundles):
    inputs = io.read_bundle(week_bundles / "pv_battery_tou")
    now = inputs.timeseries.index[2 * 96 + 68]
    forecast = make_provider(
        "persistence_day", inputs.timeseries, inputs.site, inputs.run_config
    ).forecast(now, 36 * 4)
    state = LiveState(now=now, soc_kwh=7.0)
    first = plan_window(inputs.site, inputs.run_config, state, forecast)
    second = plan_window(inputs.site, inputs.run_config, state, forecast)
    assert first.setpoint() == second.setpoint()
    battery = inputs.site.battery
    plan = first.dispatch
    assert (plan[col.BATTERY_CHARGE_KW] <= battery.charge_power_max_kw + 1e-9).all()
    assert (plan[col.BATTERY_DISCHARGE_KW] <= battery.discharge_power_max_kw + 1e-9).all()
    assert plan[col.SOC_KWH].between(battery.soc_min_kwh - 1e-6, battery.soc_max_kwh + 1e-6).all()


def monthly_demand_charge_site():
    """A flat 0.2 GBP/kWh with a 10 GBP/kW monthly demand charge; a 10 kWh, 10 kW battery that
    wears at 0.01 GBP/kWh, so it discharges only where that pays."""
    tariff = Tariff(
        energy=FlatRate(rate_gbp_per_kwh=0.2),
        demand_charges=(DemandCharge(name="monthly", rate_gbp_per_kw=10.0),),
    )
    site = make_site(
        charge_power_max_kw=10.0, discharge_power_max_kw=10.0, degradation_cost_gbp_per_kwh=0.01
    )
    return tariff, site


def test_month_to_date_peak_floor_does_not_pay_a_peak_twice():
    # 30 kW is already billed this month. The horizon has 28, 28, 35, 28 kW; energy costs the
    # same at every step and discharging wears the battery, so the plan shaves exactly the 5 kW
    # above the old peak and no more: import 30 kW at the spike, the battery idle otherwise.
    tariff, site = monthly_demand_charge_site()
    forecast = make_timeseries([28, 28, 35, 28])
    # The four steps lie in one billing period.
    floor_kw = {"monthly": np.array([30.0])}
    state = LiveState(now=forecast.index[0], soc_kwh=10.0, peak_floor_kw=floor_kw)
    plan = plan_window(site, make_run_config(tariff), state, forecast).dispatch
    np.testing.assert_allclose(plan[col.BATTERY_DISCHARGE_KW], [0, 0, 5, 0], atol=1e-6)
    np.testing.assert_allclose(plan[col.GRID_IMPORT_KW], [28, 28, 30, 28], atol=1e-6)
    # Without the floor the plan would shave the spike further, paying for a lower peak that
    # the month has already exceeded.
    unfloored = plan_window(
        site, make_run_config(tariff), LiveState(now=forecast.index[0], soc_kwh=10.0), forecast
    ).dispatch
    assert unfloored[col.GRID_IMPORT_KW].max() < 30.0 - 1.0


def test_a_plan_solved_ahead_counts_the_running_steps_import_in_the_months_peak():
    # Planned during the step before it, whose 40 kW is not yet recorded: the month's peak is
    # already 40, so shaving the 35 kW spike would pay for nothing. Only the plan counts the
    # step; the operation's peaks wait for the settled import.
    tariff, site = monthly_demand_charge_site()
    run_config = make_run_config(tariff)
    timeseries = make_timeseries([40, 28, 28, 35, 28, 28])  # the plan does not end the run
    index = pd.DatetimeIndex(timeseries.index)
    provider = make_provider("perfect", timeseries, site, run_config)

    def plan_from_step_1(unrecorded_import_kw):
        operation = RollingOperation(site, run_config, index, Windows(0, 4, 4), timeseries)
        window = operation.plan(1, 10.0, provider, unrecorded_import_kw)
        assert operation.peaks_kw["monthly"].tolist() == [0.0]
        return window.plan.dispatch

    ahead = plan_from_step_1(np.array([40.0]))
    np.testing.assert_allclose(ahead[col.BATTERY_DISCHARGE_KW], [0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(ahead[col.GRID_IMPORT_KW], [28, 28, 35, 28], atol=1e-6)
    unaware = plan_from_step_1(None)
    assert unaware[col.GRID_IMPORT_KW].max() < 35.0 - 1.0


def test_live_step_cli_prints_the_setpoint_as_json(week_bundles, tmp_path):
    # Two days in, so a forecast needing a day of history: the bundle's copy says which.
    bundle = tmp_path / "site"
    shutil.copytree(week_bundles / "commercial_demand_charge", bundle)
    config = yaml.safe_load((bundle / "run_config.yaml").read_text())
    config["rolling"]["forecast"] = "persistence_day"
    (bundle / "run_config.yaml").write_text(yaml.safe_dump(config))
    result = invoke(
        "live",
        "step",
        bundle,
        "--at",
        "2025-01-03T17:00Z",
        "--soc-kwh",
        "200",
        "--peak-so-far-kw",
        "150",
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["setpoint"]["interval_start"] == "2025-01-03T17:00:00+00:00"
    assert len(answer["plan"]) == 48 * 4 or answer["plan"][-1]["timestamp"] < "2025-01-07"
    # 17:00 is in the demand charge: the band's top is its target, at least the peak already set.
    assert answer["net_import_band_kw"]["max"] >= 150
    bad = invoke("live", "step", bundle, "--at", "2025-01-03T17:00", "--soc-kwh", "200")
    assert bad.exit_code == 2
    assert "has no time zone; add Z for UTC" in bad.stderr
    outside = invoke("live", "step", bundle, "--at", "2025-01-03T17:00Z", "--soc-kwh", "900")
    assert outside.exit_code == 2
    assert "soc_kwh 900 is outside the battery's limits" in outside.stderr


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--forecast", "bogus"), "forecast: Input should be 'perfect'"),
        (("--horizon", "5x"), "--horizon '5x' is not a duration"),
        (("--forecast", "seasonal_naive"), "is no longer than the forecast's warm-up"),
        (("--reoptimise-every", "7min"), "is not a whole number of 15-min steps"),
        (("--horizon", "1445min"), "is not a whole number of 15-min steps"),
        (("--reoptimise-every", "2h", "--horizon", "1h"), "is shorter than the re-plan interval"),
        (
            ("--forecast", "persistence_day", "--reoptimise-every", "30d", "--horizon", "30d"),
            "is longer than the run",
        ),
    ],
)
def test_bad_rolling_options_are_one_line_errors(week_bundles, options, expected):
    result = invoke("backtest", week_bundles / "export_limited_pv", "--mode", "rolling", *options)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert expected in result.stderr


@pytest.mark.parametrize("every", ["15min", "75min", "1d"])
def test_every_runner_output_can_be_priced_and_reported(week_bundles, tmp_path, every):
    # A rolling run starts after its forecast's warm-up, so its tables cover fewer steps.
    bundle = tmp_path / "site"
    shutil.copytree(week_bundles / "pv_battery_tou", bundle)
    result = _rolling_backtest(bundle, "--reoptimise-every", every)
    assert result.exit_code == 0, result.output
    rolled = json.loads((bundle / io.METRICS).read_text())
    for command in ("report", "bill", "metrics", "verify"):
        result = invoke(command, bundle)
        assert result.exit_code == 0, (command, result.output)
    repriced = json.loads((bundle / io.METRICS).read_text())
    assert repriced["savings_gbp"] == pytest.approx(rolled["savings_gbp"])


def test_live_step_at_the_last_step_plans_one_step(tmp_path):
    bundle = tmp_path / "site"
    result = invoke(
        "generate", "pv_battery_tou", "--params", PARAMS, "--out", bundle, "--days", "8"
    )
    assert result.exit_code == 0, result.output
    last = pd.read_parquet(bundle / io.TIMESERIES)["timestamp"].iloc[-1]
    result = invoke(
        "live", "step", bundle, "--at", last.strftime("%Y-%m-%dT%H:%MZ"), "--soc-kwh", "5"
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["plan"]) == 1
