"""Every kind of bad input: one line naming the file and the field, exit 2, outputs untouched."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from gridq.io import bundle as io
from tests.conftest import PARAMS, backtested_bundle, invoke


def _edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def _edit_timeseries(path: Path, change) -> None:
    frame = pq.read_table(path).to_pandas()
    frame = change(frame)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _set(frame: pd.DataFrame, column: str, row: int, value: float) -> pd.DataFrame:
    frame.loc[row, column] = value
    return frame


def _battery(key, value):
    return lambda data: data["battery"].__setitem__(key, value)


CASES = {
    "missing file": (lambda b: (b / io.TIMESERIES).unlink(), "timeseries.parquet: file not found"),
    "missing column": (
        lambda b: _edit_timeseries(b / io.TIMESERIES, lambda f: f.drop(columns="pv_kw")),
        "missing column(s) ['pv_kw']",
    ),
    "nan": (
        lambda b: _edit_timeseries(
            b / io.TIMESERIES, lambda f: _set(f, "import_price_gbp_per_kwh", 5, np.nan)
        ),
        "column 'import_price_gbp_per_kwh' has 1 NaN or infinite values (first at",
    ),
    "inf": (
        lambda b: _edit_timeseries(b / io.TIMESERIES, lambda f: _set(f, "load_kw", 7, np.inf)),
        "column 'load_kw' has 1 NaN or infinite",
    ),
    "non-monotonic": (
        lambda b: _edit_timeseries(
            b / io.TIMESERIES, lambda f: f.iloc[[0, 2, 1, *range(3, len(f))]]
        ),
        "goes back in time at",
    ),
    "duplicated": (
        lambda b: _edit_timeseries(
            b / io.TIMESERIES, lambda f: pd.concat([f.iloc[:3], f.iloc[2:]])
        ),
        "repeats",
    ),
    "gap": (
        lambda b: _edit_timeseries(b / io.TIMESERIES, lambda f: f.drop(index=10)),
        "steps 30 min into",
    ),
    "step not dividing an hour": (
        lambda b: _edit_yaml(b / io.RUN_CONFIG, lambda d: d.__setitem__("timestep_min", 7)),
        "run_config.yaml: timestep_min: timestep_min 7 does not divide 60",
    ),
    "naive timestamps": (
        lambda b: _edit_timeseries(
            b / io.TIMESERIES, lambda f: f.assign(timestamp=f["timestamp"].dt.tz_localize(None))
        ),
        "is naive (no time zone)",
    ),
    "negative load": (
        lambda b: _edit_timeseries(b / io.TIMESERIES, lambda f: _set(f, "load_kw", 3, -1.5)),
        "column 'load_kw' has 1 negative values (first -1.5 at",
    ),
    "negative pv": (
        lambda b: _edit_timeseries(b / io.TIMESERIES, lambda f: _set(f, "pv_kw", 3, -0.5)),
        "column 'pv_kw' has 1 negative",
    ),
    "soc_min above soc_max": (
        lambda b: _edit_yaml(
            b / io.SITE_CONFIG, lambda d: d["battery"].update(soc_min_frac=0.95, soc_max_frac=0.9)
        ),
        "site_config.yaml: battery: soc_min_frac (0.95) is above soc_max_frac (0.9)",
    ),
    "efficiency above one": (
        lambda b: _edit_yaml(b / io.SITE_CONFIG, _battery("charge_efficiency_frac", 1.2)),
        "site_config.yaml: battery.charge_efficiency_frac: Input should be less than or equal to 1",
    ),
    "efficiency zero": (
        lambda b: _edit_yaml(b / io.SITE_CONFIG, _battery("discharge_efficiency_frac", 0)),
        "battery.discharge_efficiency_frac: Input should be greater than 0",
    ),
    "unknown key": (
        lambda b: _edit_yaml(b / io.SITE_CONFIG, _battery("capacity_kw", 5)),
        "site_config.yaml: battery.capacity_kw: unknown key",
    ),
    "unknown tariff component": (
        lambda b: _edit_yaml(
            b / io.RUN_CONFIG, lambda d: d["tariff"].__setitem__("capacity_market", {"rate": 1})
        ),
        "run_config.yaml: tariff.capacity_market: unknown key",
    ),
    "malformed yaml": (
        lambda b: (b / io.RUN_CONFIG).write_text("timestep_min: [15\n"),
        "run_config.yaml: malformed YAML at line 2",
    ),
    "corrupt parquet": (
        lambda b: (b / io.TIMESERIES).write_bytes(b"PAR1 not really"),
        "timeseries.parquet: not a readable parquet file",
    ),
    "infeasible site": (
        lambda b: _edit_yaml(
            b / io.SITE_CONFIG, lambda d: d["grid"].__setitem__("import_limit_kw", 1.0)
        ),
        "bundle: site cannot be balanced: from 2025-06-02T00:00Z load above import limit 1 kW",
    ),
    "negative terminal target": (
        lambda b: _edit_yaml(
            b / io.SITE_CONFIG, _battery("terminal_soc", {"rule": "equal", "target_kwh": -5})
        ),
        "site_config.yaml: battery.terminal_soc.target_kwh: Input should be greater than or "
        "equal to 0",
    ),
    "terminal target above capacity": (
        lambda b: _edit_yaml(
            b / io.SITE_CONFIG, _battery("terminal_soc", {"rule": "at_least", "target_kwh": 500})
        ),
        "terminal_soc target 500 kWh is outside the battery's SOC range [5, 100] kWh; choose a "
        "target within it",
    ),
    "terminal target with two targets": (
        lambda b: _edit_yaml(
            b / io.SITE_CONFIG,
            _battery("terminal_soc", {"rule": "equal", "target_kwh": 5, "target_frac": 0.5}),
        ),
        "give exactly one of target_kwh and target_frac",
    ),
    "unknown terminal rule": (
        lambda b: _edit_yaml(b / io.SITE_CONFIG, _battery("terminal_soc", "empty")),
        "site_config.yaml: battery.terminal_soc: Input should be 'at_least_initial' or 'free'",
    ),
    "unknown bank holiday region": (
        lambda b: _edit_yaml(
            b / io.RUN_CONFIG, lambda d: d["tariff"].__setitem__("bank_holidays", "wales")
        ),
        "run_config.yaml: tariff.bank_holidays: Input should be 'england_and_wales', 'scotland', "
        "'northern_ireland' or 'none'",
    ),
    "unknown partial-block convention": (
        lambda b: _edit_yaml(
            b / io.RUN_CONFIG,
            lambda d: d["tariff"].__setitem__(
                "demand_charges",
                [{"name": "peak", "rate_gbp_per_kw": 5, "averaging_min": 30, "partial_blocks": 1}],
            ),
        ),
        "run_config.yaml: tariff.demand_charges.0.partial_blocks: Input should be "
        "'mean_of_present' or 'not_billed'",
    ),
    "pv that cannot be curtailed above the export limit": (
        lambda b: _edit_yaml(
            b / io.SITE_CONFIG,
            lambda d: d.update(pv_curtailable=False) or d["battery"].update(charge_power_max_kw=1),
        ),
        "may not be curtailed; set pv_curtailable: true or raise export_limit_kw",
    ),
}


@pytest.fixture(scope="module")
def solved_bundle(tmp_path_factory) -> Path:
    return backtested_bundle(tmp_path_factory.mktemp("good") / "bundle", "export_limited_pv", 2)


def _outputs(bundle: Path) -> dict[str, bytes]:
    return {name: (bundle / name).read_bytes() for name in (*io.OUTPUT_FILES, io.METADATA)}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_outputs_untouched(solved_bundle, tmp_path, case):
    break_bundle, expected = CASES[case]
    bundle = tmp_path / "bundle"
    shutil.copytree(solved_bundle, bundle)
    before = _outputs(bundle)
    break_bundle(bundle)
    result = invoke("backtest", bundle)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert _outputs(bundle) == before
    assert not list(bundle.glob(".*.tmp"))


def test_missing_bundle_folder(tmp_path):
    result = invoke("validate", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "nowhere: not a folder" in result.stderr


def test_metrics_before_solve_names_the_missing_output(tmp_path):
    folder = tmp_path / "fresh"
    assert (
        invoke(
            "generate", "pv_battery_tou", "--params", PARAMS, "--out", folder, "--days", "1"
        ).exit_code
        == 0
    )
    result = invoke("metrics", folder)
    assert result.exit_code == 2
    assert (
        "dispatch.parquet: file not found; check the path, or run the step that writes it"
        in result.stderr
    )


def test_unknown_example_name(tmp_path):
    result = invoke("generate", "no_such_site", "--params", PARAMS, "--out", tmp_path / "x")
    assert result.exit_code == 2
    assert "params.yaml: no bundle 'no_such_site' under 'bundles'; choose one of" in result.stderr


def test_bad_params_value_names_the_bundle_and_field(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copytree(PARAMS.parent / "data", tmp_path / "data")
    params.write_text(PARAMS.read_text().replace("capacity_kwh: 500.0,", "capacity_kwh: -5,"))
    result = invoke("generate", "commercial_demand_charge", "--params", params)
    assert result.exit_code == 2
    assert (
        "params.yaml: bundles.commercial_demand_charge: battery.capacity_kwh: Input should "
        "be greater than or equal to 0"
    ) in result.stderr


def test_underwriting_a_site_without_a_battery_is_refused(solved_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(solved_bundle, bundle)
    _edit_yaml(bundle / io.SITE_CONFIG, lambda d: d.pop("battery"))
    assert invoke("backtest", bundle).exit_code == 0
    result = invoke("underwrite", bundle)
    assert result.exit_code == 2
    assert "battery.capacity_kwh is 0 (no battery)" in result.stderr
