"""``gridq live init``: a site folder for ``gridq live run``, made from a run bundle.

The bundle's site and run config become the site's; its timeseries becomes
``history.parquet`` (the metered past the forecast learns from and the prices known ahead);
``live.yaml`` names the device. Written together or not at all.
"""

from pathlib import Path

from gridq.errors import ConfigError
from gridq.io import bundle as io
from gridq.io.files import atomic_write, read_config, table_bytes, yaml_bytes
from gridq.io.live_store import open_store, store_exists
from gridq.io.publish import publish
from gridq.live.tokens import ROLES, Tokens, new_token, token_line
from gridq.schemas.live import LiveConfig

LIVE_CONFIG = "live.yaml"
HISTORY = "history.parquet"


def init_site_folder(
    bundle: Path, site_dir: Path, device: dict[str, object], api_port: int | None = None
) -> None:
    """Write ``site_dir`` from ``bundle`` with ``device`` (``live.yaml``'s device section).

    With ``api_port``, ``live.yaml`` serves the API on loopback at that port.
    """
    if (site_dir / LIVE_CONFIG).exists():
        raise ConfigError(
            f"{site_dir / LIVE_CONFIG} exists: {site_dir} is a site folder already; "
            "choose another folder"
        )
    inputs = io.read_bundle(bundle)
    site_dir.mkdir(parents=True, exist_ok=True)
    sections: dict[str, object] = {"device": device, "history": HISTORY}
    if api_port is not None:
        sections["api"] = {"port": api_port}
    config = LiveConfig.model_validate(sections)
    publish(
        site_dir,
        {
            io.SITE_CONFIG: yaml_bytes(inputs.site.model_dump(mode="json")),
            io.RUN_CONFIG: yaml_bytes(inputs.run_config.model_dump(mode="json")),
            HISTORY: table_bytes(inputs.timeseries),
            LIVE_CONFIG: yaml_bytes(config.model_dump(mode="json")),
        },
    )


def add_token(site_dir: Path, name: str, role: str) -> tuple[str, Path]:
    """A new API token for ``name`` in ``role``: its hash joins the site's tokens file.

    Returns the token (shown once, stored nowhere) and the file.
    """
    config = read_config(site_dir / LIVE_CONFIG, LiveConfig)
    if config.api is None:
        raise ConfigError(
            f"{site_dir / LIVE_CONFIG} has no api section; add one (e.g. api: {{port: 8750}})"
        )
    if role not in ROLES or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(
            f"token for '{name}' as '{role}': give --role viewer or operator and a --name of "
            "letters, digits, - and _"
        )
    path = site_dir / config.api.tokens_file
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    Tokens.parse(text, str(path))  # a broken file is reported, not appended to
    if any(line.split()[:1] == [name] for line in text.splitlines()):
        raise ConfigError(f"{path} has a token for {name} already; choose another --name")
    token = new_token()
    atomic_write(
        path,
        lambda temporary: temporary.write_text(
            text + token_line(name, role, token), encoding="utf-8"
        ),
        private=True,
    )
    return token, path


def override(site_dir: Path, forced: tuple[float, float, str] | None) -> None:
    """Force (setpoint [kW], duration [s], reason) on the running site; None clears every one."""
    config = read_config(site_dir / LIVE_CONFIG, LiveConfig)
    if not store_exists(site_dir, config.store):
        raise ConfigError(
            f"{site_dir / config.store} does not exist: start the site with gridq live run "
            f"{site_dir} first"
        )
    store = open_store(site_dir, config.store)
    try:
        if forced is None:
            store.clear_overrides()
        else:
            store.set_override(*forced)
    finally:
        store.close()
