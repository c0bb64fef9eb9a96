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

import yaml
from pydantic import Field, field_validator

from gridq.engine.synth import SyntheticSeries
from gridq.errors import ConfigError
from gridq.io.files import parse_model, read_config, read_yaml
from gridq.schemas import RunConfig, Site
from gridq.schemas.base import FrozenModel
from gridq.schemas.fleet import OVERRIDE

SERIES = "series"
"""The key of an example's synthetic series in overrides (``series.seed=7``)."""

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
    return read_config(path, PipelineParams)


def confined(params_path: Path, field: str, relative: str) -> Path:
    """``relative`` (from ``params_path``'s folder), refused unless it stays inside that folder.

    A pipeline's files live in its project: an absolute path, a ``..`` or a symlink that leads
    out of it would make a run depend on (and read) files the project does not hold.
    """
    project = params_path.parent.resolve()
    path = params_path.parent / relative
    if Path(relative).is_absolute() or not path.resolve().is_relative_to(project):
        raise ConfigError(
            f"{params_path}: {field} {relative!r} leads outside the project ({project}); keep "
            "tariff files inside it, e.g. data/tariffs/NAME.yaml"
        )
    return path


def example_data(
    params: PipelineParams, params_path: Path, name: str
) -> tuple[dict[str, Any], dict[str, Any], SyntheticSeries]:
    """Bundle ``name`` of ``params`` as site and run-config data (not yet validated) and series."""
    if name not in params.bundles:
        raise ConfigError(
            f"{params_path}: no bundle '{name}' under 'bundles'; choose one of "
            f"{', '.join(params.bundles)}"
        )
    bundle = params.bundles[name]
    site_data = merge(params.site, bundle.site) | {
        "name": name,
        "battery": merge(params.battery, bundle.battery),
    }
    library_tariff: dict[str, Any] = {}
    if bundle.tariff_file is not None:
        library_tariff = read_yaml(
            confined(params_path, f"bundles.{name}.tariff_file", bundle.tariff_file)
        )
    run_data = {
        "timestep_min": params.horizon.timestep_min,
        "baseline": bundle.baseline,
        "tariff": merge(merge(params.tariff, library_tariff), bundle.tariff),
        "solver": merge(params.solver, bundle.solver),
        "rolling": merge(params.rolling, bundle.rolling),
        "underwriting": merge(params.underwriting, bundle.underwriting),
    }
    return site_data, run_data, bundle.series


def _set(data: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        inner = data.get(key)
        if not isinstance(inner, dict):
            inner = {}
            data[key] = inner
        data = inner
    data[keys[-1]] = value


def apply_overrides(
    parts: dict[str, dict[str, Any]], overrides: tuple[str, ...], where: str
) -> None:
    """Apply ``KEY.PATH=VALUE`` overrides to the site, run and (example) series data in place.

    The first key names the part: a field of :class:`Site`, of :class:`RunConfig`, or
    ``series``. A key unknown below it is refused when the part is validated.
    """
    for override in overrides:
        match = OVERRIDE.fullmatch(override)
        assert match is not None  # the schema admitted only this form
        keys, raw = match.group(1).split("."), match.group(2)
        if keys[0] in Site.model_fields:
            part = "site"
        elif keys[0] in RunConfig.model_fields:
            part = "run_config"
        elif keys[0] == SERIES and SERIES in parts:
            part = SERIES
        else:
            known = [
                *Site.model_fields,
                *RunConfig.model_fields,
                *([SERIES] if SERIES in parts else []),
            ]
            raise ConfigError(
                f"{where}: override '{override}': '{keys[0]}' is not a key of a site or a run "
                f"config; use one of {', '.join(sorted(known))}"
            )
        if keys in (["name"], [SERIES]):
            raise ConfigError(
                f"{where}: override '{override}': set a field below '{keys[0]}' (the name comes "
                "from the bundle or the fleet)"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise ConfigError(
                f"{where}: override '{override}': the value is not YAML; quote it"
            ) from None
        # An example's series is its own part: series.seed sets its 'seed'.
        _set(parts[part], keys[1:] if part == SERIES else keys, value)


def record_array(parts: dict[str, dict[str, Any]]) -> None:
    """A synthetic site's ``pv_peak_kw`` is the array its series is drawn for, unless set."""
    if SERIES in parts and parts["site"].get("pv_peak_kw") is None:
        parts["site"]["pv_peak_kw"] = parts[SERIES].get("pv_peak_kw")


def example_bundle(params_path: Path, name: str, overrides: tuple[str, ...] = ()) -> ExampleBundle:
    """Resolve bundle ``name`` of params.yaml, then ``overrides``, into validated configs."""
    site_data, run_data, series = example_data(read_params(params_path), params_path, name)
    where = f"{params_path}: bundles.{name}"
    parts = {"site": site_data, "run_config": run_data, SERIES: series.model_dump(mode="json")}
    apply_overrides(parts, overrides, where)
    record_array(parts)
    try:
        return ExampleBundle(
            site=parse_model(Site, parts["site"]),
            run_config=parse_model(RunConfig, parts["run_config"]),
            series=parse_model(SyntheticSeries, parts[SERIES]),
        )
    except ConfigError as error:
        raise error.with_context(where) from None


def with_days(series: SyntheticSeries, days: int) -> SyntheticSeries:
    """``series`` over ``days`` instead of its own length, validated as the params are."""
    try:
        return parse_model(SyntheticSeries, series.model_dump() | {"days": days})
    except ConfigError as error:
        raise ConfigError(f"--days {days}: {error}") from None
