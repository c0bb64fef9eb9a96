"""Register maps and the Modbus driver: by hand, and against a real Modbus TCP server."""

import math

import pytest

from gridq.errors import ConfigError, DeviceError, InputError
from gridq.io.files import parse_model
from gridq.live.modbus import ModbusDevice
from gridq.live.registers import (
    from_gridq,
    no_value_registers,
    raw_from_registers,
    registers_from_raw,
    to_gridq,
)
from gridq.schemas.devices import RegisterMap, RegisterPoint
from tests.live.conftest import _free_port


@pytest.mark.parametrize(
    ("kind", "order", "raw", "words"),
    [
        ("int32", "big", 123456, [0x0001, 0xE240]),  # 123456 = 0x0001E240
        ("int32", "little", 123456, [0xE240, 0x0001]),
        ("int32", "big", -2, [0xFFFF, 0xFFFE]),
        ("uint32", "big", 70000, [0x0001, 0x1170]),
        ("int16", "big", -5, [0xFFFB]),
        ("uint16", "big", 40000, [40000]),
        ("float32", "big", 1.5, [0x3FC0, 0x0000]),
        ("float32", "little", 1.5, [0x0000, 0x3FC0]),
    ],
)
def test_raw_numbers_and_registers_by_hand(kind, order, raw, words):
    point = RegisterPoint(address=0, type=kind, word_order=order, unit="kW")
    assert registers_from_raw(point, raw) == words
    assert raw_from_registers(point, words) == raw


@pytest.mark.parametrize(
    ("point", "raw", "scale_factor", "gridq"),
    [
        # 12345 counts of 0.1 W, the device's positive being export: -1.2345 kW of import.
        (dict(type="int32", scale=0.1, unit="W", sign=-1), 12345, None, -1.2345),
        # SunSpec: 5000 counts times 10**-2 kW.
        (dict(type="int16", unit="kW", scale_factor_address=9), 5000, -2, 50.0),
        # 50.0% of a 13.5 kWh battery.
        (dict(type="uint16", scale=0.1, unit="%"), 500, None, 6.75),
        (dict(type="uint32", unit="Wh"), 6750, None, 6.75),
    ],
)
def test_device_units_and_signs_become_gridqs_by_hand(point, raw, scale_factor, gridq):
    register_point = RegisterPoint(address=0, **point)
    assert to_gridq(register_point, raw, scale_factor, 13.5) == pytest.approx(gridq)


def test_a_setpoint_is_written_in_the_devices_units_and_sign():
    # 2.5 kW discharging to a device counting charging positive in 10 W steps: -250 counts.
    point = RegisterPoint(address=0, type="int16", scale=10.0, unit="W", sign=-1)
    assert from_gridq(point, 2.5, None) == [65536 - 250]


@pytest.mark.parametrize("value", [math.nan, math.inf, 400.0])
def test_a_setpoint_the_registers_cannot_hold_is_refused(value):
    # 400 kW in watts does not fit an int16: refused, never wrapped around.
    point = RegisterPoint(address=7, type="int16", unit="W")
    with pytest.raises(InputError):
        from_gridq(point, value, None)


NATIVE = {
    "name": "native",
    "points": {
        "grid_net_import_kw": {
            "address": 0,
            "table": "input",
            "type": "int32",
            "scale": 0.001,
            "unit": "kW",
        },
        "pv_kw": {"address": 2, "table": "input", "type": "int32", "scale": 0.001, "unit": "kW"},
        "battery_soc_kwh": {
            "address": 4,
            "table": "input",
            "type": "int32",
            "scale": 0.001,
            "unit": "kWh",
        },
        "battery_power_kw": {
            "address": 6,
            "table": "input",
            "type": "int32",
            "scale": 0.001,
            "unit": "kW",
        },
        "battery_setpoint_kw": {"address": 0, "type": "int32", "scale": 0.001, "unit": "kW"},
    },
}
ALIEN = {
    "name": "alien",
    "device_id": 1,
    "points": {
        # Watts, little word order, export counted positive.
        "grid_net_import_kw": {
            "address": 100,
            "table": "holding",
            "type": "int32",
            "word_order": "little",
            "unit": "W",
            "sign": -1,
        },
        # SunSpec scale factor in register 120.
        "pv_kw": {
            "address": 110,
            "table": "holding",
            "type": "uint16",
            "unit": "W",
            "scale_factor_address": 120,
        },
        "battery_soc_kwh": {
            "address": 130,
            "table": "holding",
            "type": "uint16",
            "scale": 0.01,
            "unit": "%",
        },
        # Charging counted positive, float watts.
        "battery_power_kw": {
            "address": 140,
            "table": "holding",
            "type": "float32",
            "unit": "W",
            "sign": -1,
        },
        "battery_setpoint_kw": {
            "address": 150,
            "type": "float32",
            "word_order": "little",
            "unit": "W",
            "sign": -1,
        },
    },
}


def _serve(served, register_map: RegisterMap, state: dict[str, float], capacity_kwh: float):
    """Set the server's registers so that ``register_map`` reads ``state``."""
    for quantity, value in state.items():
        point = register_map.points[quantity]
        scale_factor = None
        if point.scale_factor_address is not None:
            scale_factor = 1  # a SunSpec device reporting in tens of watts
            served.set(point.table, point.scale_factor_address, [scale_factor])
        served.set(point.table, point.address, from_gridq(point, value, scale_factor, capacity_kwh))


@pytest.mark.parametrize("layout", [NATIVE, ALIEN])
def test_the_driver_reads_and_writes_a_real_device_in_gridqs_conventions(modbus_server, layout):
    register_map = parse_model(RegisterMap, layout)
    state = {
        "grid_net_import_kw": -3.25,
        "pv_kw": 8.4,
        "battery_soc_kwh": 6.75,
        "battery_power_kw": -2.5,
    }
    _serve(modbus_server, register_map, state, 13.5)
    with ModbusDevice(register_map, "127.0.0.1", modbus_server.port, capacity_kwh=13.5) as device:
        read = device.read()
        device.write_setpoint(1.75)
    assert read == pytest.approx(state, abs=1e-3)
    point = register_map.points["battery_setpoint_kw"]
    written = modbus_server.get(point.table, point.address, point.words)
    assert raw_from_registers(point, written) * point.scale * point.sign == pytest.approx(
        1.75 if point.unit == "kW" else 1750.0
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"points": {**NATIVE["points"], "soc": NATIVE["points"]["pv_kw"]}}, "points.soc"),
        ({"points": {k: v for k, v in NATIVE["points"].items() if k != "pv_kw"}}, "pv_kw"),
        (
            {"points": {**NATIVE["points"], "pv_kw": {**NATIVE["points"]["pv_kw"], "unit": "%"}}},
            "points.pv_kw.unit",
        ),
        (
            {
                "points": {
                    **NATIVE["points"],
                    "battery_setpoint_kw": {
                        **NATIVE["points"]["battery_setpoint_kw"],
                        "table": "input",
                    },
                }
            },
            "holding",
        ),
    ],
)
def test_a_bad_map_names_the_point_and_the_fix(change, named):
    with pytest.raises(ConfigError, match=named):
        parse_model(RegisterMap, {**NATIVE, **change})


def test_a_device_that_does_not_answer_is_one_line():
    register_map = parse_model(RegisterMap, NATIVE)
    with pytest.raises(DeviceError, match="no answer") as raised:
        ModbusDevice(register_map, "127.0.0.1", _free_port(), timeout_s=0.5).__enter__()
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("int16", [0x8000]),
        ("uint16", [0xFFFF]),
        ("int32", [0x8000, 0x0000]),
        ("uint32", [0xFFFF, 0xFFFF]),
        ("float32", [0x7FC0, 0x0000]),
    ],
)
def test_sunspecs_not_implemented_values_read_as_nan(kind, words):
    point = RegisterPoint(address=0, type=kind, unit="kW")
    assert math.isnan(raw_from_registers(point, words))
    assert no_value_registers(point) == words
