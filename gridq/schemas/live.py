"""``live.yaml``: how ``gridq live run`` reaches a site's device and how it operates it.

The site's battery, grid limits and tariff stay in ``site_config.yaml`` and
``run_config.yaml`` (its ``rolling`` options plan the live site as they plan a rolling
backtest); this file adds what only operation needs.
"""

from pydantic import Field

from gridq.schemas.base import FrozenModel


class DeviceLink(FrozenModel):
    """Where the site's device answers Modbus TCP, and the register map that reads it."""

    map: str = Field(
        description="Register map YAML, relative to the site folder ('gridq_sim' names the "
        "simulator's own map)."
    )
    host: str = Field("127.0.0.1", min_length=1, description="Device address.")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    timeout_s: float = Field(1.0, gt=0, le=30, description="Wait for one answer [s].")


class Safety(FrozenModel):
    """Limits and failsafes beyond the site's own (its battery and grid limits always hold)."""

    watchdog_ticks: int = Field(
        3,
        ge=1,
        le=100,
        description="Telemetry older than this many ticks, or invalid, puts the site in safe "
        "mode: the battery idle, except to keep import under the connection's limit.",
    )
    max_ramp_kw_per_s: float | None = Field(
        None, gt=0, description="Most the setpoint may move per second [kW/s]; none by default."
    )
    write_retries: int = Field(
        3,
        ge=0,
        le=10,
        description="Retries of a failed setpoint write, at later ticks with backoff (1, 2, 4 "
        "ticks); then an alarm and safe mode until a write succeeds.",
    )
    solve_timeout_s: float = Field(
        60.0,
        gt=0,
        description="A plan not back within this many seconds counts as failed; the controller "
        "keeps the last valid plan, then falls back to self-consumption with a peak guard.",
    )


class LiveConfig(FrozenModel):
    """What ``gridq live run`` reads from ``live.yaml`` in the site folder."""

    device: DeviceLink
    tick_s: float = Field(
        5.0, ge=1.0, le=60.0, description="Control tick in the device's time [s]."
    )
    history: str = Field(
        "history.parquet",
        description="The site's metered past as a timeseries (timestamp, load_kw, pv_kw and "
        "prices), relative to the site folder. Its steps before the start train the forecast; "
        "its steps after it give the prices known ahead (their load and PV are never read). "
        "Operation ends where it ends.",
    )
    store: str = Field(
        "live.sqlite",
        min_length=1,
        description="State store: an SQLite file relative to the site folder.",
    )
    safety: Safety = Field(default_factory=Safety)  # type: ignore[arg-type]
