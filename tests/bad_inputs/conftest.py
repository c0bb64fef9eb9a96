"""A warm ``gridq`` that runs each command line in its own forked process (see forkserver.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gridq.io import bundle as io
from tests.conftest import REPO

FORKSERVER = Path(__file__).with_name("forkserver.py")


class GridqRunner:
    """A warm interpreter that runs each command line in a forked child (see forkserver.py)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(FORKSERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def run(self, argv: tuple[str, ...], cwd: Path, env: dict[str, str] | None = None) -> dict:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        environment = {io.LOCK_WAIT_ENV: "5"} | (env or {})
        request = {"argv": list(argv), "cwd": str(cwd), "env": environment}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


@pytest.fixture(scope="module")
def gridq_runner():
    runner = GridqRunner()
    yield runner
    runner.close()
