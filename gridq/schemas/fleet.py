"""Pydantic model of a fleet file: sites, scenarios and the runner every task uses.

A site is an existing bundle folder (``bundle``) or an example of params.yaml (``example``)
drawn afresh. Overrides use the syntax of ``dvc exp run -S``: ``KEY.PATH=VALUE``, the value
read as YAML. A key's first part says what it changes: a field of ``site_config.yaml``
(``battery``, ``grid``, ...), of ``run_config.yaml`` (``tariff``, ``rolling``, ...), or, for
an example site, its synthetic ``series`` (``series.seed=7``).
"""

import re
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

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


class FleetEvent(FrozenModel):
    """A firm flexibility commitment of the whole fleet (e.g. an aggregator's turn-down).

    From ``start_utc`` to ``end_utc`` the sites' summed import stays at or below
    ``baseline_import_kw - reduction_kw``; the fleet is paid ``price_gbp_per_kwh`` for the
    reduction committed (``reduction_kw`` times the event's hours).
    """

    name: str
    start_utc: AwareDatetime
    end_utc: AwareDatetime
    baseline_import_kw: float = Field(ge=0, description="The fleet's reference import [kW].")
    reduction_kw: float = Field(gt=0, description="Reduction below the reference [kW].")
    price_gbp_per_kwh: float = Field(ge=0, description="Paid per kWh of committed reduction.")

    @model_validator(mode="after")
    def _sensible(self) -> "FleetEvent":
        if self.end_utc <= self.start_utc:
            raise ValueError(f"event '{self.name}': end_utc must be after start_utc")
        if self.reduction_kw > self.baseline_import_kw:
            raise ValueError(
                f"event '{self.name}': reduction_kw {self.reduction_kw:g} exceeds "
                f"baseline_import_kw {self.baseline_import_kw:g}; the fleet cannot import "
                "less than nothing"
            )
        return self


class Coupling(FrozenModel):
    """A connection the sites share (a virtual power plant): limits on their summed flows.

    The fleet is then solved per scenario as one optimisation (perfect foresight), so each
    site's dispatch respects the shared limits and the fleet's events at every step: exactly
    as one LP (``method: joint``) or by decomposition into per-site LPs on the Dask workers
    with prices on the shared limits (``method: decomposed``), to within ``gap_frac`` of the
    joint optimum, proven by a lower bound.
    """

    import_limit_kw: float | None = Field(
        None, gt=0, description="Most the sites together import at any step [kW]."
    )
    export_limit_kw: float | None = Field(
        None, ge=0, description="Most the sites together export at any step [kW]."
    )
    flexibility_events: tuple[FleetEvent, ...] = ()
    method: Literal["joint", "decomposed"] = "joint"
    gap_frac: float = Field(
        1e-6, gt=0, lt=1, description="decomposed: stop when within this share of the optimum."
    )
    max_rounds: int = Field(200, ge=1, description="decomposed: most rounds of prices.")

    @model_validator(mode="after")
    def _some_limit(self) -> "Coupling":
        if (
            self.import_limit_kw is None
            and self.export_limit_kw is None
            and not self.flexibility_events
        ):
            raise ValueError(
                "a coupling needs import_limit_kw, export_limit_kw or flexibility_events"
            )
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
