"""make docker-build and docker-backtest: where Docker cannot run, one clear line and exit 2."""

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO

MAKE_ERROR = re.compile(r"make(\[\d+\])?: \*\*\*")
"""make's own trailer after a failed recipe."""


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client on this machine")
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("docker-build", "make docker-build: no Docker daemon answers; start Docker"),
        ("docker-backtest", "make docker-backtest: no image gridq:latest (or no Docker daemon)"),
    ],
)
def test_docker_targets_without_a_daemon_say_so_in_one_line(tmp_path, target, expected):
    # A socket that does not exist: the same answer wherever Docker does or does not run.
    # A top-level make, as a user runs it (under `make test` it would be make[1]).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env["DOCKER_HOST"] = f"unix://{tmp_path / 'no.sock'}"
    result = subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    ours = [line for line in result.stderr.splitlines() if not MAKE_ERROR.match(line)]
    assert len(ours) == 1
    assert ours[0].startswith(expected)
    assert not (REPO / "docker_out").exists()
