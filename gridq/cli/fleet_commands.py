"""``gridq fleet run``: many sites and scenarios on Dask, one run bundle each."""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from gridq.cli.common import native_stdout_to_stderr, reports_errors

fleet_app = typer.Typer(help="Fleets: many sites and scenarios on Dask.", no_args_is_help=True)


@contextmanager
def fleet_progress() -> Iterator[Callable[[int, int, int], None] | None]:
    """Tasks done and failed, with the time left, on an interactive terminal; else nothing."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("tasks"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        bar = progress.add_task("tasks", total=None, failed=0)
        yield lambda done, failed, total: progress.update(
            bar, completed=done, total=total, failed=failed
        )


@fleet_app.command("run")
@reports_errors
def run(
    fleet: Annotated[Path, typer.Argument(help="The fleet file (YAML).", dir_okay=False)],
    out: Annotated[Path, typer.Option(help="Folder of the fleet's bundles and results.")],
    scheduler: Annotated[
        str | None,
        typer.Option(help="A Dask scheduler address, e.g. tcp://host:8786 [default: local]."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes of the local cluster [default: one a core]."),
    ] = None,
) -> None:
    """Run every site under every scenario; write a bundle each, the results and a summary."""
    from gridq.fleet.run import run_fleet

    with fleet_progress() as progress, native_stdout_to_stderr():
        done = run_fleet(fleet, out, scheduler, workers, progress)
    resumed = sum(bool(row["resumed"]) for row in done.rows)
    metrics = done.metrics
    typer.echo(
        f"{out}: {metrics['succeeded']} of {metrics['tasks']} tasks done ({resumed} already "
        f"done before), {metrics['failed']} failed"
    )
    for scenario, figures in metrics["scenarios"].items():
        typer.echo(
            f"  {scenario}: {figures['sites']} sites save {figures['total_savings_gbp']:,.2f} GBP"
        )
    for failure in metrics["failures"]:
        typer.echo(f"  failed {failure['site']}/{failure['scenario']}: {failure['error']}")


def register(app: typer.Typer) -> None:
    """Add the ``fleet`` command group to ``app``."""
    app.add_typer(fleet_app, name="fleet")
