"""The ``gridq`` command line: parses, calls one function, prints."""

import logging

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
bundle_commands.register(app)
generate_commands.register(app)
import_commands.register(app)
tariff_commands.register(app)
live_commands.register(app)
forecast_commands.register(app)
bench_commands.register(app)
underwrite_commands.register(app)
fleet_commands.register(app)


def main() -> None:
    """The ``gridq`` program."""
    common.main(app)
