"""Kill a real ``gridq backtest`` right after each output is published; readers never mix runs.

The hook ``GRIDQ_TEST_KILL_AFTER=<output>`` makes the process SIGKILL itself the moment that
output is renamed into place. The bundle holds a finished run of older inputs, so after each kill
some outputs are new and some old: every reader must then refuse (exit 2, one line naming a file
and the command to rerun) or, once every output is new, read one whole run.
"""

import shutil
import signal

import pytest

from gridq.io import bundle as io
from tests.conftest import PARAMS, invoke

PUBLISHED_IN_ORDER = (io.DISPATCH, io.BASELINE, io.SOLVE_STATS, io.METRICS)
READERS = {
    ("verify", "b"): set(PUBLISHED_IN_ORDER),
    ("report", "b"): {io.DISPATCH, io.BASELINE, io.METRICS},
    ("bill", "b"): {io.DISPATCH},
    ("validate", "b", "--table", "dispatch", "--suite", "dispatch.json"): {
        io.DISPATCH,
        io.BASELINE,
    },
    ("metrics", "b"): {io.DISPATCH, io.BASELINE},
}
"""Each reader, and the outputs it reads (the lineage it checks)."""


@pytest.fixture(scope="module")
def finished_then_edited(tmp_path_factory):
    """A bundle with a finished backtest whose load has since grown by a tenth."""
    root = tmp_path_factory.mktemp("faults")
    result = invoke(
        "generate", "pv_battery_tou", "--params", PARAMS, "--out", root / "b", "--days", "3"
    )
    assert result.exit_code == 0, result.output
    assert invoke("backtest", root / "b").exit_code == 0
    shutil.copy(PARAMS.parent / "stages" / "validate" / "dispatch.json", root / "dispatch.json")
    timeseries = io.read_table(root / "b" / io.TIMESERIES)
    timeseries["load_kw"] *= 1.1
    timeseries.to_parquet(root / "b" / io.TIMESERIES)
    return root


@pytest.mark.parametrize("published", PUBLISHED_IN_ORDER)
def test_a_run_killed_after_each_output_leaves_readers_one_whole_run(
    published, finished_then_edited, gridq_runner, tmp_path
):
    root = tmp_path / "work"
    shutil.copytree(finished_then_edited, root)
    killed = gridq_runner.run(("backtest", "b"), root, {io.KILL_AFTER_ENV: published})
    assert killed["code"] == -signal.SIGKILL, killed
    new = set(PUBLISHED_IN_ORDER[: PUBLISHED_IN_ORDER.index(published) + 1])
    for reader, reads in READERS.items():
        result = gridq_runner.run(reader, root)
        lines = result["stderr"].splitlines()
        if reads <= new:
            # Everything it reads is from the new run: one whole run, read.
            assert result["code"] == 0, (reader, result)
            continue
        assert result["code"] == 2, (reader, result)
        assert lines, reader
        assert all(line.startswith("error: ") for line in lines), lines
        assert "rerun `gridq" in lines[0], lines
        assert len(lines) == 1 or reader[0] == "verify", lines
    rerun = gridq_runner.run(("backtest", "b"), root)
    assert rerun["code"] == 0, rerun
    assert gridq_runner.run(("verify", "b"), root)["code"] == 0
    assert not list((root / "b").glob(".*.tmp"))


def test_a_run_killed_before_publishing_leaves_the_old_run_and_no_temp_file(
    finished_then_edited, gridq_runner, tmp_path
):
    root = tmp_path / "work"
    shutil.copytree(finished_then_edited, root)
    before = {p.name: p.read_bytes() for p in (root / "b").iterdir() if p.is_file()}
    stale = root / "b" / ".dispatch.parquet.half.tmp"
    stale.write_bytes(b"half a file from a killed run")
    assert gridq_runner.run(("verify", "b"), root)["code"] == 2  # the inputs changed since
    assert gridq_runner.run(("backtest", "b"), root)["code"] == 0
    assert not stale.exists()
    after = {p.name: p.read_bytes() for p in (root / "b").iterdir() if p.is_file()}
    assert after[io.TIMESERIES] == before[io.TIMESERIES]
    assert after[io.DISPATCH] != before[io.DISPATCH]
