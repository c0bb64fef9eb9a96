"""``gridq sim``: a simulated site served over Modbus TCP under a register map.

Simulated time runs ``speed`` times faster than the wall clock; every ``tick_s`` of wall time
the battery takes the setpoint last written to its registers, the site moves on, and every
register the map reads is rewritten. The clock register tells a controller the simulated time.
Served holding, the clock starts at the first setpoint written: a controller's first plan,
however long it takes, then starts the run at the first step.

Faults are injected on command, through the simulator's own registers: writing ``[kind,
seconds]`` to holding register ``FAULT_ADDRESS`` starts fault ``kind`` (``FAULTS``) for that
many simulated seconds (:func:`inject_fault` does it). ``drop`` closes every connection and
refuses new ones; ``freeze`` stops the telemetry registers changing; ``nan`` makes every
telemetry register say it has no value (NaN, or SunSpec's "not implemented"); ``slow`` answers
each request ``SLOW_ANSWER_S`` wall seconds late; ``reject`` refuses setpoint writes.
"""

import asyncio
from pathlib import Path
from typing import cast

import pandas as pd
from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer

from gridq.errors import ConfigError
from gridq.io.files import read_config
from gridq.live.registers import (
    from_gridq,
    no_value_registers,
    raw_from_registers,
    registers_from_raw,
    to_gridq,
)
from gridq.live.sim import SiteSimulator
from gridq.schemas.devices import WRITTEN, RegisterMap, RegisterPoint

DEFAULT_MAP = Path(__file__).parent / "maps" / "gridq_sim.yaml"
FAULT_ADDRESS = 65000
FAULTS = ("drop", "freeze", "nan", "slow", "reject")
"""Fault kinds by code: 1 is ``drop``, 2 ``freeze`` and so on; 0 clears a fault."""
SLOW_ANSWER_S = 2.0
HEARTBEAT_MISSED = 3
"""Heartbeats missed before the simulated battery returns to local control (idle)."""
TICK_S = 0.005
"""Wall seconds between the simulator's updates."""
SERVED_SCALE_FACTORS = {"%": -2}
"""The exponent a simulated SunSpec scale-factor register holds, by unit (0 for the others):
a state of charge to 0.01%, powers and energies to the unit (1 W, 1 Wh)."""
_FUNCTION_CODE = {"holding": 3, "input": 4}


def read_map(path: Path | None) -> RegisterMap:
    """The register map at ``path``, or the simulator's own."""
    return read_config(DEFAULT_MAP if path is None else path, RegisterMap)


def site_map(site_dir: Path, name: str) -> RegisterMap:
    """``live.yaml``'s ``device.map``: a preset (gridq_sim, sunspec) or a file in ``site_dir``."""
    if name == "gridq_sim":
        return read_map(None)
    if name == "sunspec":
        from gridq.live.sunspec import sunspec_register_map

        return sunspec_register_map()
    return read_map(site_dir / name)


class _FaultableDevice(ModbusDeviceContext):
    """A datastore whose answers the site's current fault can delay, refuse or intercept."""

    def __init__(self, site: "ServedSite", **blocks: ModbusSequentialDataBlock) -> None:
        super().__init__(**blocks)
        self.site = site

    async def async_getValues(
        self, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        if self.site.fault == "slow":
            await asyncio.sleep(SLOW_ANSWER_S)
        return self.getValues(func_code, address, count)

    async def async_setValues(
        self, func_code: int, address: int, values: list[int] | list[bool]
    ) -> None | ExcCodes:
        if self.site.fault == "slow":
            await asyncio.sleep(SLOW_ANSWER_S)
        if address == FAULT_ADDRESS and len(values) == 2:
            self.site.start_fault(int(values[0]), float(values[1]))
            return None
        setpoint = self.site.register_map.points["battery_setpoint_kw"]
        if (
            self.site.fault == "reject"
            and address < setpoint.address + setpoint.words
            and (setpoint.address < address + len(values))
        ):
            return ExcCodes.DEVICE_FAILURE
        answer = self.setValues(func_code, address, values)
        if address < setpoint.address + setpoint.words and setpoint.address < address + len(values):
            self.site.holding = False
        self.site.note_control(address, len(values))
        return answer


class ServedSite:
    """A :class:`SiteSimulator`'s quantities in a Modbus datastore laid out by a register map."""

    def __init__(
        self, simulator: SiteSimulator, register_map: RegisterMap, holding: bool = False
    ) -> None:
        self.simulator = simulator
        self.holding = holding
        self.register_map = register_map
        control = register_map.control
        top = max(
            [
                max(point.address, point.scale_factor_address or 0) + point.words
                for point in register_map.points.values()
            ]
            + [
                write.address + 2
                for write in (*control.connect, *control.shutdown, *register_map.identity)
            ]
            + ([control.heartbeat.address + 1] if control.heartbeat else [])
        )
        # A device that declares control writes follows setpoints only under remote control.
        self.remote = not control.connect
        self.last_beat = simulator.now
        self.fault: str | None = None
        self.fault_ends = simulator.now
        self.device = _FaultableDevice(
            self,
            hr=ModbusSequentialDataBlock(0, [0] * (top + 1)),
            ir=ModbusSequentialDataBlock(0, [0] * (top + 1)),
        )
        self.capacity_kwh = simulator.battery.battery.capacity_kwh
        for fixed in register_map.identity:
            point = fixed.as_point()
            self._set(point, point.address, registers_from_raw(point, fixed.value))
        self.publish()

    def start_fault(self, code: int, seconds: float) -> None:
        """Fault ``FAULTS[code - 1]`` for ``seconds`` of simulated time; code 0 clears."""
        self.fault = FAULTS[code - 1] if 1 <= code <= len(FAULTS) else None
        self.fault_ends = self.simulator.now + pd.Timedelta(seconds=seconds)

    def _set(self, point: RegisterPoint, address: int, words: list[int]) -> None:
        self.device.setValues(_FUNCTION_CODE[point.table], address, words)

    def _scale_factor(self, point: RegisterPoint) -> int | None:
        if point.scale_factor_address is None:
            return None
        exponent = SERVED_SCALE_FACTORS.get(point.unit, 0)
        self._set(point, point.scale_factor_address, [exponent % 65536])
        return exponent

    def note_control(self, address: int, count: int) -> None:
        """Follow a write: remote control while every connect write's value is in place.

        A write to the heartbeat register is a beat.
        """
        control = self.register_map.control
        heartbeat = control.heartbeat
        if heartbeat is not None and address <= heartbeat.address < address + count:
            self.last_beat = self.simulator.now
        if control.connect:
            self.remote = all(
                self._held(write.as_point()) == write.value for write in control.connect
            )

    def _held(self, point: RegisterPoint) -> float:
        words = cast(
            list[int], self.device.getValues(_FUNCTION_CODE["holding"], point.address, point.words)
        )
        return raw_from_registers(point, words)

    def following(self) -> bool:
        """Whether the battery takes the setpoint: remote control, its heartbeat in time."""
        heartbeat = self.register_map.control.heartbeat
        late = heartbeat is not None and (self.simulator.now - self.last_beat) > pd.Timedelta(
            seconds=HEARTBEAT_MISSED * heartbeat.every_s
        )
        return self.remote and not late

    def setpoint_kw(self) -> float:
        """The battery setpoint last written [kW, + discharging]."""
        point = self.register_map.points["battery_setpoint_kw"]
        words = cast(
            list[int],
            self.device.getValues(_FUNCTION_CODE[point.table], point.address, point.words),
        )
        return to_gridq(point, raw_from_registers(point, words), self._scale_factor(point), None)

    def publish(self) -> None:
        """Write every quantity the map reads as the simulator has it now (unless frozen)."""
        if self.fault == "freeze":
            return
        telemetry = self.simulator.telemetry()
        for quantity, point in self.register_map.points.items():
            if quantity in WRITTEN:
                continue
            if self.fault == "nan" and quantity != "clock_unix_s":
                words = no_value_registers(point)
            else:
                words = from_gridq(
                    point, telemetry[quantity], self._scale_factor(point), self.capacity_kwh
                )
            self._set(point, point.address, words)

    def advance(self, dt_s: float) -> None:
        """Move the site on by ``dt_s`` simulated seconds under the setpoint written.

        While ``holding`` (until the first setpoint is written) time stands still.
        """
        if self.holding:
            return
        # Under local control (or with its heartbeat missed) the battery idles.
        self.simulator.advance(self.setpoint_kw() if self.following() else 0.0, dt_s)
        if self.fault is not None and self.simulator.now >= self.fault_ends:
            self.fault = None
        self.publish()


async def _listening(served: ServedSite, host: str, port: int) -> ModbusTcpServer:
    server = ModbusTcpServer(
        ModbusServerContext(devices=served.device, single=True), address=(host, port)
    )
    # serve_forever both binds and serves; a bind that fails ends it at once.
    serving = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0.1)
    if serving.done() and serving.exception() is not None:
        raise ConfigError(
            f"cannot serve on {host}:{port} ({serving.exception()}); choose another --port"
        )
    return server


async def serve(served: ServedSite, host: str, port: int, speed: float) -> None:
    """Serve ``served`` on ``host:port`` until its timeseries ends."""
    server: ModbusTcpServer | None = await _listening(served, host, port)
    loop = asyncio.get_running_loop()
    last = loop.time()
    try:
        while served.simulator.now < served.simulator.end:
            await asyncio.sleep(TICK_S)
            now = loop.time()
            served.advance((now - last) * speed)
            last = now
            if served.fault == "drop" and server is not None:
                await server.shutdown()
                server = None
            elif served.fault != "drop" and server is None:
                server = await _listening(served, host, port)
    finally:
        if server is not None:
            await server.shutdown()


def inject_fault(host: str, port: int, kind: str | None, seconds: float) -> None:
    """Start fault ``kind`` (one of ``FAULTS``; None clears) on the simulator at ``host:port``."""
    code = 0 if kind is None else FAULTS.index(kind) + 1
    client = ModbusTcpClient(host, port=port, timeout=5)
    try:
        if not client.connect():
            raise ConfigError(f"no simulator answers at {host}:{port}; start gridq sim first")
        client.write_registers(FAULT_ADDRESS, [code, int(seconds)], device_id=1)
    finally:
        client.close()
