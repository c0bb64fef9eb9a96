"""Register values to GridQ's quantities and back: the only place device units and signs live.

A point's raw number is read from its registers by data type and word order; times its scale
(and a SunSpec scale factor, ``10**sf``) it is in the device's unit; converted to kW or kWh and
multiplied by its sign it is in GridQ's convention (:mod:`gridq.schemas.devices`). Writing goes
the same way backwards, and a value the registers cannot hold is refused, never wrapped.
"""

import math
import struct

from gridq.errors import InputError
from gridq.schemas.devices import RegisterPoint

_FORMATS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}
_TO_GRIDQ = {"W": 1e-3, "kW": 1.0, "Wh": 1e-3, "kWh": 1.0, "s": 1.0}


_NOT_IMPLEMENTED = {
    "int16": -0x8000,
    "uint16": 0xFFFF,
    "int32": -0x80000000,
    "uint32": 0xFFFFFFFF,
}
"""SunSpec's "not implemented" value of each integer type: read as NaN, a value with none."""


def raw_from_registers(point: RegisterPoint, registers: list[int]) -> float:
    """The raw number ``registers`` (16-bit words, as read) hold for ``point``; NaN for none."""
    words = list(registers[: point.words])
    if point.word_order == "little":
        words.reverse()
    data = b"".join(word.to_bytes(2, "big") for word in words)
    raw = struct.unpack(_FORMATS[point.type], data)[0]
    return math.nan if raw == _NOT_IMPLEMENTED.get(point.type) else float(raw)


def no_value_registers(point: RegisterPoint) -> list[int]:
    """The registers that say ``point`` has no value: NaN, or SunSpec's "not implemented"."""
    return registers_from_raw(point, _NOT_IMPLEMENTED.get(point.type, math.nan))


def registers_from_raw(point: RegisterPoint, raw: float) -> list[int]:
    """The 16-bit words to write for ``raw``; an integer type takes the nearest integer."""
    value: float | int = raw if point.type == "float32" else round(raw)
    try:
        data = struct.pack(_FORMATS[point.type], value)
    except struct.error as error:
        raise InputError(f"{raw:g} does not fit a {point.type} register ({error})") from None
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return words[::-1] if point.word_order == "little" else words


def device_units_per_raw(point: RegisterPoint, scale_factor: int | None) -> float:
    """What one raw count is worth in the device's unit."""
    return point.scale * (10.0**scale_factor if scale_factor is not None else 1.0)


def _gridq_per_device_unit(point: RegisterPoint, capacity_kwh: float | None) -> float:
    if point.unit != "%":
        return _TO_GRIDQ[point.unit]
    if capacity_kwh is None:
        raise InputError("a stored energy in % needs the battery's capacity_kwh")
    return capacity_kwh / 100.0


def to_gridq(
    point: RegisterPoint, raw: float, scale_factor: int | None, capacity_kwh: float | None
) -> float:
    """``point``'s raw number in GridQ's units (kW, kWh) and sign."""
    device_value = raw * device_units_per_raw(point, scale_factor)
    return point.sign * device_value * _gridq_per_device_unit(point, capacity_kwh)


def from_gridq(
    point: RegisterPoint, value: float, scale_factor: int | None, capacity_kwh: float | None = None
) -> list[int]:
    """The registers that hold ``value`` (GridQ's units and sign) for ``point``."""
    if not math.isfinite(value):
        raise InputError(f"refusing to write {value} to register {point.address}")
    device_value = point.sign * value / _gridq_per_device_unit(point, capacity_kwh)
    return registers_from_raw(point, device_value / device_units_per_raw(point, scale_factor))
