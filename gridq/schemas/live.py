"""``live.yaml``: how ``gridq live run`` reaches a site's device and how it operates it.

The site's battery, grid limits and tariff stay in ``site_config.yaml`` and
``run_config.yaml`` (its ``rolling`` options plan the live site as they plan a rolling
backtest); this file adds what only operation needs.
"""

import ipaddress

from pydantic import Field, model_validator

from gridq.schemas.base import FrozenModel


class DeviceLink(FrozenModel):
    """Where the site's device answers Modbus TCP, and the register map that reads it."""

    map: str = Field(
        description="Register map YAML, relative to the site folder; or a preset: 'gridq_sim' "
        "(the simulator's own map) or 'sunspec' (SunSpec models 1, 203, 103, 701, 713, 704 "
        "from 40000)."
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
        "ticks, then every 4); then an alarm and safe mode until a write succeeds.",
    )
    solve_timeout_s: float = Field(
        60.0,
        gt=0,
        description="A plan not back within this many seconds counts as failed; the controller "
        "keeps the last valid plan, then falls back to self-consumption with a peak guard.",
    )


class Api(FrozenModel):
    """The HTTP API beside the controller: status, plan, telemetry, events, overrides, metrics.

    Bearer tokens are never in this file: their hashes are read from ``tokens_file`` (written
    by ``gridq live token``) or from the environment variable ``GRIDQ_API_TOKENS``.
    """

    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(8750, ge=1, le=65535, description="Port to listen on.")
    tokens_file: str = Field(
        "api_tokens",
        min_length=1,
        description="Hashed tokens, one 'name role sha256' line each, relative to the site "
        "folder; GRIDQ_API_TOKENS, where set, is read instead.",
    )
    tls_cert: str | None = Field(None, description="TLS certificate (PEM), site-relative.")
    tls_key: str | None = Field(None, description="TLS private key (PEM), site-relative.")
    insecure_bind: bool = Field(
        False,
        description="Serve plain HTTP on an address other than loopback (tokens then cross "
        "the network in clear): only on a network you trust.",
    )

    @model_validator(mode="after")
    def _loopback_or_tls(self) -> "Api":
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        if not _loopback(self.host) and self.tls_cert is None and not self.insecure_bind:
            raise ValueError(
                f"host {self.host} is not loopback: give tls_cert and tls_key, or set "
                "insecure_bind: true to serve plain HTTP on it"
            )
        return self


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
        description="State store: an SQLite file relative to the site folder, or a PostgreSQL "
        "URL (postgresql://user@host:port/database; a password from PGPASSWORD or .pgpass, "
        "never here).",
    )
    safety: Safety = Field(default_factory=Safety)  # type: ignore[arg-type]
    api: Api | None = Field(None, description="The HTTP API; none without this section.")
