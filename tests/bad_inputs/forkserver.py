"""Run many ``gridq`` command lines, each in its own forked process, from one warm interpreter.

Started by the catalogue's fixture: importing GridQ once and forking per case makes each case a
real process with its own exit code, stdout and stderr, at a fraction of a fresh start's cost.
Reads one JSON request per line on stdin ({"argv", "cwd", "env"}) and answers one JSON line
({"code", "stdout", "stderr"}) on stdout.
"""

import importlib
import json
import os
import sys
import tempfile
import traceback

from gridq.cli import main

PRELOADED = (
    "gridq.engine.bill",
    "gridq.engine.forecast",
    "gridq.engine.learned_forecast",
    "gridq.engine.synth",
    "gridq.io.bundle",
    "gridq.io.params",
    "gridq.report.html",
    "gridq.report.underwriting",
    "gridq.engine.run",
    "gridq.engine.windows",
    "gridq.runners.forecast_eval",
    "gridq.runners.live",
    "gridq.runners.underwrite",
    "gridq.runners.validate",
    "gridq.validation.gx",
    "highspy",
    "great_expectations",
)
"""What the CLI imports on first use: imported once here, before any fork."""


def _run(argv: list[str], cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """In the child: become ``gridq argv`` and exit with its code."""
    code = 99
    try:
        os.chdir(cwd)
        os.environ.update(env)
        for fd, path in ((1, out), (2, err)):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(handle, fd)
            os.close(handle)
        sys.argv = ["gridq", *argv]
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """Answer requests until stdin closes."""
    for name in PRELOADED:
        importlib.import_module(name)
    scratch = tempfile.mkdtemp(prefix="gridq-forkserver-")
    out, err = os.path.join(scratch, "stdout"), os.path.join(scratch, "stderr")
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run(request["argv"], request["cwd"], request.get("env", {}), out, err)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        with open(out, encoding="utf-8", errors="replace") as stdout_file:
            stdout = stdout_file.read()
        with open(err, encoding="utf-8", errors="replace") as stderr_file:
            stderr = stderr_file.read()
        sys.stdout.write(json.dumps({"code": code, "stdout": stdout, "stderr": stderr}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
