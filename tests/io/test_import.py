"""gridq import: real meter, price and PV files into a bundle, and bad files refused."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridq.engine import ingest
from gridq.io import bundle as io
from gridq.io import lineage
from tests.conftest import PARAMS, REPO, invoke

EXAMPLES = REPO / "data" / "import_examples"
METER = EXAMPLES / "meter_half_hourly.csv"
PRICES = EXAMPLES / "prices_half_hourly.csv"
INVERTER = EXAMPLES / "inverter_5min.csv"


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A bundle's configs (the home example) with a synthetic timeseries to be replaced."""
    folder = tmp_path / "site"
    assert invoke("generate", "pv_battery_tou", "--params", PARAMS, "--out", folder).exit_code == 0
    return folder


def import_(bundle: Path, *extra) -> object:
    return invoke(
        "import", bundle, "--load", METER, "--import-price", PRICES, "--pv", INVERTER, *extra
    )


def test_the_example_files_import_validate_and_backtest(bundle):
    result = import_(bundle, "--export-price-gbp-per-kwh", "0.05")
    assert result.exit_code == 0, result.output
    timeseries = pd.read_parquet(bundle / io.TIMESERIES).set_index("timestamp")
    # Local 28 March 00:00 GMT to 31 March 24:00 BST, on 15-minute steps (30 March has 23 h).
    assert timeseries.index[0] == pd.Timestamp("2025-03-28T00:00Z")
    assert timeseries.index[-1] == pd.Timestamp("2025-03-31T22:45Z")
    assert len(timeseries) == (4 * 24 - 1) * 4
    # Energy is kept: the meter's kWh, and the inverter's 5-minute W as 15-minute means.
    meter = pd.read_csv(METER)
    assert timeseries["load_kw"].sum() * 0.25 == pytest.approx(meter["Consumption (kWh)"].sum())
    inverter = pd.read_csv(INVERTER)
    kept = inverter["Power (W)"].to_numpy()[: len(timeseries) * 3]
    assert timeseries["pv_kw"].sum() * 0.25 == pytest.approx(kept.sum() / 1000 / 12)
    assert (timeseries["export_price_gbp_per_kwh"] == 0.05).all()
    assert not timeseries["filled"].any()
    # Great Expectations warns on import, which this suite turns into errors: a process of its own.
    suite = REPO / "stages" / "validate" / "timeseries.json"
    validated = subprocess.run(
        [Path(sys.executable).parent / "gridq", "validate", bundle, "--table", "timeseries"]
        + ["--suite", suite],
        capture_output=True,
        text=True,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert invoke("backtest", bundle).exit_code == 0
    provenance = json.loads((bundle / io.METADATA).read_text())["import_provenance"]
    assert [s["quantity"] for s in provenance["sources"]] == ["load", "import_price", "pv"]
    assert provenance["sources"][0]["sha256"] == hashlib.sha256(METER.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("day", "periods"), [("30/03/2025", 46), ("26/10/2025", 50), ("15/01/2025", 48)]
)
def test_settlement_periods_on_clock_change_days_are_contiguous_utc(day, periods):
    dates = pd.Series([day] * periods)
    starts = ingest.settlement_period_starts(dates, pd.Series(range(1, periods + 1)))
    assert (np.diff(starts) == pd.Timedelta(minutes=30)).all()
    midnight = pd.Timestamp(pd.to_datetime(day, dayfirst=True)).tz_localize("Europe/London")
    assert starts[0] == midnight
    assert starts[-1] + pd.Timedelta(minutes=30) == midnight + pd.Timedelta(hours=periods / 2)


def test_interval_end_stamps_become_starts_and_units_become_kw():
    stamps = pd.Series(["2025-06-01 00:15", "2025-06-01 00:30", "2025-06-01 00:45"])
    index = ingest.stamps_to_utc(stamps, "Europe/London")
    # 00:15 BST is 23:15 UTC the day before; an end stamp of a 15-minute interval.
    assert index[0] == pd.Timestamp("2025-05-31T23:15Z")
    values = np.array([1000.0, 2000.0])
    assert ingest.to_kw(values, "W", 0.25) == pytest.approx([1.0, 2.0])
    assert ingest.to_kw(values, "kW", 0.25) == pytest.approx([1000.0, 2000.0])
    assert ingest.to_kw(values, "kWh", 0.5) == pytest.approx([2000.0, 4000.0])
    assert ingest.to_kw(values, "Wh", 0.25) == pytest.approx([4.0, 8.0])
    assert ingest.to_gbp_per_kwh(np.array([25.0]), "p/kWh") == pytest.approx([0.25])
    assert ingest.to_gbp_per_kwh(np.array([250.0]), "GBP/MWh") == pytest.approx([0.25])


@pytest.mark.parametrize(("from_min", "to_min"), [(5, 15), (30, 15), (15, 60), (60, 15)])
def test_resampling_keeps_the_energy(from_min, to_min):
    rng = np.random.default_rng(from_min * 100 + to_min)
    steps = 24 * 60 // from_min
    index = pd.date_range("2025-01-01", periods=steps, freq=f"{from_min}min", tz="UTC")
    frame = pd.DataFrame({"load_kw": rng.uniform(0, 10, steps)}, index=index)
    out, filled = ingest.resample(frame, from_min, to_min, np.zeros(steps, dtype=bool))
    assert out["load_kw"].sum() * to_min == pytest.approx(frame["load_kw"].sum() * from_min)
    assert len(filled) == len(out)


def test_gaps_are_refused_by_default_and_filled_on_request(bundle, tmp_path):
    gappy = tmp_path / "meter.csv"
    meter = pd.read_csv(METER)
    meter.loc[10:11, "Consumption (kWh)"] = None
    meter.drop(index=40).to_csv(gappy, index=False)
    before = (bundle / io.TIMESERIES).read_bytes()
    refused = invoke("import", bundle, "--load", gappy, "--import-price", PRICES)
    assert refused.exit_code == 2
    assert "3 step(s) missing or empty, the first at 2025-03-28T05:00Z" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert (bundle / io.TIMESERIES).read_bytes() == before
    filled = invoke("import", bundle, "--load", gappy, "--import-price", PRICES, "--fill", "linear")
    assert filled.exit_code == 0, filled.output
    timeseries = pd.read_parquet(bundle / io.TIMESERIES).set_index("timestamp")
    # Three half-hours missing, each two 15-minute steps.
    assert timeseries["filled"].sum() == 6
    assert timeseries.loc["2025-03-28T05:00Z", "filled"]
    assert (timeseries["pv_kw"] == 0).all()


def bad_meter(tmp_path, change) -> Path:
    meter = pd.read_csv(METER, dtype=str)
    change(meter)
    path = tmp_path / "bad.csv"
    meter.to_csv(path, index=False)
    return path


def duplicate(meter):
    meter.loc[5, "Period"] = meter.loc[4, "Period"]


def period_49(meter):
    meter.loc[47, "Period"] = "49"


def text_number(meter):
    meter.loc[7, "Consumption (kWh)"] = "n/a"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (duplicate, "row 6: interval starting 2025-03-28T02:00Z appears twice"),
        (period_49, "row 48: settlement period 49 on 2025-03-28, a day of 48 periods"),
        (text_number, "row 8: column 'Consumption (kWh)' holds 'n/a', not a number"),
    ],
)
def test_a_bad_meter_file_is_one_line_naming_the_row(bundle, tmp_path, change, expected):
    path = bad_meter(tmp_path, change)
    before = (bundle / io.TIMESERIES).read_bytes()
    result = invoke("import", bundle, "--load", path, "--import-price", PRICES)
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert f"{path}: {expected}" in result.output
    assert (bundle / io.TIMESERIES).read_bytes() == before


def test_mixed_time_zones_and_an_unknown_layout_are_refused(bundle, tmp_path):
    prices = pd.read_csv(PRICES, dtype=str)
    prices.loc[3, "valid_from"] = "2025-03-28 01:30"
    mixed = tmp_path / "prices.csv"
    prices.to_csv(mixed, index=False)
    result = invoke("import", bundle, "--load", METER, "--import-price", mixed)
    assert result.exit_code == 2
    assert "row 4: timestamp '2025-03-28 01:30' mixes time zones" in result.output
    unknown = invoke("import", bundle, "--load", f"{METER}:octopus", "--import-price", PRICES)
    assert unknown.exit_code == 2
    assert "unknown layout 'octopus'; choose one of" in unknown.output
    wrong = invoke(
        "import", bundle, "--load", f"{METER}:inverter_power_w", "--import-price", PRICES
    )
    assert wrong.exit_code == 2
    assert "no column 'Time' (layout 'inverter_power_w')" in wrong.output


def test_an_excel_workbook_imports_as_its_csv(bundle, tmp_path):
    workbook = tmp_path / "meter.xlsx"
    pd.read_csv(METER, dtype=str).to_excel(workbook, index=False)
    assert invoke("import", bundle, "--load", METER, "--import-price", PRICES).exit_code == 0
    from_csv = pd.read_parquet(bundle / io.TIMESERIES)
    result = invoke("import", bundle, "--load", workbook, "--import-price", PRICES)
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_parquet(bundle / io.TIMESERIES), from_csv)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(workbook.read_bytes()[:500])
    result = invoke("import", bundle, "--load", broken, "--import-price", PRICES)
    assert result.exit_code == 2
    assert f"{broken}: not readable as an Excel workbook (.xlsx)" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_forecast_vintages_import_and_replay_in_a_rolling_backtest(bundle):
    vintages_file = EXAMPLES / "forecast_vintages.csv"
    result = import_(bundle, "--forecast", vintages_file)
    assert result.exit_code == 0, result.output
    vintages = io.read_forecast_vintages(bundle / io.FORECASTS, io.read_bundle(bundle).site)
    written = pd.read_csv(vintages_file)
    # Four daily vintages of 30-minute means, each step now two 15-minute steps.
    assert vintages["issued_at"].nunique() == 4
    assert len(vintages) == 2 * len(written)
    assert vintages["load_kw"].sum() == pytest.approx(2 * written["load_kw"].sum())
    run_config = bundle / io.RUN_CONFIG
    run_config.write_text(run_config.read_text().replace("forecast: learned", "forecast: replay"))
    assert "forecast: replay" in run_config.read_text()
    rolling = invoke("backtest", bundle, "--mode", "rolling")
    assert rolling.exit_code == 0, rolling.output
    assert io.FORECASTS in lineage.read_record(bundle / io.METRICS)["made_from"], (
        "the run replayed the vintages"
    )
    provenance = json.loads((bundle / io.METADATA).read_text())["import_provenance"]
    assert provenance["sources"][-1] | {"sha256": None} == provenance["sources"][-1] | {
        "sha256": None,
        "quantity": "forecast",
        "vintages": 4,
        "step_min": 30,
    }


def test_a_mapping_file_names_other_layouts(bundle, tmp_path):
    meter = pd.read_csv(METER)
    starts = ingest.settlement_period_starts(meter["Date"], meter["Period"])
    own = pd.DataFrame(
        {
            "Start (UTC)": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Mean kW": meter["Consumption (kWh)"] * 2,
        }
    )
    own.to_csv(tmp_path / "own.csv", index=False)
    mapping = tmp_path / "layouts.yaml"
    mapping.write_text(
        "my_meter: {time_column: 'Start (UTC)', value_column: 'Mean kW', unit: kW}\n"
    )
    load = f"{tmp_path / 'own.csv'}:my_meter"
    mapped = ("import", bundle, "--load", load, "--import-price", PRICES, "--mapping", mapping)
    result = invoke(*mapped)
    assert result.exit_code == 0, result.output
    from_mapping = pd.read_parquet(bundle / io.TIMESERIES)
    assert invoke("import", bundle, "--load", METER, "--import-price", PRICES).exit_code == 0
    pd.testing.assert_frame_equal(from_mapping, pd.read_parquet(bundle / io.TIMESERIES))
    mapping.write_text("my_meter: {time_column: t, value_column: v, unit: kW, clock: UTC}\n")
    bad = invoke(*mapped)
    assert bad.exit_code == 2
    assert f"{mapping}: layout 'my_meter': " in bad.output
    assert "clock" in bad.output
    assert len(bad.output.strip().splitlines()) == 1


def test_a_file_whose_name_holds_a_colon_imports(bundle, tmp_path):
    """`meter 12:00.csv` is a file, not FILE:LAYOUT; FILE:LAYOUT still splits at the last ':'."""
    expected = invoke("import", bundle, "--load", METER, "--import-price", PRICES)
    assert expected.exit_code == 0, expected.output
    imported = pd.read_parquet(bundle / io.TIMESERIES)
    colon = tmp_path / "export 2025-03-28 12:00.csv"
    colon.write_bytes(METER.read_bytes())
    for given in (str(colon), f"{colon}:supplier_hh_kwh"):
        result = invoke("import", bundle, "--load", given, "--import-price", PRICES)
        assert result.exit_code == 0, (given, result.output)
        pd.testing.assert_frame_equal(imported, pd.read_parquet(bundle / io.TIMESERIES))
