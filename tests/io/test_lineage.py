"""Lineage: readers refuse stale or mixed bundles; gridq verify; one writer per bundle."""

import shutil

import pandas as pd
import pytest
import yaml

from gridq.io import bundle as io
from tests.conftest import backtested_bundle, invoke

FILES_AFTER_BACKTEST = (io.DISPATCH, io.BASELINE, io.SOLVE_STATS, io.METRICS, io.METADATA)


def _backtested(tmp_path, name="site", days=3, seed_bundle="pv_battery_tou"):
    return backtested_bundle(tmp_path / name, seed_bundle, days)


def _snapshot(folder):
    return {name: (folder / name).read_bytes() for name in FILES_AFTER_BACKTEST}


def _refused(result, *words):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_a_fresh_backtest_verifies(tmp_path):
    folder = _backtested(tmp_path)
    result = invoke("verify", folder)
    assert result.exit_code == 0, result.output
    assert "5 output(s) current" in result.stdout


def test_an_edited_input_makes_every_reader_refuse_and_nothing_is_rewritten(tmp_path):
    folder = _backtested(tmp_path)
    before = _snapshot(folder)
    timeseries = pd.read_parquet(folder / io.TIMESERIES)
    timeseries["load_kw"] *= 2
    timeseries.to_parquet(folder / io.TIMESERIES)
    for command in ("metrics", "report", "bill"):
        _refused(
            invoke(command, folder),
            "dispatch.parquet",
            "timeseries.parquet has changed",
            f"gridq backtest {folder}",
        )
    # verify lists each stale output once: the two tables (the documents share their lines).
    result = invoke("verify", folder)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "dispatch.parquet is stale" in lines[0]
    assert "baseline.parquet is stale" in lines[1]
    assert _snapshot(folder) == before
    assert not (folder / io.REPORT).exists()


def test_a_smaller_battery_after_the_solve_is_refused(tmp_path):
    folder = _backtested(tmp_path)
    site = yaml.safe_load((folder / io.SITE_CONFIG).read_text())
    site["battery"]["capacity_kwh"] = 1.0
    (folder / io.SITE_CONFIG).write_text(yaml.safe_dump(site))
    _refused(invoke("metrics", folder), "site_config.yaml has changed")


def test_outputs_of_another_run_are_refused(tmp_path):
    # A kill between the renames of a rerun leaves its tables beside the last run's metrics.
    folder = _backtested(tmp_path, "site")
    rerun = tmp_path / "rerun"
    shutil.copytree(folder, rerun)
    timeseries = pd.read_parquet(rerun / io.TIMESERIES)
    timeseries["load_kw"] *= 1.5
    timeseries.to_parquet(rerun / io.TIMESERIES)
    assert invoke("backtest", rerun).exit_code == 0
    for name in (io.TIMESERIES, io.DISPATCH, io.BASELINE):
        shutil.copy(rerun / name, folder / name)
    _refused(invoke("report", folder), "metrics.json", "has changed since it was made")
    # A dispatch copied in from another site is refused by the first reader.
    other = _backtested(tmp_path, "other", seed_bundle="export_limited_pv")
    shutil.copy(other / io.DISPATCH, folder / io.DISPATCH)
    _refused(invoke("metrics", folder), "dispatch.parquet", "has changed")


def test_an_output_without_lineage_is_refused(tmp_path):
    folder = _backtested(tmp_path)
    frame = pd.read_parquet(folder / io.DISPATCH)
    frame.to_parquet(folder / io.DISPATCH)  # rewritten by hand: the record is gone
    _refused(invoke("metrics", folder), "dispatch.parquet has no lineage record")


def test_a_second_writer_fails_in_one_line_and_stale_temp_files_go(tmp_path, monkeypatch):
    folder = _backtested(tmp_path)
    before = _snapshot(folder)
    monkeypatch.setenv(io.LOCK_WAIT_ENV, "0")
    with io.locked(folder):
        _refused(invoke("solve", folder), "another gridq command is writing", io.LOCK_WAIT_ENV)
    assert _snapshot(folder) == before
    orphan = folder / ".dispatch.parquet.k1ll3d.tmp"
    orphan.write_bytes(b"half a table")
    assert invoke("solve", folder).exit_code == 0
    assert not orphan.exists()


@pytest.mark.parametrize("wait", ["soon", "-", "nan", "inf", "-5"])
def test_a_bad_lock_wait_is_one_line(tmp_path, monkeypatch, wait):
    folder = _backtested(tmp_path)
    monkeypatch.setenv(io.LOCK_WAIT_ENV, wait)
    _refused(invoke("solve", folder), io.LOCK_WAIT_ENV)
