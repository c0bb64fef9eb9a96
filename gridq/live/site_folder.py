"""``gridq live init``: a site folder for ``gridq live run``, made from a run bundle.

The bundle's site and run config become the site's; its timeseries becomes
``history.parquet`` (the metered past the forecast learns from and the prices known ahead);
``live.yaml`` names the device. Written together or not at all.
"""

from pathlib import Path

from gridq.errors import ConfigError
from gridq.io import bundle as io
from gridq.io.files import table_bytes, yaml_bytes
from gridq.io.publish import publish
from gridq.schemas.live import LiveConfig

LIVE_CONFIG = "live.yaml"
HISTORY = "history.parquet"


def init_site_folder(bundle: Path, site_dir: Path, device: dict[str, object]) -> None:
    """Write ``site_dir`` from ``bundle`` with ``device`` (``live.yaml``'s device section)."""
    if (site_dir / LIVE_CONFIG).exists():
        raise ConfigError(
            f"{site_dir / LIVE_CONFIG} exists: {site_dir} is a site folder already; "
            "choose another folder"
        )
    inputs = io.read_bundle(bundle)
    site_dir.mkdir(parents=True, exist_ok=True)
    config = LiveConfig.model_validate({"device": device, "history": HISTORY})
    publish(
        site_dir,
        {
            io.SITE_CONFIG: yaml_bytes(inputs.site.model_dump(mode="json")),
            io.RUN_CONFIG: yaml_bytes(inputs.run_config.model_dump(mode="json")),
            HISTORY: table_bytes(inputs.timeseries),
            LIVE_CONFIG: yaml_bytes(config.model_dump(mode="json")),
        },
    )
