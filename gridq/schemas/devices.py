"""Device register maps: where a device keeps each quantity GridQ reads or writes, and how.

A map is YAML, one entry per quantity. A device GridQ has never seen is added by writing a
map, not code: its addresses, data types, word order, scale, unit and sign are all here, and
:mod:`gridq.live.registers` turns them into GridQ's conventions at the driver boundary.
"""

from typing import Literal

from pydantic import Field, model_validator

from gridq.schemas.base import FrozenModel

DataType = Literal["int16", "uint16", "int32", "uint32", "float32"]
Unit = Literal["W", "kW", "Wh", "kWh", "%", "s"]

QUANTITY_UNITS: dict[str, tuple[Unit, ...]] = {
    "grid_net_import_kw": ("W", "kW"),
    "pv_kw": ("W", "kW"),
    "battery_soc_kwh": ("Wh", "kWh", "%"),
    "battery_power_kw": ("W", "kW"),
    "battery_setpoint_kw": ("W", "kW"),
    "clock_unix_s": ("s",),
    "battery_charge_available_kw": ("W", "kW"),
    "battery_discharge_available_kw": ("W", "kW"),
}
"""What a map may name, with the units each may come in. In GridQ's conventions: the grid's net
import (positive importing, negative exporting), PV output, the battery's stored energy, its
power (positive discharging), its power setpoint (positive discharging, the one written) and,
on a simulator, its clock (UNIX seconds: an accelerated run keeps the simulator's time); where
the device reports them, the charge and discharge power it can take now (its own limits, which
the safety layer honours)."""
WRITTEN = ("battery_setpoint_kw",)
OPTIONAL = ("clock_unix_s", "battery_charge_available_kw", "battery_discharge_available_kw")
REQUIRED = tuple(quantity for quantity in QUANTITY_UNITS if quantity not in OPTIONAL)


class RegisterPoint(FrozenModel):
    """One quantity's registers: the raw value times ``scale`` (and ``10**sf``) is in ``unit``."""

    address: int = Field(ge=0, le=65535, description="First register (0-based protocol address).")
    table: Literal["holding", "input"] = Field("holding", description="Register table.")
    type: DataType = Field(description="How the registers hold the raw number.")
    word_order: Literal["big", "little"] = Field(
        "big", description="32-bit values: 'big' puts the high word first."
    )
    scale: float = Field(1.0, gt=0, description="Device units per raw count.")
    scale_factor_address: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="A SunSpec scale-factor register (int16 exponent, same table): the value "
        "is raw * scale * 10**sf.",
    )
    unit: Unit = Field(
        description="W or kW for powers, Wh, kWh or % for stored energy, s for a clock."
    )
    sign: Literal[1, -1] = Field(
        1, description="1 where the device's positive is GridQ's named direction, else -1."
    )

    @property
    def words(self) -> int:
        """How many 16-bit registers the value takes."""
        return 1 if self.type.endswith("16") else 2


class ControlWrite(FrozenModel):
    """One raw value written to a holding register (a control mode, a start or enable bit)."""

    address: int = Field(ge=0, le=65535, description="Holding register (0-based).")
    type: DataType = Field("uint16", description="How the registers hold the value.")
    word_order: Literal["big", "little"] = Field("big", description="32-bit values' words.")
    value: float = Field(description="The raw number written.")

    def as_point(self) -> RegisterPoint:
        """The register as a point, to encode the value."""
        return RegisterPoint(
            address=self.address, type=self.type, word_order=self.word_order, unit="kW"
        )


class FixedRegister(ControlWrite):
    """A holding register whose value says which device this is.

    SunSpec's "SunS" marker and model ids: checked when GridQ connects, so a map is never used
    on another device.
    """


class Heartbeat(FrozenModel):
    """A register the device expects written every ``every_s`` seconds (a watchdog).

    GridQ writes a counter that goes up by one each time, wrapping at 65,536.
    """

    address: int = Field(ge=0, le=65535, description="Holding register (0-based).")
    every_s: float = Field(gt=0, le=3600, description="How often, in the device's time [s].")


class Control(FrozenModel):
    """The writes that put a device under remote control and hand it back."""

    connect: tuple[ControlWrite, ...] = Field(
        (), description="Written at connect and again after every reconnect, in order."
    )
    shutdown: tuple[ControlWrite, ...] = Field(
        (), description="Written when the controller stops: local control again."
    )
    heartbeat: Heartbeat | None = Field(None, description="A watchdog register, if any.")


class RegisterMap(FrozenModel):
    """A device's register map, on one Modbus device id.

    Every quantity of ``REQUIRED`` (and any of ``OPTIONAL``), and the control writes the device
    needs.
    """

    name: str = Field(min_length=1, description="What device this map describes.")
    device_id: int = Field(1, ge=0, le=247, description="Modbus unit (device) id.")
    points: dict[str, RegisterPoint]
    control: Control = Field(default_factory=Control)  # type: ignore[arg-type]
    identity: tuple[FixedRegister, ...] = Field(
        (), description="Registers the device must hold, checked at connect (none by default)."
    )

    @model_validator(mode="after")
    def _quantities_known(self) -> "RegisterMap":
        for quantity, point in self.points.items():
            if quantity not in QUANTITY_UNITS:
                raise ValueError(
                    f"points.{quantity} is no quantity GridQ knows; use one of "
                    + ", ".join(QUANTITY_UNITS)
                )
            if point.unit not in QUANTITY_UNITS[quantity]:
                raise ValueError(
                    f"points.{quantity}.unit {point.unit} does not fit it; use one of "
                    + ", ".join(QUANTITY_UNITS[quantity])
                )
            if quantity in WRITTEN and point.table != "holding":
                raise ValueError(
                    f"points.{quantity} is written, so it must be in the holding table"
                )
        missing = [quantity for quantity in REQUIRED if quantity not in self.points]
        if missing:
            raise ValueError("points lacks " + ", ".join(missing) + "; map every one")
        return self
