"""``gridq backtest --mode rolling`` and ``gridq live step``: forecasts, re-planning, setpoints."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gridq import conventions as col
from gridq.cli.common import (
    native_stdout_to_stderr,
    reports_errors,
)
from gridq.errors import ConfigError
from gridq.schemas.run import SIZE_MAX

if TYPE_CHECKING:
    pass


live_app = typer.Typer(help="Live operations: one receding-horizon step.", no_args_is_help=True)


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
    try:
        now = pd.Timestamp(at)
    except ValueError:
        raise ConfigError(f"--at '{at}' is not a timestamp; write e.g. 2025-03-20T17:00Z") from None
    if now.tz is None:
        raise ConfigError(f"--at '{at}' has no time zone; add Z for UTC")
    now = now.tz_convert("UTC")
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
    simulator = SiteSimulator(
        inputs.timeseries,
        SimulatedBattery(battery, battery.initial_soc_kwh, ramp_kw_per_s=ramp_kw_per_s),
        now=pd.Timestamp(inputs.timeseries.index[0]),
    )
    served = ServedSite(simulator, read_map(register_map))
    typer.echo(
        f"serving {bundle} as {served.register_map.name} on {host}:{port} at {speed:g}x, "
        f"{simulator.start:%Y-%m-%dT%H:%MZ} to {simulator.end:%Y-%m-%dT%H:%MZ}",
        err=True,
    )
    try:
        asyncio.run(serve(served, host, port, speed))
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(live_app, name="live")
    app.command("sim")(sim)
