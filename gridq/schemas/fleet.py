"""Pydantic model of a fleet file: sites, scenarios and the runner every task uses.

A site is an existing bundle folder (``bundle``) or an example of params.yaml (``example``)
drawn afresh. Overrides use the syntax of ``dvc exp run -S``: ``KEY.PATH=VALUE``, the value
read as YAML. A key's first part says what it changes: a field of ``site_config.yaml``
(``battery``, ``grid``, ...), of ``run_config.yaml`` (``tariff``, ``rolling``, ...), or, for
an example site, its synthetic ``series`` (``series.seed=7``).
"""

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gridq.schemas.base import FrozenModel

PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""A site or scenario name: one path component that cannot climb out of the output folder."""
OVERRIDE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)=(.*)", re.S)


def _plain(name: str) -> str:
    if not PLAIN_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a plain name; use letters, digits, '_' and '-' only (no '/', "
            "'..' or spaces)"
        )
    return name


def _overrides(overrides: tuple[str, ...]) -> tuple[str, ...]:
    for override in overrides:
        if not OVERRIDE.fullmatch(override):
            raise ValueError(
                f"override {override!r} is not KEY.PATH=VALUE; write e.g. battery.capacity_kwh=200"
            )
    return overrides


class Named(FrozenModel):
    """A site or scenario: a plain name and overrides (``KEY.PATH=VALUE``, applied in order)."""

    name: str = Field(description="Unique in the fleet; names a folder under the output.")
    overrides: tuple[str, ...] = Field((), description="KEY.PATH=VALUE, applied in order.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        return _plain(name)

    @field_validator("overrides")
    @classmethod
    def _valid_overrides(cls, overrides: tuple[str, ...]) -> tuple[str, ...]:
        return _overrides(overrides)


class FleetSite(Named):
    """One site of the fleet: a bundle folder or an example of params.yaml, and overrides."""

    bundle: str | None = Field(None, description="A bundle folder, relative to the fleet file.")
    example: str | None = Field(None, description="An example bundle of params.yaml.")

    @model_validator(mode="after")
    def _one_source(self) -> "FleetSite":
        if (self.bundle is None) == (self.example is None):
            raise ValueError(f"site '{self.name}' needs exactly one of 'bundle' and 'example'")
        return self


class Scenario(Named):
    """A variant run at every site: overrides applied after the site's own."""


class FleetRunner(FrozenModel):
    """How every task runs: a perfect-foresight or a rolling backtest.

    A rolling run takes its forecast and re-planning from each task's run config
    (``rolling.forecast=learned`` as an override).
    """

    mode: Literal["perfect", "rolling"] = "perfect"


class Coupling(FrozenModel):
    """A connection the sites share (a virtual power plant): limits on their summed flows.

    The fleet is then solved as one LP per scenario (perfect foresight), so each site's
    dispatch respects the shared limits at every step.
    """

    import_limit_kw: float | None = Field(
        None, gt=0, description="Most the sites together import at any step [kW]."
    )
    export_limit_kw: float | None = Field(
        None, ge=0, description="Most the sites together export at any step [kW]."
    )

    @model_validator(mode="after")
    def _some_limit(self) -> "Coupling":
        if self.import_limit_kw is None and self.export_limit_kw is None:
            raise ValueError("a coupling needs import_limit_kw or export_limit_kw")
        return self


class Fleet(FrozenModel):
    """A fleet file: every site runs every scenario with the runner."""

    name: str
    params: str = Field(
        "params.yaml", description="params.yaml of the example sites, relative to the fleet file."
    )
    runner: FleetRunner = FleetRunner()
    sites: tuple[FleetSite, ...] = Field(min_length=1)
    scenarios: tuple[Scenario, ...] = (Scenario(name="base"),)
    coupling: Coupling | None = Field(
        None, description="A shared connection: the fleet is solved as one LP per scenario."
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        return _plain(name)

    @model_validator(mode="after")
    def _unique_names(self) -> "Fleet":
        for kind, names in (
            ("site", [site.name for site in self.sites]),
            ("scenario", [scenario.name for scenario in self.scenarios]),
        ):
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(
                    f"{kind} name '{repeated[0]}' appears more than once; give each {kind} its "
                    "own name"
                )
        if self.coupling is not None and self.runner.mode != "perfect":
            raise ValueError(
                "a coupled fleet runs with perfect foresight; set runner.mode: perfect"
            )
        return self
