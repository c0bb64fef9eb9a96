"""Pydantic models of underwriting: the battery's ageing, finance and the uncertainty drawn.

Fractions are 0-1 (``_frac``); money GBP.
"""

from pydantic import Field, field_validator

from gridq.schemas.base import Fraction, FrozenModel


class CycleLifePoint(FrozenModel):
    """How many cycles of one depth a battery lasts until its end-of-life SOH."""

    depth_of_discharge_frac: float = Field(gt=0, le=1, description="Cycle depth, in (0, 1].")
    cycles_to_end_of_life: float = Field(gt=0, description="Cycles of that depth to end of life.")


# A lithium iron phosphate cell to 70% SOH, in the range of published datasheets.
DEFAULT_CYCLE_LIFE = (
    CycleLifePoint(depth_of_discharge_frac=0.1, cycles_to_end_of_life=60000),
    CycleLifePoint(depth_of_discharge_frac=0.3, cycles_to_end_of_life=15000),
    CycleLifePoint(depth_of_discharge_frac=0.5, cycles_to_end_of_life=8000),
    CycleLifePoint(depth_of_discharge_frac=0.8, cycles_to_end_of_life=5000),
    CycleLifePoint(depth_of_discharge_frac=1.0, cycles_to_end_of_life=4000),
)


class Degradation(FrozenModel):
    """Cycle ageing (rainflow against a depth vs cycle-life curve) plus calendar ageing."""

    cycle_life: tuple[CycleLifePoint, ...] = Field(
        DEFAULT_CYCLE_LIFE,
        min_length=1,
        description="Cycle life by depth of discharge; interpolated log-log, extrapolated "
        "along the end segments.",
    )
    end_of_life_soh_frac: float = Field(
        0.7, gt=0, lt=1, description="SOH that the cycle-life curve counts cycles to."
    )
    calendar_fade_frac_per_year: Fraction = Field(
        0.01, description="SOH lost per year at 50% average SOC, cycling aside."
    )
    calendar_fade_per_soc_frac: float = Field(
        0.0,
        ge=0,
        description="Extra SOH lost per year per unit of average SOC above 50% (less below).",
    )

    @field_validator("cycle_life")
    @classmethod
    def _increasing_depths(cls, points: tuple[CycleLifePoint, ...]) -> tuple[CycleLifePoint, ...]:
        depths = [point.depth_of_discharge_frac for point in points]
        if depths != sorted(set(depths)):
            raise ValueError(
                "list cycle_life points by strictly increasing depth_of_discharge_frac"
            )
        return points


class UnderwritingUncertainty(FrozenModel):
    """How ``gridq underwrite`` draws the lives whose P10/P50/P90 it reports.

    Each drawn life takes a weather year in turn and, seeded, its own tariff escalation and
    load growth (normal about the central values), ageing rate (log-normal about 1), and that
    weather year's PV yield and load level (normal about 1, drawn once per weather year).
    """

    scenarios: int = Field(
        12, ge=1, le=1000, description="Lives drawn for P10/P50/P90 (the reference aside)."
    )
    tariff_escalation_sd_frac_per_year: float = Field(
        0.01, ge=0, le=0.5, description="Standard deviation of the yearly tariff escalation."
    )
    load_growth_sd_frac_per_year: float = Field(
        0.01, ge=0, le=0.5, description="Standard deviation of the yearly load growth."
    )
    ageing_sd_frac: float = Field(
        0.2,
        ge=0,
        le=2,
        description="Log-normal spread of the ageing rate (cycle and calendar fade together).",
    )
    pv_yield_sd_frac: float = Field(
        0.05, ge=0, le=0.5, description="Standard deviation of a weather year's PV yield."
    )
    load_level_sd_frac: float = Field(
        0.03, ge=0, le=0.5, description="Standard deviation of a weather year's load level."
    )


class Underwriting(FrozenModel):
    """Project finance and lifetime assumptions for ``gridq underwrite``."""

    life_years: int = Field(10, ge=1, le=40, description="Project life [years].")
    capex_gbp_per_kwh: float = Field(250.0, ge=0, description="Capex per kWh of capacity.")
    capex_gbp_per_kw: float = Field(80.0, ge=0, description="Capex per kW of power.")
    capex_fixed_gbp: float = Field(0.0, ge=0, description="Capex independent of size.")
    fixed_opex_gbp_per_year: float = Field(0.0, ge=0, description="Operating cost per year.")
    discount_rate_frac: float = Field(0.08, gt=-1, le=1, description="Yearly discount rate.")
    tariff_escalation_frac_per_year: float = Field(
        0.02, gt=-1, le=1, description="Yearly growth of every tariff rate and price."
    )
    replacement_soh_frac: float = Field(
        0.7, ge=0, lt=1, description="Replace the battery once its SOH falls below this."
    )
    replacement_cost_gbp_per_kwh: float = Field(
        150.0, ge=0, description="Cost per kWh of nameplate capacity of a replacement."
    )
    residual_value_frac: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of a replacement's cost the battery is worth at the end of the "
        "project, pro rata to its health left above replacement_soh_frac (0: no residual).",
    )
    weather_years: int = Field(
        1,
        ge=1,
        le=100,
        description="Load/PV years: the bundle's, plus seeded variants that reshuffle its days "
        "within four-week blocks and scale its PV yield and load level.",
    )
    load_growth_frac_per_year: float = Field(
        0.0, gt=-1, le=1, description="Yearly growth of the site's load (PV stays)."
    )
    seed: int = Field(0, description="Seed of the weather-year variants and drawn lives.")
    degradation: Degradation = Degradation()
    uncertainty: UnderwritingUncertainty = UnderwritingUncertainty()
