"""A device behind Modbus TCP, read and written through its register map."""

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from gridq.errors import ConfigError, DeviceError
from gridq.live.registers import from_gridq, raw_from_registers, registers_from_raw, to_gridq
from gridq.schemas.devices import WRITTEN, RegisterMap, RegisterPoint

MAX_READ = 125
"""Most registers one Modbus read may ask for."""
_SCALE_FACTOR = RegisterPoint(address=0, type="int16", unit="kW")
"""How a SunSpec scale-factor register is read: one signed word, an exponent of ten."""


@dataclass
class ModbusDevice:
    """The device at ``host:port`` as ``register_map`` describes it, in GridQ's conventions.

    ``capacity_kwh`` converts a stored energy the device gives in %. Use as a context manager;
    every failure is a :class:`DeviceError` naming the device and the register.
    """

    register_map: RegisterMap
    host: str
    port: int
    capacity_kwh: float | None = None
    timeout_s: float = 1.0
    _client: Any = field(init=False, default=None)

    def __enter__(self) -> "ModbusDevice":
        self._client = ModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s)
        if not self._client.connect():
            raise DeviceError(f"{self._where()}: no answer; is the device (or gridq sim) up?")
        self._check_identity()
        return self

    def _check_identity(self) -> None:
        """Refuse a device whose identity registers are not the map's: another device."""
        for fixed in self.register_map.identity:
            point = fixed.as_point()
            # Words, not values: SunSpec's end marker 0xFFFF reads as "not implemented".
            try:
                held: list[int] | str = self._registers("holding", point.address, point.words)
            except DeviceError as error:
                if "refused" not in str(error):
                    raise  # no answer: the connection, not the device, is at fault
                held = "nothing (the read was refused)"
            if held != registers_from_raw(point, fixed.value):
                self._client.close()
                raise ConfigError(
                    f"{self._where()}: register {fixed.address} holds {held}, the map "
                    f"{self.register_map.name} expects {fixed.value:g}; this is another device "
                    "(or its models are in another order): write a map for it"
                )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._client.close()

    def reconnect(self) -> None:
        """Open the connection again after the device dropped it."""
        self._client.close()
        if not self._client.connect():
            raise DeviceError(f"{self._where()}: no answer; is the device (or gridq sim) up?")

    def read(self) -> dict[str, float]:
        """Every quantity the map reads, in GridQ's units and signs.

        Each table's registers come in one request where they fit in one (125 registers):
        one snapshot, so the meter, PV and battery balance, and one round trip.
        """
        words = self._snapshot()
        values = {}
        for quantity, point in self.register_map.points.items():
            if quantity in WRITTEN:
                continue
            scale_factor = None
            if point.scale_factor_address is not None:
                raw_sf = raw_from_registers(
                    _SCALE_FACTOR, self._words(words, point, point.scale_factor_address, 1)
                )
                scale_factor = int(raw_sf)
            values[quantity] = to_gridq(
                point,
                raw_from_registers(point, self._words(words, point, point.address, point.words)),
                scale_factor,
                self.capacity_kwh,
            )
        return values

    def _snapshot(self) -> dict[str, tuple[int, list[int]]]:
        """The read registers of each table that spans at most ``MAX_READ`` words.

        By table: the first address and the words from there.
        """
        spans: dict[str, tuple[int, int]] = {}
        for quantity, point in self.register_map.points.items():
            if quantity in WRITTEN:
                continue
            addresses = [point.address, point.address + point.words]
            if point.scale_factor_address is not None:
                addresses += [point.scale_factor_address, point.scale_factor_address + 1]
            low, high = spans.get(point.table, (min(addresses), max(addresses)))
            spans[point.table] = (min(low, *addresses), max(high, *addresses))
        return {
            table: (low, self._registers(table, low, high - low))
            for table, (low, high) in spans.items()
            if high - low <= MAX_READ
        }

    def _words(
        self,
        snapshot: dict[str, tuple[int, list[int]]],
        point: RegisterPoint,
        address: int,
        count: int,
    ) -> list[int]:
        if point.table in snapshot:
            first, words = snapshot[point.table]
            return words[address - first : address - first + count]
        return self._registers(point.table, address, count)

    def write_setpoint(self, battery_kw: float) -> None:
        """Ask the battery for ``battery_kw`` (positive discharging)."""
        point = self.register_map.points["battery_setpoint_kw"]
        words = from_gridq(point, battery_kw, self._scale_factor(point))
        self._write_words(point.address, words, "the setpoint")

    def take_control(self) -> None:
        """Write the map's connect writes: the device under remote control."""
        for write in self.register_map.control.connect:
            self._write_raw(write.as_point(), write.value, "a control write")

    def give_back_control(self) -> None:
        """Write the map's shutdown writes: the device under its own control again."""
        for write in self.register_map.control.shutdown:
            self._write_raw(write.as_point(), write.value, "a control write")

    def beat(self, count: int) -> None:
        """Write heartbeat ``count`` (wrapped to 16 bits) to the map's heartbeat register."""
        heartbeat = self.register_map.control.heartbeat
        if heartbeat is not None:
            point = RegisterPoint(address=heartbeat.address, type="uint16", unit="kW")
            self._write_raw(point, count % 65536, "the heartbeat")

    def _write_raw(self, point: RegisterPoint, raw: float, what: str) -> None:
        self._write_words(point.address, registers_from_raw(point, raw), what)

    def _write_words(self, address: int, words: list[int], what: str) -> None:
        try:
            answer = self._client.write_registers(
                address, words, device_id=self.register_map.device_id
            )
        except (ModbusException, OSError) as error:
            raise DeviceError(f"{self._where()}: writing register {address}: {error}") from None
        if answer.isError():
            raise DeviceError(f"{self._where()}: register {address} refused {what}")

    def _scale_factor(self, point: RegisterPoint) -> int | None:
        if point.scale_factor_address is None:
            return None
        words = self._registers(point.table, point.scale_factor_address, 1)
        return int(raw_from_registers(_SCALE_FACTOR, words))

    def _registers(self, table: str, address: int, count: int) -> list[int]:
        read = (
            self._client.read_holding_registers
            if table == "holding"
            else self._client.read_input_registers
        )
        try:
            answer = read(address, count=count, device_id=self.register_map.device_id)
        except (ModbusException, OSError) as error:
            raise DeviceError(f"{self._where()}: reading register {address}: {error}") from None
        if answer.isError():
            raise DeviceError(f"{self._where()}: register {address} ({table}) refused a read")
        return list(answer.registers)

    def _where(self) -> str:
        return f"device {self.register_map.name} at {self.host}:{self.port}"
