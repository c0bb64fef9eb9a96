"""``params.yaml`` -> the same pydantic models as a bundle's YAML.

Defaults (``battery``, ``site``, ``tariff``, ``horizon``, ``solver``, ``rolling``,
``underwriting``) apply
to every bundle; each entry of ``bundles`` overrides them key by key (nested mappings merge,
anything else replaces). A bundle's ``tariff_file`` (a library tariff under ``data/tariffs/``)
sits between the defaults and the bundle's own ``tariff`` overrides. Nothing else opens
params.yaml.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from gridq.engine.synth import SyntheticSeries
from gridq.errors import ConfigError
from gridq.io.files import parse_model, read_yaml
from gridq.schemas import RunConfig, Site
from gridq.schemas.base import FrozenModel

PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""A bundle name: one path component that cannot climb out of ``bundles/``."""


class Horizon(FrozenModel):
    """The time axis shared by the example bundles."""

    timestep_min: int = Field(15, gt=0, le=60)


class BundleParams(FrozenModel):
    """One example bundle: how to draw its series, and what it overrides."""

    series: SyntheticSeries
    baseline: Literal["no_battery", "self_consumption"] = "self_consumption"
    tariff_file: str | None = Field(
        None, description="A tariff YAML, relative to params.yaml, under the overrides."
    )
    site: dict[str, Any] = {}
    battery: dict[str, Any] = {}
    tariff: dict[str, Any] = {}
    solver: dict[str, Any] = {}
    rolling: dict[str, Any] = {}
    underwriting: dict[str, Any] = {}


class PipelineParams(FrozenModel):
    """All of params.yaml."""

    battery: dict[str, Any] = {}
    site: dict[str, Any] = {}
    tariff: dict[str, Any] = {}
    horizon: Horizon = Horizon()
    solver: dict[str, Any] = {}
    rolling: dict[str, Any] = {}
    underwriting: dict[str, Any] = {}
    bundles: dict[str, BundleParams]

    @field_validator("bundles")
    @classmethod
    def _plain_names(cls, bundles: dict[str, BundleParams]) -> dict[str, BundleParams]:
        # Each name becomes bundles/<name>: a separator or '..' would write outside bundles/.
        for name in bundles:
            if not PLAIN_NAME.fullmatch(str(name)):
                raise ValueError(
                    f"bundle name {name!r} is not a plain name; use letters, digits, '_' and "
                    "'-' only (no '/', '..' or spaces)"
                )
        return bundles


@dataclass(frozen=True)
class ExampleBundle:
    """What ``gridq generate`` needs to write one bundle."""

    site: Site
    run_config: RunConfig
    series: SyntheticSeries


def merge(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` updated by ``overrides``, merging nested mappings key by key."""
    merged = dict(defaults)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_params(path: Path) -> PipelineParams:
    """Read and validate params.yaml."""
    data = read_yaml(path)
    try:
        return parse_model(PipelineParams, data)
    except ConfigError as error:
        raise error.with_context(str(path)) from None


def example_bundle(params_path: Path, name: str) -> ExampleBundle:
    """Resolve bundle ``name`` of params.yaml into validated configs."""
    params = read_params(params_path)
    if name not in params.bundles:
        raise ConfigError(
            f"{params_path}: no bundle '{name}' under 'bundles'; choose one of "
            f"{', '.join(params.bundles)}"
        )
    bundle = params.bundles[name]
    where = f"{params_path}: bundles.{name}"
    site_data = merge(params.site, bundle.site) | {
        "name": name,
        "battery": merge(params.battery, bundle.battery),
    }
    library_tariff: dict[str, Any] = {}
    if bundle.tariff_file is not None:
        library_tariff = read_yaml(params_path.parent / bundle.tariff_file)
    run_data = {
        "timestep_min": params.horizon.timestep_min,
        "baseline": bundle.baseline,
        "tariff": merge(merge(params.tariff, library_tariff), bundle.tariff),
        "solver": merge(params.solver, bundle.solver),
        "rolling": merge(params.rolling, bundle.rolling),
        "underwriting": merge(params.underwriting, bundle.underwriting),
    }
    try:
        return ExampleBundle(
            site=parse_model(Site, site_data),
            run_config=parse_model(RunConfig, run_data),
            series=bundle.series,
        )
    except ConfigError as error:
        raise error.with_context(where) from None
