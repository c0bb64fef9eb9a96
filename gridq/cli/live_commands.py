"""``gridq backtest --mode rolling`` and ``gridq live step``: forecasts, re-planning, setpoints."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gridq import conventions as col
from gridq.cli.common import (
    native_stdout_to_stderr,
    parse_duration_min,
    reports_errors,
)
from gridq.errors import ConfigError
from gridq.schemas.run import SIZE_MAX

if TYPE_CHECKING:
    import pandas as pd


live_app = typer.Typer(
    help="Live operations: run a site's battery, or plan one step.", no_args_is_help=True
)


@live_app.command("step")
@reports_errors
def live_step(
    bundle: Annotated[
        Path, typer.Argument(help="Run bundle: site, tariff, history.", file_okay=False)
    ],
    at: Annotated[str, typer.Option(help="Start of the next interval, UTC (ISO 8601).")],
    soc_kwh: Annotated[float, typer.Option(help="Stored energy now [kWh].", min=0.0)],
    peak_so_far_kw: Annotated[
        float,
        typer.Option(
            help="Highest demand already set this billing month [kW].", min=0.0, max=SIZE_MAX
        ),
    ] = 0.0,
) -> None:
    """Plan the horizon from now and print the next setpoint and the plan as JSON."""
    import pandas as pd

    from gridq.engine import forecast as forecasts
    from gridq.io import bundle as io
    from gridq.io import files
    from gridq.runners import live

    inputs = io.read_bundle(bundle)
    now = utc_time("--at", at)
    first, last = inputs.timeseries.index[0], inputs.timeseries.index[-1]
    if not first <= now <= last:
        raise ConfigError(
            f"--at {now:%Y-%m-%dT%H:%MZ} is outside {bundle / io.TIMESERIES} "
            f"({first:%Y-%m-%dT%H:%MZ} to {last:%Y-%m-%dT%H:%MZ}); give a time within it"
        )
    options = inputs.run_config.rolling
    provider = forecasts.make_provider(
        options.forecast, inputs.timeseries, inputs.site, inputs.run_config
    )
    with native_stdout_to_stderr():
        plan, (low_kw, high_kw) = live.plan_now(
            inputs.site, inputs.run_config, provider, now, soc_kwh, peak_so_far_kw
        )
    plan_rows = plan.dispatch.reset_index()
    plan_rows[col.TIMESTAMP] = plan_rows[col.TIMESTAMP].map(pd.Timestamp.isoformat)
    answer = {
        "setpoint": plan.setpoint(),
        "net_import_band_kw": {"min": low_kw, "max": high_kw},
        "forecast": options.forecast,
        "horizon_h": options.horizon_h,
        "objective_gbp": plan.objective_gbp,
        "plan": plan_rows.round(6).to_dict(orient="records"),
    }
    typer.echo(files.json_text(answer), nl=False)


@live_app.command("init")
@reports_errors
def live_init(
    site_dir: Annotated[Path, typer.Argument(help="Site folder to write.", file_okay=False)],
    bundle: Annotated[
        Path,
        typer.Option(
            help="Run bundle whose site, config and timeseries to start from.", file_okay=False
        ),
    ],
    host: Annotated[str, typer.Option(help="The device's address.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="The device's Modbus TCP port.", min=1, max=65535)
    ] = 5020,
    register_map: Annotated[
        str,
        typer.Option("--map", help="Register map YAML in the site folder, or gridq_sim."),
    ] = "gridq_sim",
    api_port: Annotated[
        int | None,
        typer.Option(help="Serve the HTTP API on loopback at this port.", min=1, max=65535),
    ] = None,
) -> None:
    """Write a site folder for gridq live run from BUNDLE.

    Its configs, its timeseries as the history, and a live.yaml naming the device.
    """
    from gridq.live.site_folder import init_site_folder

    init_site_folder(bundle, site_dir, {"map": register_map, "host": host, "port": port}, api_port)
    typer.echo(f"wrote {site_dir}: edit live.yaml for the device, the tick and safety", err=True)


@live_app.command("run")
@reports_errors
def live_run(
    site_dir: Annotated[
        Path,
        typer.Argument(
            help="Site folder: site_config.yaml, run_config.yaml, live.yaml and the history.",
            file_okay=False,
        ),
    ],
    until: Annotated[
        str | None,
        typer.Option(help="Stop when the device's clock reaches this time, UTC (ISO 8601)."),
    ] = None,
) -> None:
    """Run the site's battery: read the device every tick, plan beside it, write setpoints.

    Runs until the history calendar ends, --until, or Ctrl-C; state goes to live.yaml's store.
    """
    from gridq.live.runner import run_site

    stop = None if until is None else utc_time("--until", until)
    try:
        with native_stdout_to_stderr():
            run_site(site_dir, stop)
    except KeyboardInterrupt:
        pass


@live_app.command("export")
@reports_errors
def live_export(
    site_dir: Annotated[
        Path, typer.Argument(help="Site folder run by gridq live run.", file_okay=False)
    ],
    start: Annotated[str, typer.Option("--from", help="First step to export, UTC (ISO 8601).")],
    stop: Annotated[str, typer.Option("--to", help="End of the period (exclusive), UTC.")],
    out: Annotated[Path, typer.Option(help="Bundle folder to write.", file_okay=False)],
) -> None:
    """Write what the site did from --from to --to as a run bundle with lineage.

    The timeseries is the telemetry, dispatch.parquet (and realised.parquet) the realised
    dispatch, forecasts.parquet the plans' forecasts: gridq bill prices it, gridq backtest
    --mode rolling --forecast replay re-runs it.
    """
    from gridq.live.export import export_bundle

    steps = export_bundle(site_dir, utc_time("--from", start), utc_time("--to", stop), out)
    typer.echo(f"wrote {out}: {steps} steps", err=True)


@live_app.command("report")
@reports_errors
def live_report(
    site_dir: Annotated[
        Path, typer.Argument(help="Site folder run by gridq live run.", file_okay=False)
    ],
    out: Annotated[Path, typer.Option(help="HTML page to write.", dir_okay=False)],
    start: Annotated[
        str | None, typer.Option("--from", help="First step, UTC (ISO 8601); default the first.")
    ] = None,
    stop: Annotated[
        str | None, typer.Option("--to", help="End (exclusive), UTC; default after the last.")
    ] = None,
) -> None:
    """Write a page of what the site did: plan against actual, events, monthly peaks."""
    from gridq.live.export import write_live_report

    shown = write_live_report(
        site_dir,
        None if start is None else utc_time("--from", start),
        None if stop is None else utc_time("--to", stop),
        out,
    )
    typer.echo(f"wrote {out}: {shown} steps", err=True)


@live_app.command("override")
@reports_errors
def live_override(
    site_dir: Annotated[
        Path, typer.Argument(help="Site folder run by gridq live run.", file_okay=False)
    ],
    setpoint_kw: Annotated[
        float | None,
        typer.Option(
            help="Battery power to force [kW, + discharging]; the safety layer still holds."
        ),
    ] = None,
    duration: Annotated[
        str, typer.Option("--for", help="How long, in the device's time: e.g. 30min, 2h.")
    ] = "30min",
    reason: Annotated[str, typer.Option(help="Why, for the event log.")] = "operator override",
    clear: Annotated[bool, typer.Option(help="End every override now instead.")] = False,
) -> None:
    """Force the battery's setpoint for a while; it expires by itself (or --clear ends it)."""
    from gridq.live.site_folder import override

    if not clear and setpoint_kw is None:
        raise ConfigError("give --setpoint-kw (or --clear to end the overrides)")
    seconds = parse_duration_min(duration, "--for") * 60.0
    override(site_dir, None if clear else (setpoint_kw, seconds, reason))


@live_app.command("sunspec-map")
@reports_errors
def live_sunspec_map(
    out: Annotated[Path, typer.Argument(help="Register map YAML to write.", dir_okay=False)],
    models: Annotated[
        str, typer.Option(help="The device's SunSpec model ids, in its order.")
    ] = "1,203,103,701,713,704",
    base: Annotated[
        int, typer.Option(help="Register of the SunS marker (0-based).", min=0, max=65000)
    ] = 40000,
    device_id: Annotated[int, typer.Option(help="Modbus unit id.", min=0, max=247)] = 1,
    clock_address: Annotated[
        int | None,
        typer.Option(help="Add a clock register (uint32 UNIX s) here: a simulator's.", min=0),
    ] = None,
) -> None:
    """Write the SunSpec preset as a register map, built from pysunspec2's model definitions."""
    from gridq.live.sunspec import write_sunspec_map

    try:
        chain = tuple(int(model) for model in models.split(","))
    except ValueError:
        raise ConfigError(f"--models '{models}' is not model ids separated by commas") from None
    write_sunspec_map(
        out, models=chain, base=base, device_id=device_id, clock_address=clock_address
    )
    typer.echo(f"wrote {out}: a map for gridq live run (device.map) and gridq sim --map", err=True)


@live_app.command("token")
@reports_errors
def live_token(
    site_dir: Annotated[Path, typer.Argument(help="Site folder with an api section.")],
    name: Annotated[str, typer.Option(help="Whose token: named in the API's log lines.")],
    role: Annotated[str, typer.Option(help="viewer (reads) or operator (also overrides).")],
) -> None:
    """Make an API token: its hash joins the tokens file, the token is printed once."""
    from gridq.live.site_folder import add_token

    token, path = add_token(site_dir, name, role)
    typer.echo(token)
    typer.echo(f"{name} ({role}) added to {path}; the token is shown only now", err=True)


@reports_errors
def sim(
    bundle: Annotated[
        Path, typer.Argument(help="Run bundle whose site and timeseries to serve.", file_okay=False)
    ],
    port: Annotated[
        int, typer.Option(help="TCP port to serve Modbus on.", min=1, max=65535)
    ] = 5020,
    speed: Annotated[
        float, typer.Option(help="Simulated seconds per wall second.", min=0.001, max=10000.0)
    ] = 1.0,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    register_map: Annotated[
        Path | None,
        typer.Option(
            "--map", help="Register map YAML (default: GridQ's own, in kW).", dir_okay=False
        ),
    ] = None,
    ramp_kw_per_s: Annotated[
        float | None,
        typer.Option(help="The battery's ramp limit [kW/s]; none by default.", min=0.0),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Simulated time to start at, UTC (ISO 8601); default the first step."),
    ] = None,
    hold: Annotated[
        bool,
        typer.Option(help="Keep the clock still until a controller writes its first setpoint."),
    ] = False,
) -> None:
    """Serve BUNDLE's site over Modbus TCP: meter, PV and a battery that follows setpoints.

    Runs until the timeseries ends (or Ctrl-C); the clock register holds the simulated time.
    """
    import asyncio

    import pandas as pd

    from gridq.io import bundle as io
    from gridq.live.sim import SimulatedBattery, SiteSimulator
    from gridq.live.sim_server import ServedSite, read_map, serve

    inputs = io.read_bundle(bundle)
    battery = inputs.site.battery
    first = pd.Timestamp(inputs.timeseries.index[0])
    begin = first if start is None else utc_time("--start", start)
    simulator = SiteSimulator(
        inputs.timeseries,
        SimulatedBattery(battery, battery.initial_soc_kwh, ramp_kw_per_s=ramp_kw_per_s),
        now=begin,
    )
    if not simulator.start <= begin < simulator.end:
        raise ConfigError(
            f"--start {begin:%Y-%m-%dT%H:%MZ} is outside {bundle / io.TIMESERIES} "
            f"({simulator.start:%Y-%m-%dT%H:%MZ} to {simulator.end:%Y-%m-%dT%H:%MZ}); "
            "give a time within it"
        )
    served = ServedSite(simulator, read_map(register_map), holding=hold)
    typer.echo(
        f"serving {bundle} as {served.register_map.name} on {host}:{port} at {speed:g}x, "
        f"{simulator.start:%Y-%m-%dT%H:%MZ} to {simulator.end:%Y-%m-%dT%H:%MZ}",
        err=True,
    )
    try:
        asyncio.run(serve(served, host, port, speed))
    except KeyboardInterrupt:
        pass


def utc_time(option: str, text: str) -> "pd.Timestamp":
    """``text`` as a UTC time, or a one-line error naming ``option``."""
    import pandas as pd

    try:
        moment = pd.Timestamp(text)
    except ValueError:
        raise ConfigError(
            f"{option} '{text}' is not a timestamp; write e.g. 2025-03-20T17:00Z"
        ) from None
    if moment.tz is None:
        raise ConfigError(f"{option} '{text}' has no time zone; add Z for UTC")
    return moment.tz_convert("UTC")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(live_app, name="live")
    app.command("sim")(sim)
