"""The ``gridq`` command line: parses, calls one function, prints."""

import logging
import os
import sys
from contextlib import suppress
from typing import NoReturn

import typer

from gridq.cli import (
    bench_commands,
    bundle_commands,
    common,
    fleet_commands,
    forecast_commands,
    generate_commands,
    import_commands,
    live_commands,
    tariff_commands,
    underwrite_commands,
)

app = typer.Typer(
    name="gridq",
    help="Cost-minimising behind-the-meter battery dispatch, reproducible by run bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: rich markup would swallow units and defaults in brackets ("[days]").
    rich_markup_mode=None,
)
# linopy logs a warning before GridQ raises its own one-line error for the same failure.
logging.getLogger("linopy").setLevel(logging.ERROR)
# pymodbus logs every refused connection; GridQ says it once, as a one-line DeviceError.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
bundle_commands.register(app)
generate_commands.register(app)
import_commands.register(app)
tariff_commands.register(app)
live_commands.register(app)
forecast_commands.register(app)
bench_commands.register(app)
underwrite_commands.register(app)
fleet_commands.register(app)


def main() -> NoReturn:
    """The ``gridq`` program: its exit code once its output is flushed, without teardown.

    Arrow's native thread pools can still be alive when CPython finalises, and tearing them
    down then aborts a finished, successful command with SIGABRT ("terminate called without an
    active exception", apache/arrow#34314; seen on ``gridq validate``). Every output is already
    published (written to a temporary path, then renamed), so skipping finalisation loses
    nothing.
    """
    try:
        common.main(app)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
