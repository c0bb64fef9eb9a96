"""``gridq bench``: build and solve times, peak memory, and the ratio to raw highspy."""

from collections.abc import Collection
from pathlib import Path
from typing import Annotated

import typer

from gridq.cli.common import native_stdout_to_stderr, reports_errors
from gridq.errors import ConfigError


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


FLEET_CASE = "fleet"
LIVE_CASE = "live"


def _bench_live(days: int, speed: float) -> None:
    """Print the live benchmark: tick latency, plan time, memory over a simulated run."""
    import socket

    from gridq.io.files import scratch_folder
    from gridq.live.bench import run_live_bench

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with scratch_folder("gridq-live-bench-") as root:
        run = run_live_bench(root, days, speed, port)
    growth = run["peak_rss_mib"] / run["peak_rss_after_a_day_mib"] - 1
    header = (
        "days",
        "speed",
        "ticks",
        "tick p50 ms",
        "tick p99 ms",
        "tick p99 ms while planning",
        "plans",
        "plan p50 s",
        "plan max s",
        "peak MiB after day 1",
        "peak MiB at end",
        "growth",
        "wall s",
    )
    typer.echo("Live: a generated home re-planned every 15 min over 48 h (persistence_day)")
    typer.echo("| " + " | ".join(header) + " |")
    typer.echo("|" + "---|" * len(header))
    typer.echo(
        f"| {run['days']} | {run['speed']:g} | {run['ticks']} | {run['tick_p50_ms']:.2f} | "
        f"{run['tick_p99_ms']:.2f} | {run['tick_p99_while_planning_ms']:.2f} | {run['plans']} | "
        f"{run['plan_p50_s']:.3f} | {run['plan_max_s']:.3f} | "
        f"{run['peak_rss_after_a_day_mib']:.0f} | {run['peak_rss_mib']:.0f} | {growth:.1%} | "
        f"{run['wall_s']:.0f} |"
    )


def _bench_fleet(fleet: Path) -> None:
    """Print the fleet benchmark: throughput, scaling, overhead, memory, projection."""
    from gridq.fleet.bench import bench_fleet

    with native_stdout_to_stderr():
        result = bench_fleet(fleet)
    header = (
        "workers",
        "tasks",
        "tasks/s",
        "mean task s",
        "mean HiGHS s",
        "overhead / HiGHS",
        "workers busy",
        "peak MiB per worker",
        "cluster start s",
    )
    typer.echo(f"Fleet: {fleet}")
    typer.echo("| " + " | ".join(header) + " |")
    typer.echo("|" + "---|" * len(header))
    for run in result["runs"]:
        typer.echo(
            f"| {run['workers']} | {run['tasks']} | {run['tasks_per_s']:.3f} | "
            f"{run['task_s_mean']:.3f} | {run['solve_s_mean']:.3f} | "
            f"{run['overhead_frac']:.1%} | {run['busy_frac']:.0%} | {run['peak_worker_mib']:.0f} | "
            f"{run['startup_s']:.1f} |"
        )
    typer.echo(
        f"2 workers vs 1: {result['speedup']:.2f}x the throughput "
        f"(scaling efficiency {result['efficiency']:.0%}); a task took "
        f"{result['task_slowdown']:.2f}x as long with both cores solving."
    )
    projected = ", ".join(
        f"{workers} workers {seconds / 60:.1f} min"
        for workers, seconds in result["projection_s"].items()
    )
    typer.echo(
        "Projection, not a measurement (this run's time per task on one worker, divided "
        f"across workers at the measured efficiency): 1,000 sites x 4 scenarios: {projected}."
    )


@reports_errors
def bench_command(
    cases: Annotated[
        str,
        typer.Option(
            help="Comma-separated: day, month, year, random_year (a seeded random site), "
            "rolling_year, rolling_year_30min (17,520 solves, several minutes), "
            "rolling_year_learned (daily plans from the learned forecast, training included), "
            "fleet (the fleet file of --fleet on 1 and 2 workers), "
            "live (gridq sim and gridq live run for --live-days at --live-speed)."
        ),
    ] = "day,month,year,random_year,rolling_year",
    bundle: Annotated[
        str, typer.Option(help="The params.yaml bundle whose site is timed.")
    ] = "commercial_demand_charge",
    params: Annotated[Path, typer.Option(help="The pipeline's parameters.", dir_okay=False)] = Path(
        "params.yaml"
    ),
    fleet: Annotated[
        Path, typer.Option(help="The fleet file the 'fleet' case runs.", dir_okay=False)
    ] = Path("data/fleets/bench_fleet.yaml"),
    live_days: Annotated[
        int, typer.Option(help="Simulated days the 'live' case operates.", min=2, max=366)
    ] = 30,
    live_speed: Annotated[
        float, typer.Option(help="The 'live' case's simulated seconds per wall second.", min=1)
    ] = 1000.0,
) -> None:
    """Print GridQ's time, the same LPs' time in raw highspy, their ratio, the gap, memory."""
    from gridq.io import params as params_io
    from gridq.runners import bench

    chosen = [case.strip() for case in cases.split(",") if case.strip()]
    known = (*bench.CASE_DAYS, FLEET_CASE, LIVE_CASE)
    unknown = [case for case in chosen if case not in known]
    if unknown or not chosen:
        raise ConfigError(f"--cases {cases!r}: choose from {', '.join(known)}")
    if LIVE_CASE in chosen:
        chosen.remove(LIVE_CASE)
        _bench_live(live_days, live_speed)
    if FLEET_CASE in chosen:
        chosen.remove(FLEET_CASE)
        _bench_fleet(fleet)
    if not chosen:
        return
    example = params_io.example_bundle(params, bundle)
    with native_stdout_to_stderr():
        rows = bench.run_cases(chosen, example.site, example.run_config, example.series)
    header = (
        "case",
        "steps",
        "GridQ method",
        "GridQ s",
        "raw highspy s",
        "GridQ / raw",
        "gap to exact",
        "peak MiB",
    )
    typer.echo("| " + " | ".join(header) + " |")
    typer.echo("|" + "---|" * len(header))
    for row in rows:
        raw = row["raw_highspy_s"]
        ratio = "n/a" if raw is None else f"{row['total_s'] / raw:.2f}"
        gap = "n/a" if row["gap_frac"] is None else f"{row['gap_frac']:.2e}"
        case = row["case"] + (f" ({row['solves']} solves)" if "solves" in row else "")
        typer.echo(
            f"| {case} | {row['steps']} | {row['method']} | {_seconds(row['total_s'])} | "
            f"{_seconds(raw)} | {ratio} | {gap} | {row['peak_memory_mib']:.0f} |"
        )


@reports_errors
def value_command(
    bundles: Annotated[
        str | None,
        typer.Option(help="Comma-separated params.yaml bundles [default: every one]."),
    ] = None,
    params: Annotated[Path, typer.Option(help="The pipeline's parameters.", dir_okay=False)] = Path(
        "params.yaml"
    ),
    random: Annotated[
        int | None,
        typer.Option(
            min=1, max=100, help="Draw this many seeded random sites of each archetype instead."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="With --random: the seed of every draw.")] = 1,
    archetypes: Annotated[
        str | None,
        typer.Option(help="With --random: comma-separated archetypes [default: every one]."),
    ] = None,
    days: Annotated[
        str, typer.Option(help="With --random: window lengths [days] after a week of history.")
    ] = "42,90",
    forecasts: Annotated[
        str, typer.Option(help="With --random: comma-separated forecasts.")
    ] = "learned,persistence_week",
) -> None:
    """Print the share of perfect-foresight savings each forecast's rolling run captures."""
    from gridq.io import params as params_io
    from gridq.runners import bench

    if random is not None:
        _random_value(params, random, seed, archetypes, days, forecasts)
        return

    names = (
        list(params_io.read_params(params).bundles)
        if bundles is None
        else [name.strip() for name in bundles.split(",") if name.strip()]
    )
    header = ("site", "forecast", "captured", "savings GBP", "perfect GBP", "load MAE kW")
    typer.echo("| " + " | ".join((*header, "solves", "wall s")) + " |")
    typer.echo("|" + "---|" * (len(header) + 2))
    for name in names:
        example = params_io.example_bundle(params, name)
        with native_stdout_to_stderr():
            rows = bench.value_rows(name, example.site, example.run_config, example.series)
        for row in rows:
            if "skipped" in row:
                typer.echo(f"| {name} | {row['forecast']} | n/a: run shorter than warm-up |||||")
                continue
            captured = row["captured_frac"]
            typer.echo(
                f"| {name} | {row['forecast']} | "
                f"{'n/a' if captured is None else f'{100 * captured:.0f}%'} | "
                f"{row['savings_gbp']:,.2f} | {row['perfect_savings_gbp']:,.2f} | "
                f"{row['load_mae_kw']:.2f} | {row['solves']} | {row['wall_s']:.1f} |"
            )


def _random_value(
    params: Path, count: int, seed: int, archetypes: str | None, days: str, forecasts: str
) -> None:
    from gridq.io import params as params_io
    from gridq.runners import value

    known = {archetype.name: archetype for archetype in value.ARCHETYPES}
    chosen = _listed(archetypes, "--archetypes", known) if archetypes else list(known)
    windows = _listed(days, "--days", None)
    providers = _listed(
        forecasts, "--forecasts", {"learned", "persistence_week", "persistence_day", "perfect"}
    )
    try:
        window_days = [int(day) for day in windows]
    except ValueError:
        raise ConfigError(f"--days {days!r}: give whole days, e.g. 42,90,365") from None
    if not all(7 <= day <= 366 for day in window_days):
        raise ConfigError(f"--days {days!r}: each window is 7 to 366 days")
    examples = {name: params_io.example_bundle(params, known[name].example) for name in chosen}
    typer.echo(f"Random sites: --random {count} --seed {seed}")
    header = ("archetype", "days", "forecast", "sites", "captured mean", "min", "max")
    typer.echo("| " + " | ".join((*header, "bill above prescient (mean, max)", "wall s")) + " |")
    typer.echo("|" + "---|" * (len(header) + 2))
    with native_stdout_to_stderr():  # HiGHS's prints; the table follows on stdout
        summary = value.evaluate(
            [(known[name], examples[name]) for name in chosen], count, seed, window_days, providers
        )
    for row in summary:
        typer.echo(
            f"| {row['archetype']} | {row['days']} | {row['forecast']} | {row['sites']} | "
            f"{_share(row['captured_mean'])} | {_share(row['captured_min'])} | "
            f"{_share(row['captured_max'])} | {_share(row['excess_mean'], 1)}, "
            f"{_share(row['excess_max'], 1)} | {row['wall_s']:.0f} |"
        )


def _listed(text: str, option: str, known: Collection[str] | None) -> list[str]:
    """The comma-separated names of ``text``, each one of ``known`` (if given)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if known is not None and name not in known]
    if not names:
        raise ConfigError(f"{option} {text!r}: empty; give comma-separated names")
    if unknown and known is not None:
        raise ConfigError(
            f"{option} {text!r}: unknown {unknown[0]!r}; choose from {', '.join(sorted(known))}"
        )
    return names


def _share(frac: float | None, decimals: int = 0) -> str:
    return "n/a" if frac is None else f"{100 * frac:.{decimals}f}%"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("bench")(bench_command)
    app.command("value")(value_command)
