"""Pydantic models of a site and a run: the canonical, validated configuration.

Units sit in every field name and description; fractions are 0-1 (``_frac``). Sign conventions
are those of :mod:`gridq.conventions`: powers are positive in their named direction and costs
are positive when money leaves the site.
"""

from typing import Annotated, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from gridq.conventions import DEFAULT_TIMESTEP_MIN
from gridq.schemas.base import Fraction, FrozenModel
from gridq.schemas.tariff import Tariff
from gridq.schemas.underwriting import Underwriting

Efficiency = Annotated[float, Field(gt=0.0, le=1.0)]
SIZE_MAX = 1_000_000.0
"""The largest battery [kWh], battery power, connection or PV array [kW] a site may have (1 GWh,
1 GW): far above any behind-the-meter site, far below a unit slip of 1000."""


class TerminalSocTarget(FrozenModel):
    """The stored energy a run must end with: exactly, or at least, a target.

    Give the target in kWh (``target_kwh``) or as a share of capacity (``target_frac``).
    """

    rule: Literal["equal", "at_least"] = Field(
        description="'equal': end with exactly the target; 'at_least': with the target or more."
    )
    target_kwh: float | None = Field(None, ge=0, description="Target stored energy [kWh].")
    target_frac: Fraction | None = Field(None, description="Target as a share of capacity.")

    @model_validator(mode="after")
    def _one_target(self) -> "TerminalSocTarget":
        if (self.target_kwh is None) == (self.target_frac is None):
            raise ValueError("give exactly one of target_kwh and target_frac")
        return self


NAMED_RULE_TAG = "named_rule"
TARGET_RULE_TAG = "target_rule"
UNION_TAGS = frozenset({NAMED_RULE_TAG, TARGET_RULE_TAG})
"""Tags pydantic puts in an error's location; not keys a user wrote, so messages drop them."""


def _terminal_soc_kind(value: object) -> str:
    return TARGET_RULE_TAG if isinstance(value, dict | TerminalSocTarget) else NAMED_RULE_TAG


TerminalSoc = Annotated[
    Annotated[Literal["at_least_initial", "free"], Tag(NAMED_RULE_TAG)]
    | Annotated[TerminalSocTarget, Tag(TARGET_RULE_TAG)],
    Discriminator(_terminal_soc_kind),
]
"""``at_least_initial``, ``free``, or a :class:`TerminalSocTarget` mapping."""


class Battery(FrozenModel):
    """A stationary battery behind the site's meter; capacity 0 is a site without one."""

    capacity_kwh: float = Field(
        ge=0,
        le=SIZE_MAX,
        description="Nameplate energy capacity [kWh]; 0 for a site without a battery.",
    )
    charge_power_max_kw: float = Field(
        ge=0, le=SIZE_MAX, description="Largest charging power, positive into the battery [kW]."
    )
    discharge_power_max_kw: float = Field(
        ge=0,
        le=SIZE_MAX,
        description="Largest discharging power, positive out of the battery [kW].",
    )
    charge_efficiency_frac: Efficiency = Field(
        0.95, description="Share of charging energy that reaches storage, in (0, 1]."
    )
    discharge_efficiency_frac: Efficiency = Field(
        0.95, description="Share of stored energy that reaches the site on discharge, in (0, 1]."
    )
    soc_min_frac: Fraction = Field(0.0, description="Lowest state of charge, share of capacity.")
    soc_max_frac: Fraction = Field(1.0, description="Highest state of charge, share of capacity.")
    initial_soc_frac: Fraction = Field(
        0.0, description="State of charge before the first step, share of capacity."
    )
    terminal_soc: TerminalSoc = Field(
        "at_least_initial",
        description="'at_least_initial': the run ends with at least the energy it began with; "
        "'free': the end state is unconstrained; {rule: equal|at_least, target_kwh: X} or "
        "{rule: ..., target_frac: F}: ends with exactly, or at least, a target.",
    )
    degradation_cost_gbp_per_kwh: float = Field(
        0.0, ge=0, description="Wear cost per kWh discharged [GBP/kWh]; positive is a cost."
    )

    @model_validator(mode="after")
    def _soc_window_is_ordered(self) -> "Battery":
        if self.soc_min_frac > self.soc_max_frac:
            raise ValueError(
                f"soc_min_frac ({self.soc_min_frac}) is above soc_max_frac ({self.soc_max_frac}); "
                "set soc_min_frac <= soc_max_frac"
            )
        if not self.soc_min_frac <= self.initial_soc_frac <= self.soc_max_frac:
            raise ValueError(
                f"initial_soc_frac ({self.initial_soc_frac}) is outside "
                f"[{self.soc_min_frac}, {self.soc_max_frac}]; put it between soc_min_frac and "
                "soc_max_frac"
            )
        target = self.terminal_soc
        if isinstance(target, TerminalSocTarget):
            target_kwh = self._target_kwh(target)
            if not self.soc_min_kwh - 1e-9 <= target_kwh <= self.soc_max_kwh + 1e-9:
                raise ValueError(
                    f"terminal_soc target {target_kwh:g} kWh is outside the battery's SOC range "
                    f"[{self.soc_min_kwh:g}, {self.soc_max_kwh:g}] kWh; choose a target within it"
                )
        return self

    def _target_kwh(self, target: TerminalSocTarget) -> float:
        if target.target_kwh is not None:
            return target.target_kwh
        return self.capacity_kwh * float(target.target_frac or 0.0)

    def terminal_soc_bounds_kwh(self) -> tuple[float | None, float | None]:
        """Least and most stored energy at the run's end [kWh]; None where unbounded."""
        target = self.terminal_soc
        if isinstance(target, TerminalSocTarget):
            # Within 1e-9 of the range (the validator's tolerance): clamp the rounding.
            target_kwh = min(max(self._target_kwh(target), self.soc_min_kwh), self.soc_max_kwh)
            return target_kwh, (target_kwh if target.rule == "equal" else None)
        return (self.initial_soc_kwh, None) if target == "at_least_initial" else (None, None)

    @property
    def soc_min_kwh(self) -> float:
        """Lowest allowed stored energy [kWh]."""
        return self.capacity_kwh * self.soc_min_frac

    @property
    def soc_max_kwh(self) -> float:
        """Highest allowed stored energy [kWh]."""
        return self.capacity_kwh * self.soc_max_frac

    @property
    def initial_soc_kwh(self) -> float:
        """Stored energy before the first step [kWh]."""
        return self.capacity_kwh * self.initial_soc_frac


class GridConnection(FrozenModel):
    """The site's connection agreement; ``None`` means no limit."""

    import_limit_kw: float | None = Field(
        None,
        gt=0,
        le=SIZE_MAX,
        description="Maximum import capacity (MIC), positive from the grid [kW].",
    )
    export_limit_kw: float | None = Field(
        None,
        ge=0,
        le=SIZE_MAX,
        description="Maximum export capacity (MEC), positive to the grid [kW].",
    )


NO_BATTERY = Battery(capacity_kwh=0.0, charge_power_max_kw=0.0, discharge_power_max_kw=0.0)
"""A site without a battery: what a missing ``battery:`` block means."""


class Site(FrozenModel):
    """One site: where it is, its battery and its grid connection."""

    name: str = Field(min_length=1)
    latitude_deg: float = Field(ge=-90, le=90, description="Latitude [degrees north].")
    longitude_deg: float = Field(ge=-180, le=180, description="Longitude [degrees east].")
    battery: Battery = Field(NO_BATTERY, description="Omit (or capacity 0) for no battery.")
    grid: GridConnection = GridConnection()
    pv_peak_kw: float | None = Field(
        None,
        ge=0,
        le=SIZE_MAX,
        description="The PV array's peak [kWp]; PV readings far above it are refused as a unit "
        "slip. null: unknown (PV is then held only to plausibility.power_max_kw).",
    )
    pv_curtailable: bool = Field(
        True,
        description="false: PV must be used, stored or exported (no inverter curtailment), so "
        "PV above load, charging and the export limit makes the site infeasible.",
    )


class SolverOptions(FrozenModel):
    """HiGHS settings."""

    method: Literal["choose", "simplex", "ipm"] = Field(
        "choose", description="HiGHS 'solver' option."
    )
    time_limit_s: float | None = Field(None, gt=0, description="Wall-clock limit [s].")
    forbid_simultaneous_charge_discharge: bool = Field(
        False,
        description="Add a binary per step so the battery never charges and discharges at once "
        "(a MILP). Only matters when negative prices make burning energy pay.",
    )


class RollingOptions(FrozenModel):
    """How a rolling-horizon backtest re-plans."""

    forecast: Literal[
        "perfect", "persistence_day", "persistence_week", "seasonal_naive", "learned", "replay"
    ] = Field("persistence_day", description="Forecast provider for load and PV.")
    reoptimise_every_min: int = Field(1440, gt=0, description="Re-plan interval [min].")
    horizon_h: float = Field(48.0, gt=0, description="Planning horizon [h].")
    quantiles: tuple[float, ...] = Field(
        (0.1, 0.5, 0.9),
        min_length=1,
        description="Quantiles the learned forecast predicts, each in (0, 1); 0.5 among them.",
    )
    peak_quantile: float | None = Field(
        0.9,
        description="Plan demand-charge steps on this load quantile and PV on its complement "
        "(both among quantiles); null plans them on the median. Used by forecasts with "
        "quantiles (learned).",
    )
    retrain_every_h: float = Field(
        168.0, gt=0, description="How often the learned forecast retrains [h]."
    )
    training_days: float = Field(
        56.0,
        ge=1,
        description="History each learned model trains on [days]; at least one day, so every "
        "time of day has a sample.",
    )

    @model_validator(mode="after")
    def _quantiles_known(self) -> "RollingOptions":
        for quantile in self.quantiles:
            if not 0 < quantile < 1:
                raise ValueError(
                    f"quantile {quantile:g} is outside (0, 1); use e.g. [0.1, 0.5, 0.9]"
                )
        if 0.5 not in self.quantiles:
            raise ValueError("quantiles must include 0.5, the point forecast")
        if self.peak_quantile is not None and self.peak_quantile not in self.quantiles:
            raise ValueError(
                f"peak_quantile {self.peak_quantile:g} is not one of quantiles; add it there"
            )
        if (
            self.peak_quantile is not None
            and quantile_position(self.quantiles, 1 - self.peak_quantile) is None
        ):
            raise ValueError(
                f"quantiles lack {1 - self.peak_quantile:g}, peak_quantile "
                f"{self.peak_quantile:g}'s complement (PV's low side in demand-charge steps); "
                "add it there"
            )
        return self


def quantile_position(quantiles: tuple[float, ...], quantile: float) -> int | None:
    """Position of ``quantile`` in ``quantiles`` (to float rounding: 1 - 0.9 is 0.1), or None."""
    for position, candidate in enumerate(quantiles):
        if abs(candidate - quantile) < 1e-9:
            return position
    return None


class Plausibility(FrozenModel):
    """Bounds every command holds a bundle's timeseries to; raise one a real site exceeds."""

    price_min_gbp_per_kwh: float = Field(-1.0, description="Lowest plausible price [GBP/kWh].")
    price_max_gbp_per_kwh: float = Field(
        5.0, description="Highest plausible price [GBP/kWh] (pence are 100 times larger)."
    )
    power_max_kw: float = Field(
        100_000.0, gt=0, description="Largest plausible load or PV [kW] (100 MW)."
    )
    price_median_min_gbp_per_kwh: float = Field(
        0.005,
        ge=0,
        description="Lowest plausible median of an import or export price column [GBP/kWh] "
        "(0.5 p/kWh, about 100 times below real tariffs; an all-zero column is allowed).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> "Plausibility":
        if self.price_min_gbp_per_kwh >= self.price_max_gbp_per_kwh:
            raise ValueError(
                "plausibility.price_min_gbp_per_kwh must be below price_max_gbp_per_kwh"
            )
        return self


class RunConfig(FrozenModel):
    """How to run: step, tariff, solver, baseline."""

    timestep_min: int = Field(
        DEFAULT_TIMESTEP_MIN, gt=0, le=60, description="Step of the timeseries [min]."
    )
    tariff: Tariff = Tariff()
    solver: SolverOptions = SolverOptions()
    rolling: RollingOptions = RollingOptions()
    underwriting: Underwriting = Underwriting()
    baseline: Literal["no_battery", "self_consumption"] = Field(
        "self_consumption", description="The dispatch that savings are measured against."
    )
    plausibility: Plausibility = Plausibility()

    @field_validator("timestep_min")
    @classmethod
    def _divides_an_hour(cls, value: int) -> int:
        if 60 % value:
            raise ValueError(f"timestep_min {value} does not divide 60; use 5, 10, 15, 30 or 60")
        return value

    @model_validator(mode="after")
    def _rolling_fits_the_step(self) -> "RunConfig":
        """Rolling intervals are whole steps and a plan covers what it applies: never rounded."""
        step = self.timestep_min
        rolling = self.rolling
        horizon_min = rolling.horizon_h * 60
        for name, minutes in (
            ("reoptimise_every_min", rolling.reoptimise_every_min),
            ("horizon_h", horizon_min),
        ):
            if minutes % step:
                raise ValueError(
                    f"rolling.{name} ({minutes:g} min) is not a whole number of {step}-min steps;"
                    f" use a multiple of {step} min"
                )
        if horizon_min < rolling.reoptimise_every_min:
            raise ValueError(
                f"rolling.horizon_h ({rolling.horizon_h:g} h) is shorter than the re-plan interval"
                f" ({rolling.reoptimise_every_min} min); a plan must cover the steps it applies"
            )
        return self
