"""``gridq sim``: a simulated site served over Modbus TCP under a register map.

Simulated time runs ``speed`` times faster than the wall clock; every ``tick_s`` of wall time
the battery takes the setpoint last written to its registers, the site moves on, and every
register the map reads is rewritten. The clock register tells a controller the simulated time.
"""

import asyncio
from pathlib import Path
from typing import cast

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer

from gridq.errors import ConfigError
from gridq.io.files import read_config
from gridq.live.registers import from_gridq, raw_from_registers, to_gridq
from gridq.live.sim import SiteSimulator
from gridq.schemas.devices import WRITTEN, RegisterMap, RegisterPoint

DEFAULT_MAP = Path(__file__).parent / "maps" / "gridq_sim.yaml"
TICK_S = 0.02
"""Wall seconds between the simulator's updates."""
SERVED_SCALE_FACTOR = 0
"""The exponent a simulated SunSpec scale-factor register holds."""
_FUNCTION_CODE = {"holding": 3, "input": 4}


def read_map(path: Path | None) -> RegisterMap:
    """The register map at ``path``, or the simulator's own."""
    return read_config(DEFAULT_MAP if path is None else path, RegisterMap)


class ServedSite:
    """A :class:`SiteSimulator`'s quantities in a Modbus datastore laid out by a register map."""

    def __init__(self, simulator: SiteSimulator, register_map: RegisterMap) -> None:
        self.simulator = simulator
        self.register_map = register_map
        top = max(
            max(point.address, point.scale_factor_address or 0) + point.words
            for point in register_map.points.values()
        )
        self.device = ModbusDeviceContext(
            hr=ModbusSequentialDataBlock(0, [0] * (top + 1)),
            ir=ModbusSequentialDataBlock(0, [0] * (top + 1)),
        )
        self.capacity_kwh = simulator.battery.battery.capacity_kwh
        self.publish()

    def _set(self, point: RegisterPoint, address: int, words: list[int]) -> None:
        self.device.setValues(_FUNCTION_CODE[point.table], address, words)

    def _scale_factor(self, point: RegisterPoint) -> int | None:
        if point.scale_factor_address is None:
            return None
        self._set(point, point.scale_factor_address, [SERVED_SCALE_FACTOR])
        return SERVED_SCALE_FACTOR

    def setpoint_kw(self) -> float:
        """The battery setpoint last written [kW, + discharging]."""
        point = self.register_map.points["battery_setpoint_kw"]
        words = cast(
            list[int],
            self.device.getValues(_FUNCTION_CODE[point.table], point.address, point.words),
        )
        return to_gridq(point, raw_from_registers(point, words), self._scale_factor(point), None)

    def publish(self) -> None:
        """Write every quantity the map reads as the simulator has it now."""
        telemetry = self.simulator.telemetry()
        for quantity, point in self.register_map.points.items():
            if quantity in WRITTEN:
                continue
            words = from_gridq(
                point, telemetry[quantity], self._scale_factor(point), self.capacity_kwh
            )
            self._set(point, point.address, words)

    def advance(self, dt_s: float) -> None:
        """Move the site on by ``dt_s`` simulated seconds under the setpoint written."""
        self.simulator.advance(self.setpoint_kw(), dt_s)
        self.publish()


async def serve(served: ServedSite, host: str, port: int, speed: float) -> None:
    """Serve ``served`` on ``host:port`` until its timeseries ends."""
    server = ModbusTcpServer(
        ModbusServerContext(devices=served.device, single=True), address=(host, port)
    )
    serving = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0.1)
    if serving.done() and serving.exception() is not None:
        raise ConfigError(
            f"cannot serve on {host}:{port} ({serving.exception()}); choose another --port"
        )
    loop = asyncio.get_running_loop()
    last = loop.time()
    try:
        while served.simulator.now < served.simulator.end:
            await asyncio.sleep(TICK_S)
            now = loop.time()
            served.advance((now - last) * speed)
            last = now
    finally:
        await server.shutdown()
        serving.cancel()
