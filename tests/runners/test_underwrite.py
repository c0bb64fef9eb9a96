"""Underwriting: ageing across years, finance, uncertainty, sizing, and the CLI."""

import json
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from gridq import conventions as col
from gridq.engine import finance
from gridq.engine.bill import bill
from gridq.engine.degradation import age_one_year
from gridq.engine.forecast import make_provider
from gridq.engine.lifetime import escalated_tariff, escalated_timeseries, project_years
from gridq.engine.run import backtest_rolling
from gridq.engine.synth import make_timeseries
from gridq.engine.tariff import compile_tariff, working_days
from gridq.engine.underwriting_draws import (
    Assumptions,
    central,
    drawn,
    level_factors,
    reshuffled_days,
    weather_year,
)
from gridq.io.params import example_bundle
from gridq.runners import underwrite as underwrite_runner
from gridq.runners.underwrite import operate, sized, underwrite
from gridq.schemas import Underwriting
from tests.conftest import PARAMS, invoke


def _example(name="commercial_demand_charge", days=7, **underwriting):
    example = example_bundle(PARAMS, name)
    # persistence_day needs a day of history, so a week is enough to measure achievable value.
    run_config = example.run_config.model_copy(
        update={
            "underwriting": Underwriting.model_validate(
                example.run_config.underwriting.model_dump() | underwriting
            ),
            "rolling": example.run_config.rolling.model_copy(
                update={"forecast": "persistence_day"}
            ),
        }
    )
    timeseries = make_timeseries(
        example.series.model_copy(update={"days": days}),
        example.site,
        run_config.timestep_min,
        run_config.tariff.local_timezone,
    )
    return example.site, run_config, timeseries


def test_soh_never_rises_except_at_a_replacement():
    site, run_config, timeseries = _example(life_years=6, replacement_soh_frac=0.95)
    years = project_years(site, run_config, timeseries)
    life = years[years["year"] > 0].reset_index(drop=True)
    assert life["replaced"].any(), "the test needs a replacement to happen"
    assert (life["soh_end_frac"] <= life["soh_start_frac"]).all()
    for previous, current in pairwise(life.itertuples()):
        expected = 1.0 if previous.replaced else previous.soh_end_frac
        assert current.soh_start_frac == pytest.approx(expected)
        assert current.usable_capacity_kwh == pytest.approx(expected * site.battery.capacity_kwh)
    replaced = life[life["replaced"]]
    assert (replaced["replacement_gbp"] == 150.0 * site.battery.capacity_kwh).all()


def test_the_battery_left_at_the_end_is_worth_its_remaining_health():
    site, run_config, timeseries = _example(life_years=3)
    years = project_years(site, run_config, timeseries)
    life = years[years["year"] > 0].reset_index(drop=True)
    last = life.iloc[-1]
    # 150 GBP/kWh of nameplate, pro rata to the health left above the 0.7 threshold.
    share = (last["soh_end_frac"] - 0.7) / 0.3
    assert 0 < share < 1
    assert last["residual_value_gbp"] == pytest.approx(150.0 * 500.0 * share)
    assert (life["residual_value_gbp"].iloc[:-1] == 0).all()
    without = project_years(
        site,
        run_config.model_copy(
            update={
                "underwriting": run_config.underwriting.model_copy(
                    update={"residual_value_frac": 0.0}
                )
            }
        ),
        timeseries,
    )
    gained = years["cash_flow_gbp"] - without["cash_flow_gbp"]
    np.testing.assert_allclose(gained.iloc[:-1], 0.0, atol=1e-9)
    assert gained.iloc[-1] == pytest.approx(last["residual_value_gbp"])


def test_the_battery_ages_on_the_operated_soc_profile():
    site, run_config, timeseries = _example(life_years=2)
    years = underwrite(site, run_config, timeseries).years
    reference = years[(years["life"] == 0) & (years["year"] > 0)].reset_index(drop=True)
    operation = operate(site, run_config, timeseries)
    assert 0 < operation.share_of_year < len(timeseries) / (96 * 365)
    for row in reference.itertuples():
        expected = age_one_year(
            operation.soc_frac * row.usable_capacity_kwh,
            row.usable_capacity_kwh,
            operation.share_of_year,
            run_config.underwriting.degradation,
        )
        assert row.cycle_fade_frac == pytest.approx(expected.cycle_fade_frac)
        assert row.equivalent_full_cycles == pytest.approx(expected.equivalent_full_cycles)
    # The perfect-foresight optimum cycles differently: it is not what the battery ages on.
    bound = project_years(site, run_config, timeseries)
    assert bound.loc[1, "cycle_fade_frac"] != pytest.approx(reference.loc[0, "cycle_fade_frac"])


def test_each_project_year_keeps_the_share_measured_at_its_health():
    site, run_config, timeseries = _example(life_years=4)
    result = underwrite(site, run_config, timeseries)
    operation = result.summary["operation"]
    ((new,), (worn,)) = (
        operation["captured_frac_by_weather_year"],
        operation["worn_captured_frac_by_weather_year"],
    )
    assert operation["worn_soh_frac"] == 0.7
    # The worn share is a rolling run of the last year: escalated tariff, battery at 70%.
    options = run_config.underwriting
    factor = 1.02**3
    last_year = run_config.model_copy(
        update={"tariff": escalated_tariff(run_config.tariff, factor)}
    )
    worn_site = site.model_copy(
        update={"battery": site.battery.model_copy(update={"capacity_kwh": 0.7 * 500.0})}
    )
    series = escalated_timeseries(timeseries, factor)
    provider = make_provider("persistence_day", series, worn_site, last_year)
    rolled = backtest_rolling(worn_site, last_year, series, provider)
    assert worn == pytest.approx(rolled.metrics["captured_frac"], rel=1e-9)
    assert worn != pytest.approx(new, abs=1e-3), "the test needs the two shares to differ"
    # Every year keeps the share at its starting SOH, on the line through the two runs.
    reference = result.years[(result.years["life"] == 0) & (result.years["year"] > 0)]
    soh = reference["soh_start_frac"].to_numpy()
    assert soh[0] == 1.0
    assert soh[-1] < 1.0
    assert options.replacement_soh_frac == 0.7
    expected = new + (worn - new) * (1.0 - soh) / (1.0 - 0.7)
    np.testing.assert_allclose(reference["captured_frac"], expected, rtol=1e-12)
    np.testing.assert_allclose(
        reference["savings_gbp"], expected * reference["perfect_savings_gbp"], rtol=1e-12
    )


def test_cash_flows_and_figures_follow_their_formulas():
    site, run_config, timeseries = _example(life_years=3, fixed_opex_gbp_per_year=1000.0)
    result = underwrite(site, run_config, timeseries)
    years = result.years[result.years["life"] == 0].reset_index(drop=True)
    capex = 250.0 * 500.0 + 80.0 * 250.0
    assert years.loc[0, "cash_flow_gbp"] == -capex
    life = years[years["year"] > 0]
    np.testing.assert_allclose(
        life["cash_flow_gbp"],
        life["savings_gbp"] - 1000.0 - life["replacement_gbp"] + life["residual_value_gbp"],
    )
    np.testing.assert_allclose(
        life["perfect_savings_gbp"], life["no_battery_bill_gbp"] - life["perfect_bill_gbp"]
    )
    # Achievable savings are the perfect-foresight ones times the share kept at the year's SOH.
    (captured,) = result.summary["operation"]["captured_frac_by_weather_year"]
    assert 0 < captured < 1
    assert life["captured_frac"].iloc[0] == captured
    np.testing.assert_allclose(
        life["savings_gbp"], life["captured_frac"] * life["perfect_savings_gbp"]
    )
    reference = result.summary["reference"]
    flows = years["cash_flow_gbp"].to_list()
    assert reference["npv_gbp"] == pytest.approx(finance.npv(0.08, flows))
    assert finance.npv(reference["irr_frac"], flows) == pytest.approx(0.0, abs=1e-6)
    bound = result.summary["perfect_foresight_bound"]
    assert bound["npv_gbp"] == pytest.approx(
        finance.npv(0.08, years["perfect_cash_flow_gbp"].to_list())
    )
    assert reference["npv_gbp"] < bound["npv_gbp"]
    # Escalated tariffs: year 2's no-battery bill is 2% above year 1's.
    bills = life["no_battery_bill_gbp"].to_numpy()
    assert bills[1] == pytest.approx(1.02 * bills[0])


def _spread(**sources):
    return {"uncertainty": {"scenarios": 6} | sources}


def test_p10_p50_p90_are_ordered_and_spread_by_every_source():
    site, run_config, timeseries = _example(life_years=2, weather_years=2, days=14, **_spread())
    result = underwrite(site, run_config, timeseries)
    uncertainty = result.summary["uncertainty"]
    for spread in uncertainty.values():
        assert spread["p90"] < spread["p50"] < spread["p10"]
    assert set(result.years["life"]) == set(range(7))
    assert result.summary["drawn_lives"] == 6
    assert len(result.summary["uncertainty_sources"]) == 5
    # Without any spread, every drawn life of the bundle's own year is the reference.
    still = {
        "pv_yield_sd_frac": 0.0,
        "load_level_sd_frac": 0.0,
        "tariff_escalation_sd_frac_per_year": 0.0,
        "load_growth_sd_frac_per_year": 0.0,
        "ageing_sd_frac": 0.0,
    }
    site, run_config, timeseries = _example(life_years=2, days=14, **_spread(**still))
    result = underwrite(site, run_config, timeseries)
    for figure, spread in result.summary["uncertainty"].items():
        for value in spread.values():
            assert value == pytest.approx(result.summary["reference"][figure], rel=1e-6)


def test_drawn_lives_are_seeded_and_take_the_weather_years_in_turn():
    _, run_config, _ = _example(weather_years=3, seed=5)
    options = run_config.underwriting
    draws = [drawn(options, life) for life in range(6)]
    assert [d.weather_year for d in draws] == [0, 1, 2, 0, 1, 2]
    assert draws == [drawn(options, life) for life in range(6)]
    assert len({d.tariff_escalation_frac_per_year for d in draws}) == 6
    assert all(d.ageing_factor > 0 for d in draws)
    assert central(options) == Assumptions(0, 0.02, 0.0, 1.0)


def test_load_growth_grows_the_load_each_year():
    # No PV, no escalation: year 2 at 10% growth is year 1 of a site with 10% more load.
    site, run_config, timeseries = _example(
        life_years=2, tariff_escalation_frac_per_year=0.0, load_growth_frac_per_year=0.1
    )
    grown = project_years(site, run_config, timeseries)
    bigger = timeseries.assign(**{col.LOAD_KW: timeseries[col.LOAD_KW] * 1.1})
    first = project_years(site, run_config, bigger)
    assert grown.loc[2, "load_growth_factor"] == pytest.approx(1.1)
    assert grown.loc[2, "no_battery_bill_gbp"] == pytest.approx(first.loc[1, "no_battery_bill_gbp"])
    assert grown.loc[2, "no_battery_bill_gbp"] > 1.05 * grown.loc[1, "no_battery_bill_gbp"]


def test_the_ageing_factor_scales_the_fade():
    site, run_config, timeseries = _example(life_years=1)
    options = run_config.underwriting
    reference = project_years(site, run_config, timeseries)
    faster = project_years(
        site, run_config, timeseries, Assumptions(0, options.tariff_escalation_frac_per_year, 0, 2)
    )
    for fade in ("cycle_fade_frac", "calendar_fade_frac"):
        assert faster.loc[1, fade] == pytest.approx(2 * reference.loc[1, fade])
    assert faster.loc[1, "soh_end_frac"] < reference.loc[1, "soh_end_frac"]


def test_weather_years_scale_pv_yield_and_load_level():
    site, run_config, timeseries = _example(
        "pv_battery_tou", days=28, weather_years=3, **_spread(pv_yield_sd_frac=0.1)
    )
    assert weather_year(timeseries, 0, run_config) is timeseries
    for variant in (1, 2):
        pv_factor, load_factor = level_factors(run_config.underwriting, variant)
        assert pv_factor != 1.0
        assert load_factor != 1.0
        year = weather_year(timeseries, variant, run_config)
        moved = reshuffled_days(timeseries, variant, 0, "Europe/London")
        np.testing.assert_allclose(year[col.PV_KW], pv_factor * moved[col.PV_KW])
        np.testing.assert_allclose(year[col.LOAD_KW], load_factor * moved[col.LOAD_KW])


def test_a_bigger_battery_never_saves_less_in_its_first_year():
    site, run_config, timeseries = _example(life_years=1)
    site = site.model_copy(
        update={"battery": site.battery.model_copy(update={"degradation_cost_gbp_per_kwh": 0.0})}
    )
    savings = []
    for capacity_kwh, power_kw in ((100.0, 50.0), (300.0, 50.0), (300.0, 150.0), (600.0, 250.0)):
        candidate = sized(site, {"capacity_kwh": capacity_kwh, "power_kw": power_kw})
        years = project_years(candidate, run_config, timeseries)
        savings.append(float(years.loc[1, "savings_gbp"]))
    assert all(later >= earlier - 1e-6 for earlier, later in pairwise(savings))
    assert savings[-1] > savings[0]


def test_escalation_scales_every_charge_of_the_bill():
    site, run_config, timeseries = _example("uk_business_duos")
    dispatch = timeseries.assign(
        **{
            col.GRID_IMPORT_KW: timeseries[col.LOAD_KW],
            col.GRID_EXPORT_KW: 0.0,
            col.BATTERY_CHARGE_KW: 0.0,
            col.BATTERY_DISCHARGE_KW: 0.0,
            col.PV_CURTAIL_KW: 0.0,
            col.SOC_KWH: 0.0,
        }
    )
    base = bill(dispatch, compile_tariff(run_config.tariff, timeseries), 0.0)
    doubled = bill(
        dispatch,
        compile_tariff(
            escalated_tariff(run_config.tariff, 2.0), escalated_timeseries(timeseries, 2.0)
        ),
        0.0,
    )
    for item, value in base.as_dict().items():
        if isinstance(value, float):
            assert getattr(doubled, item) == pytest.approx(2.0 * value), item


def test_weather_variants_move_whole_days_within_four_week_blocks():
    # Across the autumn clock change: its 25-hour day stays, the others move.
    _, run_config, timeseries = _example(days=62)
    timeseries.index = timeseries.index + (pd.Timestamp("2025-10-01") - pd.Timestamp("2025-01-01"))
    variant = reshuffled_days(timeseries, 1, 0, "Europe/London")
    assert not np.allclose(variant[col.LOAD_KW], timeseries[col.LOAD_KW])
    local = pd.DatetimeIndex(timeseries.index).tz_convert("Europe/London")
    day = (local.normalize().tz_localize(None) - pd.Timestamp("2025-10-01")).days
    blocks = (day // 28).astype(str) + np.where(local.day_of_week >= 5, " weekend", " weekday")
    for series in (col.LOAD_KW, col.PV_KW):
        np.testing.assert_allclose(
            variant[series].groupby(blocks).sum(), timeseries[series].groupby(blocks).sum()
        )
    # Days cross month ends, so monthly totals move.
    months = local.strftime("%Y-%m")
    assert not np.allclose(
        variant[col.LOAD_KW].groupby(months).sum(), timeseries[col.LOAD_KW].groupby(months).sum()
    )
    np.testing.assert_array_equal(variant[col.IMPORT_PRICE], timeseries[col.IMPORT_PRICE])
    assert reshuffled_days(timeseries, 0, 0, "Europe/London") is timeseries


def test_cli_underwrites_and_sweeps_a_bundle(tmp_path):
    folder = tmp_path / "site"
    result = invoke(
        "generate", "commercial_demand_charge", "--params", PARAMS, "--out", folder, "--days", "9"
    )
    assert result.exit_code == 0, result.output
    result = invoke(
        "underwrite", folder, "--sweep", "capacity_kwh=200:400:200", "--sweep", "power_kw=100,200"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((folder / "underwriting.json").read_text())
    sizes = summary["sweep"]["sizes"]
    assert len(sizes) == 4
    # Ranked on achievable NPV: each size operated, its savings scaled by the share it kept.
    for size in sizes:
        assert 0 < size["captured_frac"] <= 1 + 1e-9, size
        assert size["npv_gbp"] <= size["perfect_npv_gbp"] + 1e-6, size
    assert len({size["captured_frac"] for size in sizes}) > 1
    best = max(sizes, key=lambda size: size["npv_gbp"])
    assert summary["sweep"]["best"]["capacity_kwh"] == best["capacity_kwh"]
    assert summary["capacity_kwh"] == best["capacity_kwh"]
    assert f"capacity_kwh {best['capacity_kwh']:g}" in result.stdout
    years = pd.read_parquet(folder / "underwriting.parquet")
    assert list(years[years["life"] == 0]["year"]) == list(range(11))
    assert (folder / "underwriting.html").read_text().count('class="plotly-graph-div"') == 2


@pytest.mark.parametrize(
    "spec",
    ["capacity=100:200:100", "capacity_kwh=300:100:100", "power_kw=a,b", "capacity_kwh=0,100"],
)
def test_cli_rejects_a_bad_sweep_in_one_line(tmp_path, spec):
    folder = tmp_path / "site"
    invoke(
        "generate", "commercial_demand_charge", "--params", PARAMS, "--out", folder, "--days", "1"
    )
    result = invoke("underwrite", folder, "--sweep", spec)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --sweep")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (folder / "underwriting.json").exists()


def test_bank_holidays_trade_places_only_with_other_days_off():
    # Christmas and Boxing Day 2025 fall on a Thursday and Friday: in every variant they keep
    # the low load of a closed site, and no working day gets it.
    example = example_bundle(PARAMS, "commercial_demand_charge")
    series = example.series.model_copy(update={"start_utc": "2025-12-01T00:00Z", "days": 35})
    timeseries = make_timeseries(series, example.site, 15)
    local = pd.DatetimeIndex(timeseries.index).tz_convert("Europe/London")
    office_hours = (local.hour >= 9) & (local.hour < 17)
    holidays = local.strftime("%m-%d").isin(["12-25", "12-26"])
    working = working_days(local, "england_and_wales")
    for variant in (1, 2, 3):
        load = reshuffled_days(timeseries, variant, 0, "Europe/London")[col.LOAD_KW]
        assert load[office_hours & holidays].max() < 100.0
        assert load[office_hours & working].mean() > 150.0


def test_operations_spread_over_processes_equal_the_same_runs_in_turn(monkeypatch):
    site, run_config, timeseries = _example(life_years=2, days=14)
    weathers = [(site, weather_year(timeseries, variant, run_config)) for variant in (0, 1)]
    spread = underwrite_runner.operate_all(weathers, run_config)
    monkeypatch.setattr(underwrite_runner, "PARALLEL_FROM_RUNS", 10**6)
    in_turn = underwrite_runner.operate_all(weathers, run_config)
    for parallel, sequential in zip(spread, in_turn, strict=True):
        assert parallel.captured_frac == sequential.captured_frac
        assert parallel.worn_captured_frac == sequential.worn_captured_frac
        np.testing.assert_array_equal(parallel.soc_frac, sequential.soc_frac)
