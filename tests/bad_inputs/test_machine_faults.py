"""Failures of the machine, injected: one line, exit 2, the bundle as it was.

Permissions cannot be tested with chmod where tests run as root, and a full disk cannot be made
without privileges, so the operating system's errors are raised at the one place GridQ writes.
"""

import errno
import hashlib
import os
import sys
from pathlib import Path

import pytest
import typer

from gridq.cli import common as cli_common
from gridq.io import bundle as io
from gridq.io import files, publish
from gridq.runners import underwrite
from tests.conftest import backtested_bundle, invoke


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return backtested_bundle(tmp_path_factory.mktemp("machine") / "b", days=2)


def _hashes(bundle):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in bundle.iterdir()}


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.ENOSPC, "disk is full"),
        (errno.EACCES, "permissions"),
        (errno.EROFS, "read-only"),
        (errno.EDQUOT, "quota"),
    ],
)
def test_a_write_that_the_system_refuses_is_one_line_and_changes_nothing(
    finished, monkeypatch, code, fix
):
    before = _hashes(finished)
    real_replace = os.replace

    def refuse(source, target):
        if str(target).endswith(io.BASELINE):
            raise OSError(code, os.strerror(code), str(target))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", refuse)
    edited = files.read_table(finished / io.TIMESERIES)
    result = invoke("backtest", finished)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert io.BASELINE in lines[0]
    assert fix in lines[0]
    # The dispatch was already published when the baseline failed: it is new, and readers
    # refuse the mix until a rerun.
    after = _hashes(finished)
    assert {name for name in before if before[name] != after.get(name)} <= {io.DISPATCH}
    assert not list(finished.glob(".*.tmp"))
    monkeypatch.setattr(os, "replace", real_replace)
    assert edited.equals(files.read_table(finished / io.TIMESERIES))
    assert invoke("backtest", finished).exit_code == 0


@pytest.mark.parametrize("name", [io.SITE_CONFIG, io.TIMESERIES])
def test_an_unreadable_input_is_one_line(name, finished, monkeypatch):
    real_read = Path.read_bytes

    def refuse(path, *args, **kwargs):
        if path.name == name:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    result = invoke("solve", finished)
    assert result.exit_code == 2
    # The machine's failure, not the file's: no "rewrite it" for a file that is fine.
    assert result.stderr.strip() == (
        f"error: {finished / name}: permission denied; check the file's and folder's permissions"
    )


def test_running_out_of_memory_is_one_line(finished, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(underwrite, "parse_sweep", exhausted)
    result = invoke("underwrite", finished, "--sweep", "capacity_kwh=5,10")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: out of memory;")


def test_a_bug_is_one_line_with_exit_1_and_a_traceback_on_request(monkeypatch, capsys):
    app = typer.Typer()

    @app.command()
    def broken() -> None:
        raise KeyError("inner")

    monkeypatch.setattr(sys, "argv", ["gridq"])

    with pytest.raises(SystemExit) as stop:
        cli_common.main(app)
    assert stop.value.code == cli_common.INTERNAL_EXIT_CODE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("internal error: KeyError: 'inner'; this is a GridQ bug")
    monkeypatch.setenv(cli_common.TRACEBACK_ENV, "1")
    with pytest.raises(SystemExit):
        cli_common.main(app)
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("fails", ["staging", "journal"])
def test_a_disk_that_fills_before_the_commit_leaves_no_staged_file(fails, finished, monkeypatch):
    """The third output, or the journal, cannot be written: what was staged goes at once."""
    before = _hashes(finished)
    real_write_bytes, real_write_text = Path.write_bytes, Path.write_text
    full_at = f".{publish.staged_path(finished, io.SOLVE_STATS).name}"

    def full(path: Path) -> None:
        name = path.name
        if (fails == "staging" and name.startswith(full_at)) or (
            fails == "journal" and name.startswith(f".{publish.PUBLISH_JOURNAL}")
        ):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def write_bytes(path, data):
        full(path)
        return real_write_bytes(path, data)

    def write_text(path, data, *args, **kwargs):
        full(path)
        return real_write_text(path, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    monkeypatch.setattr(Path, "write_text", write_text)
    result = invoke("backtest", finished)
    assert result.exit_code == 2, result.output
    assert "disk is full" in result.stderr
    assert not [p.name for p in finished.iterdir() if p.name.startswith(".")]
    assert _hashes(finished) == before
