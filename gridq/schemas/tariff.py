"""The declarative tariff: what a site pays, as its supplier's documents state it.

Bands are written on the local clock (``local_timezone``, default Europe/London) by day type and
months, so they stay right on clock-change days. Rates are GBP; a cost is positive when money
leaves the site. :mod:`gridq.engine.tariff` compiles a tariff into per-step arrays.
"""

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import (
    AwareDatetime,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from gridq.conventions import DEFAULT_LOCAL_TIMEZONE
from gridq.schemas.base import FrozenModel

MINUTES_PER_DAY = 24 * 60
ALL_MONTHS = tuple(range(1, 13))
DayType = Literal["all", "weekdays", "weekends"]
ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]
Name = Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9_]+$")]


def clock_minutes(clock: str) -> int:
    """Minutes after local midnight of ``"HH:MM"`` (``"24:00"`` is 1440)."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class Window(FrozenModel):
    """A daily window on the local clock; ``end_local`` is exclusive and may pass midnight."""

    start_local: ClockTime = "00:00"
    end_local: ClockTime = "24:00"
    days: DayType = "all"
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] = ALL_MONTHS

    @model_validator(mode="after")
    def _not_empty(self) -> "Window":
        if clock_minutes(self.start_local) % MINUTES_PER_DAY == clock_minutes(self.end_local) % (
            MINUTES_PER_DAY
        ) and (self.start_local, self.end_local) != ("00:00", "24:00"):
            raise ValueError(
                f"window {self.start_local}-{self.end_local} is empty; use 00:00-24:00 for all day"
            )
        return self

    def minute_ranges(self) -> list[tuple[int, int]]:
        """The window as [start, end) minute ranges within one day."""
        start, end = clock_minutes(self.start_local), clock_minutes(self.end_local)
        return [(start, end)] if start < end else [(start, MINUTES_PER_DAY), (0, end)]


class Band(Window):
    """A unit rate that applies in a daily window [GBP/kWh]."""

    name: Name
    rate_gbp_per_kwh: float = Field(ge=0, description="[GBP/kWh], not negative.")


class Bands(FrozenModel):
    """Unit rates by band; on every day of every month the bands cover 24 h exactly once."""

    bands: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _cover_each_day_once(self) -> "Bands":
        for month in ALL_MONTHS:
            for day_type in ("weekdays", "weekends"):
                bands = [
                    band
                    for band in self.bands
                    if month in band.months and band.days in ("all", day_type)
                ]
                # Per minute of the day, how many of the bands cover it.
                cover = np.zeros((len(bands), MINUTES_PER_DAY), dtype=bool)
                for row, band in enumerate(bands):
                    for start, end in band.minute_ranges():
                        cover[row, start:end] = True
                counts = cover.sum(axis=0)
                wrong = np.flatnonzero(counts != 1)
                if not len(wrong):
                    continue
                minute = int(wrong[0])
                clock = f"{minute // 60:02d}:{minute % 60:02d}"
                if counts[minute] == 0:
                    raise ValueError(
                        f"no band covers {clock} on {day_type} in month {month}; bands must "
                        "cover every minute of every day"
                    )
                first, second = (bands[row].name for row in np.flatnonzero(cover[:, minute])[:2])
                raise ValueError(
                    f"bands {first!r} and {second!r} overlap at {clock} on "
                    f"{day_type} in month {month}; each minute needs exactly one band"
                )
        return self


class FlatRate(FrozenModel):
    """One unit rate at every step [GBP/kWh]."""

    rate_gbp_per_kwh: float = Field(ge=0)


def _rates_kind(value: object) -> str:
    if isinstance(value, str):
        return "timeseries"
    if isinstance(value, Bands) or (isinstance(value, dict) and "bands" in value):
        return "bands"
    return "flat"


UnitRates = Annotated[
    Annotated[Literal["timeseries"], Tag("timeseries")]
    | Annotated[FlatRate, Tag("flat")]
    | Annotated[Bands, Tag("bands")],
    Discriminator(_rates_kind),
]
"""Unit rates: ``timeseries`` (the bundle's price column), ``{rate_gbp_per_kwh: x}`` or
``{bands: [...]}``."""


class Capacity(FrozenModel):
    """A UK DUoS capacity charge on the agreed import capacity, and the excess charge."""

    agreed_kva: float = Field(gt=0, description="Agreed import capacity [kVA].")
    rate_gbp_per_kva_per_day: float = Field(ge=0)
    excess_rate_gbp_per_kva_per_day: float = Field(
        ge=0, description="Per kVA of the month's peak above the agreed capacity, per day."
    )
    power_factor: float = Field(0.95, gt=0, le=1, description="kVA = kW / power_factor.")


class Duos(FrozenModel):
    """UK distribution use of system charges."""

    unit_bands: Bands | None = Field(
        None, description="Red/amber/green unit rates, added to the energy rate of each step."
    )
    fixed_gbp_per_day: float = Field(0.0, ge=0)
    capacity: Capacity | None = None


class Triads(FrozenModel):
    """UK TNUoS triads: a charge on the average import over the triad half-hours."""

    periods_start_utc: tuple[AwareDatetime, ...] = Field(min_length=1)
    period_min: int = Field(30, gt=0)
    rate_gbp_per_kw: float = Field(ge=0)
    credit_export: bool = Field(False, description="Net export over the periods earns the rate.")


class Ratchet(FrozenModel):
    """Billing demand is at least ``fraction`` of the highest peak of the previous months."""

    fraction: float = Field(gt=0, le=1)
    months: int = Field(gt=0, description="How many previous months count.")
    history_kw: dict[str, float] = Field(
        default_factory=dict, description="Peaks before the run, by 'YYYY-MM' [kW]."
    )

    @field_validator("history_kw")
    @classmethod
    def _months_are_dated(cls, history: dict[str, float]) -> dict[str, float]:
        for month, peak_kw in history.items():
            try:
                datetime.strptime(month, "%Y-%m")
            except ValueError:
                raise ValueError(f"history month {month!r} is not 'YYYY-MM'") from None
            if peak_kw < 0:
                raise ValueError(f"history peak {peak_kw} kW for {month} is negative")
        return history


class DemandCharge(Window):
    """A charge on each calendar month's highest import within a daily window."""

    name: Name
    rate_gbp_per_kw: float = Field(ge=0, description="[GBP/kW per month].")
    averaging_min: int | None = Field(
        None,
        gt=0,
        le=60,
        description="Demand is the average import over clock-aligned "
        "intervals of this length (e.g. 30); default the data's own step.",
    )
    partial_blocks: Literal["mean_of_present", "not_billed"] = Field(
        "mean_of_present",
        description="An averaging interval that the run starts or ends inside: "
        "'mean_of_present' bills the mean import of its steps in the run; 'not_billed' "
        "(EMHASS's convention) leaves it out.",
    )
    ratchet: Ratchet | None = None


class CoincidentPeak(FrozenModel):
    """A charge on the highest import during given event periods."""

    name: Name
    rate_gbp_per_kw: float = Field(ge=0)
    periods_utc: tuple[tuple[AwareDatetime, AwareDatetime], ...] = Field(
        min_length=1, description="(start, end) pairs, end exclusive."
    )


class FlexibilityEvent(FrozenModel):
    """Pay for import reduced below a declared baseline during an event (e.g. a DFS event)."""

    name: Name
    start_utc: AwareDatetime
    end_utc: AwareDatetime
    baseline_import_kw: float = Field(ge=0)
    price_gbp_per_kwh: float = Field(ge=0)


class GridRules(FrozenModel):
    """Rules of the connection or the export agreement."""

    no_battery_export: bool = Field(False, description="Export only PV surplus over load.")
    charge_from_pv_only: bool = Field(False, description="Charge only from PV surplus.")
    no_grid_to_battery_to_grid: bool = Field(
        False, description="Energy the battery took from the grid never goes back to it."
    )


BANK_HOLIDAY_REGIONS = {
    "england_and_wales": "ENG",
    "scotland": "SCT",
    "northern_ireland": "NIR",
}
"""Bank-holiday regions and their subdivision of the United Kingdom in ``holidays``."""


class Tariff(FrozenModel):
    """Everything the site pays or earns."""

    local_timezone: str = Field(DEFAULT_LOCAL_TIMEZONE)
    bank_holidays: Literal["england_and_wales", "scotland", "northern_ireland", "none"] = Field(
        "england_and_wales",
        description="Whose bank holidays count as weekend days: a 'weekdays' band or window "
        "does not apply on them and a 'weekends' one does; 'none' treats them as the weekdays "
        "they fall on.",
    )
    energy: UnitRates = Field("timeseries", description="Import unit rates.")
    export: UnitRates = Field("timeseries", description="Export unit rates.")
    standing_charge_gbp_per_day: float = Field(0.0, ge=0)
    duos: Duos | None = None
    triads: Triads | None = None
    demand_charges: tuple[DemandCharge, ...] = ()
    coincident_peaks: tuple[CoincidentPeak, ...] = ()
    flexibility_events: tuple[FlexibilityEvent, ...] = ()
    rules: GridRules = GridRules()

    @field_validator("local_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/London'"
            ) from None
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> "Tariff":
        names = [c.name for c in self.demand_charges] + [c.name for c in self.coincident_peaks]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"charge names repeat: {repeated}; give each its own name")
        return self
