"""How a real file is laid out: its time columns and clock, and the column of readings.

Presets name the layouts of common exports; a mapping file (YAML, ``name: layout``) adds more.
"""

from typing import Literal

from pydantic import Field, model_validator

from gridq.schemas.base import FrozenModel

Unit = Literal["kWh", "Wh", "kW", "W", "GBP/kWh", "p/kWh", "GBP/MWh"]
ENERGY_UNITS = ("kWh", "Wh", "kW", "W")
PRICE_UNITS = ("GBP/kWh", "p/kWh", "GBP/MWh")


class FileLayout(FrozenModel):
    """Where a file keeps its times and readings.

    Times are one column of timestamps (``time_column``), or a date and a UK settlement period
    1-48 (46 or 50 on clock-change days; ``date_column`` and ``period_column``).
    """

    time_column: str | None = None
    date_column: str | None = None
    period_column: str | None = None
    time_zone: str = Field(
        "UTC", description="The clock of timestamps without an offset, and of settlement dates."
    )
    stamps: Literal["start", "end"] = Field(
        "start", description="Whether a timestamp marks its interval's start or end."
    )
    value_column: str
    unit: Unit

    @model_validator(mode="after")
    def _one_way_of_time(self) -> "FileLayout":
        by_period = self.date_column is not None and self.period_column is not None
        if (self.time_column is None) == (not by_period):
            raise ValueError("give time_column, or date_column and period_column (not both)")
        if by_period and self.stamps == "end":
            raise ValueError("settlement periods are numbered by their start; drop stamps: end")
        return self


class ForecastLayout(FrozenModel):
    """Where a forecast file keeps each vintage: when it was issued, the steps, load and PV."""

    issued_column: str
    time_column: str
    time_zone: str = Field("UTC", description="The clock of timestamps without an offset.")
    stamps: Literal["start", "end"] = "start"
    load_column: str | None = None
    pv_column: str | None = None
    unit: Literal["kWh", "Wh", "kW", "W"] = "kW"

    @model_validator(mode="after")
    def _some_series(self) -> "ForecastLayout":
        if self.load_column is None and self.pv_column is None:
            raise ValueError("a forecast layout needs load_column or pv_column")
        return self


FORECAST_PRESETS: dict[str, ForecastLayout] = {
    # One row per vintage and step: UTC times with an offset, mean kW.
    "forecast_vintages_kw": ForecastLayout(
        issued_column="issued_at", time_column="timestamp", load_column="load_kw", pv_column="pv_kw"
    ),
}

PRESETS: dict[str, FileLayout] = {
    # A supplier's half-hourly consumption export: a local date, the settlement period, kWh.
    "supplier_hh_kwh": FileLayout(
        date_column="Date",
        period_column="Period",
        time_zone="Europe/London",
        value_column="Consumption (kWh)",
        unit="kWh",
    ),
    # A half-hourly price file: UTC interval starts with an offset, pence per kWh inc. VAT.
    "hh_prices_p_per_kwh": FileLayout(
        time_column="valid_from", value_column="value_inc_vat", unit="p/kWh"
    ),
    # A PV inverter's export: local timestamps at each interval's end, mean power in W.
    "inverter_power_w": FileLayout(
        time_column="Time",
        time_zone="Europe/London",
        stamps="end",
        value_column="Power (W)",
        unit="W",
    ),
}
