"""Faults through real processes: kills mid-publish, inputs edited mid-run, held locks.

The hook ``GRIDQ_TEST_KILL_AFTER`` makes the process SIGKILL itself right after an output is
renamed into place, or just before the commit point. The bundle holds a finished run of older
inputs: killed before the commit, the old run stays whole (and is refused as stale); killed
after it, the next command completes the new run.
"""

import hashlib
import json
import shutil
import signal

import pytest
import yaml

from gridq.io import bundle as io
from gridq.io import files, lineage, publish
from tests.conftest import PARAMS, backtested_bundle

PUBLISHED_IN_ORDER = (io.DISPATCH, io.BASELINE, io.SOLVE_STATS, io.METRICS, io.METADATA)
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


def test_an_input_edited_while_a_backtest_runs_is_recorded_as_read_and_refused_after(
    gridq_runner, tmp_path
):
    """The battery shrinks to 1 kWh between the read and the publish: the run keeps the bytes
    it solved for in its lineage, so every reader refuses it against the edited file."""
    root = tmp_path / "work"
    backtested_bundle(root / "b")
    site_path = root / "b" / io.SITE_CONFIG
    read_bytes = site_path.read_bytes()
    smaller = yaml.safe_load(read_bytes)
    smaller["battery"]["capacity_kwh"] = 1.0
    (tmp_path / "smaller.yaml").write_text(yaml.safe_dump(smaller))
    edit = {publish.EDIT_BEFORE_PUBLISH_ENV: f"{io.SITE_CONFIG}={tmp_path / 'smaller.yaml'}"}
    assert gridq_runner.run(("backtest", "b"), root, edit)["code"] == 0
    assert site_path.read_bytes() != read_bytes  # the edit landed mid-run
    for name in (io.DISPATCH, io.METRICS, io.METADATA):
        made_from = lineage.read_record(root / "b" / name)["made_from"]
        assert made_from[io.SITE_CONFIG] == hashlib.sha256(read_bytes).hexdigest(), name
    metadata = json.loads((root / "b" / io.METADATA).read_text())
    assert metadata["site"]["battery"]["capacity_kwh"] == 13.5  # what was solved
    for reader in (("verify", "b"), ("metrics", "b"), ("report", "b"), ("bill", "b")):
        result = gridq_runner.run(reader, root)
        assert result["code"] == 2, (reader, result)
        assert "site_config.yaml has changed" in result["stderr"], (reader, result)


def test_metadata_is_published_with_the_outputs_and_completed_after_a_kill(
    finished_then_edited, gridq_runner, tmp_path
):
    root = tmp_path / "work"
    shutil.copytree(finished_then_edited, root)
    killed = gridq_runner.run(("backtest", "b"), root, {publish.KILL_AFTER_ENV: io.DISPATCH})
    assert killed["code"] == -signal.SIGKILL, killed
    assert gridq_runner.run(("verify", "b"), root)["code"] == 0
    metadata = json.loads((root / "b" / io.METADATA).read_text())
    now = hashlib.sha256((root / "b" / io.TIMESERIES).read_bytes()).hexdigest()
    assert metadata["inputs_sha256"][io.TIMESERIES] == now
    for name, sha256 in metadata["outputs_sha256"].items():
        assert hashlib.sha256((root / "b" / name).read_bytes()).hexdigest() == sha256, name


@pytest.mark.parametrize("journal", [b"", b'["dispatch.par', b"\xff\xfe", b"{}", b'["../x"]'])
def test_a_corrupt_publish_journal_is_dropped_not_a_crash(journal, gridq_runner, tmp_path):
    """A crash without fsync can leave the journal empty or cut: its publish cannot complete."""
    root = tmp_path / "work"
    backtested_bundle(root / "b")
    before = {name: (root / "b" / name).read_bytes() for name in PUBLISHED_IN_ORDER}
    (root / "b" / publish.PUBLISH_JOURNAL).write_bytes(journal)
    publish.staged_path(root / "b", io.DISPATCH).write_bytes(b"half a table")
    unlocked = gridq_runner.run(("bill", "b"), root)
    assert unlocked["code"] == 2, unlocked
    assert unlocked["stderr"].strip().endswith("run `gridq verify b` to complete it")
    assert gridq_runner.run(("verify", "b"), root)["code"] == 0
    assert not _leftovers(root / "b")
    assert {name: (root / "b" / name).read_bytes() for name in PUBLISHED_IN_ORDER} == before


@pytest.mark.parametrize(
    "argv",
    [
        (
            "import",
            "b",
            "--load",
            "data/import_examples/meter_half_hourly.csv",
            "--import-price",
            "data/import_examples/prices_half_hourly.csv",
        ),
        ("generate", "pv_battery_tou", "--params", "params.yaml", "--out", "b", "--days", "3"),
        ("backtest", "b"),
    ],
    ids=["import", "generate", "backtest"],
)
def test_every_writer_waits_for_the_lock(argv, gridq_runner, tmp_path):
    root = tmp_path / "work"
    backtested_bundle(root / "b")
    shutil.copy(PARAMS, root / "params.yaml")
    shutil.copytree(PARAMS.parent / "data", root / "data")
    before = {p.name: p.read_bytes() for p in (root / "b").iterdir()}
    with io.locked(root / "b"):
        held = gridq_runner.run(argv, root, {io.LOCK_WAIT_ENV: "0.5"})
    assert held["code"] == 2, held
    assert held["stderr"].count("\n") == 1, held
    assert "another gridq command is writing" in held["stderr"], held
    assert {p.name: p.read_bytes() for p in (root / "b").iterdir()} == before
