"""The SunSpec preset: a register map built from pysunspec2's model definitions.

A SunSpec device holds "SunS" at its base address, then its models one after another, each
its id, its length and its points. GridQ reads the grid meter (model 203, ``W``, import
positive), the PV inverter (103, ``W``), the battery inverter's AC power (701, ``W``,
generation positive: discharging) and the storage's state of charge (713, ``SoC`` in %), and
writes the battery inverter's active power setting (704, ``WSet``, enabled in watts at
connect, disabled at shutdown). Every address and scale-factor register comes from
pysunspec2's definitions of those models in the order given; the base, the "SunS" marker
and each model's id and length are checked when GridQ connects, so the preset is never
used on a device laid out otherwise. Write it out (``gridq live sunspec-map``) to change a
sign or the order.
"""

from pathlib import Path
from typing import Any

from sunspec2.device import Model

from gridq.errors import ConfigError
from gridq.io.files import parse_model, write_bytes, yaml_bytes
from gridq.schemas.devices import RegisterMap

SUNSPEC_BASE = 40000
"""The holding register of the "SunS" marker on most devices (0-based)."""
MARKER = (0x5375, 0x6E53)
"""The "SunS" marker's two registers."""
END = 0xFFFF
"""The model id that ends a device's models."""
DEFAULT_MODELS = (1, 203, 103, 701, 713, 704)
"""Common, meter, PV inverter, battery inverter's measurements, storage, its controls."""
POINTS: dict[str, tuple[int, str, str]] = {
    "grid_net_import_kw": (203, "W", "W"),
    "pv_kw": (103, "W", "W"),
    "battery_power_kw": (701, "W", "W"),
    "battery_soc_kwh": (713, "SoC", "%"),
    "battery_setpoint_kw": (704, "WSet", "W"),
}
"""GridQ's quantity: (model, point, unit). SunSpec's signs are GridQ's: a meter's power is
positive importing, a DER's positive generating (a battery discharging)."""
_TYPES = {"int16", "uint16", "int32", "uint32", "float32"}


def sunspec_map(
    models: tuple[int, ...] = DEFAULT_MODELS,
    base: int = SUNSPEC_BASE,
    device_id: int = 1,
    clock_address: int | None = None,
) -> dict[str, Any]:
    """The register map (as ``live.yaml``'s device map reads it) of a device with ``models``.

    ``clock_address`` adds a clock (a uint32 of UNIX seconds, outside SunSpec's models: the
    simulator's, for accelerated runs); a real device has none and its time is the wall's.
    """
    missing = sorted({model for model, _, _ in POINTS.values()} - set(models))
    if missing:
        raise ConfigError(
            f"SunSpec models {missing} are needed (meter 203, PV 103, battery 701, 713, 704); "
            "add them to the device's models"
        )
    starts: dict[int, tuple[int, Model]] = {}
    identity: list[dict[str, Any]] = [
        {"address": base + i, "value": word} for i, word in enumerate(MARKER)
    ]
    address = base + len(MARKER)
    for number in models:
        try:
            model = Model(number)
        except Exception:  # noqa: BLE001 - pysunspec2 raises its own kinds for an unknown id
            raise ConfigError(
                f"SunSpec model {number} is not in pysunspec2's definitions; check --models"
            ) from None
        starts[number] = (address, model)
        identity += [
            {"address": address, "value": number},
            {"address": address + 1, "value": model.len - 2},
        ]
        address += model.len
    identity.append({"address": address, "value": END})
    points = {}
    for quantity, (number, name, unit) in POINTS.items():
        start, model = starts[number]
        point = model.points[name]
        kind = point.pdef["type"]
        if kind not in _TYPES:
            raise ConfigError(f"SunSpec point {number}.{name} is a {kind}; GridQ cannot read it")
        entry: dict[str, Any] = {"address": start + point.offset, "type": kind, "unit": unit}
        scale_factor = point.pdef.get("sf")
        if scale_factor:
            entry["scale_factor_address"] = start + model.points[scale_factor].offset
        points[quantity] = entry
    if clock_address is not None:
        points["clock_unix_s"] = {"address": clock_address, "type": "uint32", "unit": "s"}
    controls_start, controls = starts[704]

    def setting(name: str, value: int) -> dict[str, Any]:
        return {"address": controls_start + controls.points[name].offset, "value": value}

    return {
        "name": "SunSpec " + "-".join(str(number) for number in models),
        "device_id": device_id,
        "points": points,
        "control": {
            # Active power setting in watts (WSetMod 1), enabled (WSetEna 1); disabled at the end.
            "connect": [setting("WSetMod", 1), setting("WSetEna", 1)],
            "shutdown": [setting("WSetEna", 0)],
        },
        "identity": identity,
    }


def sunspec_register_map(**options: Any) -> RegisterMap:
    """:func:`sunspec_map`, checked as any register map is."""
    return parse_model(RegisterMap, sunspec_map(**options))


def write_sunspec_map(out: Path, **options: Any) -> None:
    """Write :func:`sunspec_map` as a register map YAML at ``out``, to read or edit."""
    register_map = sunspec_register_map(**options)
    write_bytes(out, yaml_bytes(register_map.model_dump(mode="json")))
