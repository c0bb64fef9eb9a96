"""Bundles round-trip, and equal inputs give byte-identical outputs."""

import hashlib
import json
import shutil

import pandas as pd

from gridq.engine.synth import make_timeseries
from gridq.io import bundle as io
from gridq.io.params import example_bundle
from tests.conftest import PARAMS, invoke


def test_write_then_read_round_trips(tmp_path):
    example = example_bundle(PARAMS, "pv_battery_tou")
    series = example.series.model_copy(update={"days": 2})
    timeseries = make_timeseries(series, example.site, example.run_config.timestep_min)
    io.write_inputs(tmp_path, example.site, example.run_config, timeseries)
    inputs = io.read_bundle(tmp_path)
    assert inputs.site == example.site
    assert inputs.run_config == example.run_config
    pd.testing.assert_frame_equal(inputs.timeseries, timeseries, check_freq=False)


def test_two_runs_give_byte_identical_outputs(tmp_path, example_bundles):
    first = example_bundles["commercial_demand_charge"]
    second = tmp_path / "again"
    shutil.copytree(first, second)
    for name in (*io.OUTPUT_FILES, io.METADATA):
        (second / name).unlink()
    assert invoke("backtest", second).exit_code == 0
    for name in (*io.OUTPUT_FILES, io.METADATA):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_metadata_records_input_hashes_and_versions(example_bundles):
    bundle = example_bundles["pv_battery_tou"]
    metadata = json.loads((bundle / io.METADATA).read_text())
    assert set(metadata["inputs_sha256"]) == set(io.INPUT_FILES)
    # Every file published with it (metrics.json's lineage record sits beside it).
    assert set(metadata["outputs_sha256"]) == {*io.OUTPUT_FILES, "metrics.lineage.json"}
    for name, sha256 in metadata["outputs_sha256"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == sha256
    assert {"linopy", "highspy"} <= set(metadata["versions"])
    assert metadata["site"]["battery"]["capacity_kwh"] == 13.5


def test_generate_is_deterministic(tmp_path):
    for folder in ("a", "b"):
        assert (
            invoke(
                "generate", "export_limited_pv", "--out", tmp_path / folder, "--days", "3"
            ).exit_code
            == 0
        )
    for name in io.INPUT_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
