"""What every command shares: one-line errors, the bundle argument, durations, progress, summary.

Every failure is one line on stderr: exit 2 for what the user can fix, 1 for a GridQ bug.
"""

import functools
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

# Typer carries its own copy of click; its exceptions are not re-exported (typer is pinned).
from typer._click import exceptions as click

from gridq.errors import EXIT_CODE, ConfigError, GridqError
from gridq.highs_banner import swallow_highs_banner

if TYPE_CHECKING:
    from gridq import schemas

BundleArg = Annotated[Path, typer.Argument(help="Run bundle folder.", file_okay=False)]

P = ParamSpec("P")
R = TypeVar("R")

INTERNAL_EXIT_CODE = 1
TRACEBACK_ENV = "GRIDQ_TRACEBACK"
"""Set to 1 to see the traceback of an internal error (for a bug report)."""


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so a problem the user can fix prints ``error: <message>``, exit code 2.

    That is a GridqError, a failure of the operating system (permissions, a full disk) or
    running out of memory. Anything else is a bug and propagates (see :func:`main`).
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        swallow_highs_banner()
        try:
            return command(*args, **kwargs)
        except GridqError as error:
            message = str(error)
        except OSError as error:
            from gridq.io.files import os_message

            message = os_message(error)
        except MemoryError:
            message = "out of memory; run a shorter period or fewer sizes, or add memory"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(EXIT_CODE) from None

    return wrapper


def main(app: typer.Typer) -> None:
    """Run ``app`` as the ``gridq`` program: usage errors and bugs are one line too."""
    try:
        code = app(prog_name="gridq", standalone_mode=False)
    except click.NoArgsIsHelpError as error:
        typer.echo(error.ctx.get_help() if error.ctx is not None else "gridq --help")
        sys.exit(0)
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx is not None else "gridq"
        message = error.format_message().replace("\n", " ").rstrip(".")
        typer.echo(f"error: {message}; see '{command} --help'", err=True)
        sys.exit(EXIT_CODE)
    except click.ClickException as error:
        typer.echo(f"error: {error.format_message()}", err=True)
        sys.exit(EXIT_CODE)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("error: interrupted; outputs already published are whole", err=True)
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, not a trace
        if os.environ.get(TRACEBACK_ENV) == "1":
            traceback.print_exc()
        first = str(error).splitlines()[0] if str(error) else ""
        typer.echo(
            f"internal error: {type(error).__name__}: {first}; this is a GridQ bug, please "
            f"report it with the command and the output of {TRACEBACK_ENV}=1",
            err=True,
        )
        sys.exit(INTERNAL_EXIT_CODE)
    sys.exit(code if isinstance(code, int) else 0)


@contextmanager
def native_stdout_to_stderr() -> Iterator[None]:
    """Send what compiled code prints to stderr, keeping stdout for results."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def about_bundle(bundle: Path) -> Iterator[None]:
    """Name ``bundle`` in any GridQ error raised inside, and keep HiGHS's prints off stdout."""
    try:
        with native_stdout_to_stderr():
            yield
    except GridqError as error:
        raise error.with_context(str(bundle)) from None


def parse_duration_min(text: str, option: str) -> float:
    """Minutes in a duration such as ``30min``, ``1h``, ``36h`` or ``1d``."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(min|h|d)", text.strip())
    if match is None:
        raise ConfigError(f"{option} '{text}' is not a duration; write e.g. 30min, 1h, 36h, 1d")
    minutes = float(match.group(1)) * {"min": 1, "h": 60, "d": 1440}[match.group(2)]
    if minutes <= 0:
        raise ConfigError(f"{option} '{text}' must be positive")
    return minutes


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on an interactive terminal; nothing in CI or a pipe."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def _gbp(value: float) -> str:
    return f"{value:,.2f}"


def print_summary(bundle: Path, metrics: dict[str, Any]) -> None:
    """Bills side by side, savings, peaks and battery use."""
    from rich.console import Console
    from rich.table import Table

    from gridq.engine import bill as bills

    table = Table(title=f"{bundle}: optimised vs baselines")
    columns = {"optimised": metrics["optimised"]} | metrics["baselines"]
    table.add_column("GBP / figure")
    for name in columns:
        table.add_column(name, justify="right")
    for item in bills.shown_bill_items([column["bill"] for column in columns.values()]):
        table.add_row(item, *(_gbp(column["bill"][item]) for column in columns.values()))
    table.add_row(
        "max import kW",
        *(f"{max(column['monthly_peak_import_kw'].values()):,.1f}" for column in columns.values()),
    )
    table.add_row(
        "equivalent full cycles",
        *(f"{column['battery']['equivalent_full_cycles']:.1f}" for column in columns.values()),
    )
    console = Console()
    console.print(table)
    if metrics.get("mode") == "rolling":
        console.print(
            f"Rolling, {metrics['solves']} solves: perfect foresight would save "
            f"{_gbp(metrics['perfect_foresight']['savings_gbp'])} GBP; forecast error costs "
            f"{_gbp(metrics['forecast_gap_gbp'])} GBP"
            + (
                ""
                if metrics.get("captured_frac") is None
                else f"; captured {100 * metrics['captured_frac']:.0f}%"
            )
        )
    percent = metrics["savings_pct"]
    console.print(
        f"Savings against {metrics['baseline']}: {_gbp(metrics['savings_gbp'])} GBP"
        + (f" ({percent:.1f}%)" if percent is not None else "")
    )


def with_rolling_options(
    run_config: "schemas.RunConfig",
    forecast: str | None,
    reoptimise_every: str | None,
    horizon: str | None,
) -> "schemas.RunConfig":
    """The run config with any command-line overrides of its ``rolling`` options."""
    from gridq.io import files

    updates: dict[str, object] = {}
    if forecast is not None:
        updates["forecast"] = forecast
    if reoptimise_every is not None:
        updates["reoptimise_every_min"] = int(
            parse_duration_min(reoptimise_every, "--reoptimise-every")
        )
    if horizon is not None:
        updates["horizon_h"] = parse_duration_min(horizon, "--horizon") / 60
    rolling = run_config.rolling.model_dump(mode="json") | updates
    return files.parse_model(
        type(run_config), run_config.model_dump(mode="json") | {"rolling": rolling}
    )
