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


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(live_app, name="live")
