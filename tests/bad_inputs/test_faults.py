"""Kill a real ``gridq backtest`` at each moment of its publish; readers never see a mixed run.

The hook ``GRIDQ_TEST_KILL_AFTER`` makes the process SIGKILL itself right after an output is
renamed into place, or just before the commit point. The bundle holds a finished run of older
inputs: killed before the commit, the old run stays whole (and is refused as stale); killed
after it, the next command completes the new run.
"""

import shutil
import signal

import pytest

from gridq.io import bundle as io
from gridq.io import files, lineage, publish
from tests.conftest import PARAMS, backtested_bundle

PUBLISHED_IN_ORDER = (io.DISPATCH, io.BASELINE, io.SOLVE_STATS, io.METRICS)
READERS = (
    ("verify", "b"),
    ("report", "b"),
    ("bill", "b"),
    ("validate", "b", "--table", "dispatch", "--suite", "dispatch.json"),
    ("metrics", "b"),
)


@pytest.fixture(scope="module")
def finished_then_edited(tmp_path_factory):
    """A bundle with a finished backtest whose load has since grown by a tenth."""
    root = tmp_path_factory.mktemp("faults")
    backtested_bundle(root / "b")
    shutil.copy(PARAMS.parent / "stages" / "validate" / "dispatch.json", root / "dispatch.json")
    timeseries = files.read_table(root / "b" / io.TIMESERIES)
    timeseries["load_kw"] *= 1.1
    timeseries.to_parquet(root / "b" / io.TIMESERIES)
    return root


def _leftovers(bundle):
    return [p.name for p in bundle.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("published", PUBLISHED_IN_ORDER)
def test_a_run_killed_while_publishing_is_completed_by_the_next_command(
    published, finished_then_edited, gridq_runner, tmp_path
):
    root = tmp_path / "work"
    shutil.copytree(finished_then_edited, root)
    killed = gridq_runner.run(("backtest", "b"), root, {publish.KILL_AFTER_ENV: published})
    assert killed["code"] == -signal.SIGKILL, killed
    # A reader that takes no lock refuses the half-published bundle, in one line.
    unlocked = gridq_runner.run(("bill", "b"), root)
    assert unlocked["code"] == 2, unlocked
    assert unlocked["stderr"].strip().endswith("run `gridq verify b` to complete it")
    # The next command that takes the lock completes the publish: one whole, new run.
    verified = gridq_runner.run(("verify", "b"), root)
    assert verified["code"] == 0, verified
    for reader in READERS:
        result = gridq_runner.run(reader, root)
        assert result["code"] == 0, (reader, result)
    assert not _leftovers(root / "b")
    assert lineage.read_record(root / "b" / io.METRICS)["made_from"][io.DISPATCH]


def test_a_run_killed_before_its_commit_leaves_the_old_run_whole_and_refused_as_stale(
    finished_then_edited, gridq_runner, tmp_path
):
    root = tmp_path / "work"
    shutil.copytree(finished_then_edited, root)
    before = {name: (root / "b" / name).read_bytes() for name in PUBLISHED_IN_ORDER}
    killed = gridq_runner.run(
        ("backtest", "b"), root, {publish.KILL_AFTER_ENV: publish.BEFORE_COMMIT}
    )
    assert killed["code"] == -signal.SIGKILL, killed
    assert {name: (root / "b" / name).read_bytes() for name in PUBLISHED_IN_ORDER} == before
    for reader in READERS:
        result = gridq_runner.run(reader, root)
        lines = result["stderr"].splitlines()
        assert result["code"] == 2, (reader, result)
        assert all(line.startswith("error: ") for line in lines), lines
        assert "rerun `gridq backtest b`" in lines[0], lines
        assert len(lines) == 1 or reader[0] == "verify", lines
    assert not _leftovers(root / "b")
    assert gridq_runner.run(("backtest", "b"), root)["code"] == 0
    assert gridq_runner.run(("verify", "b"), root)["code"] == 0


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
