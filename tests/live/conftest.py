"""A real Modbus TCP server on localhost, its registers set and read by the test."""

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer

from tests.live.postgres import PostgresServer

HOLDING, INPUT = 3, 4
"""pymodbus's function codes for the two register tables."""


@dataclass
class Served:
    device: ModbusDeviceContext
    port: int

    def set(self, table: str, address: int, words: list[int]) -> None:
        self.device.setValues(HOLDING if table == "holding" else INPUT, address, words)

    def get(self, table: str, address: int, count: int) -> list[int]:
        return list(self.device.getValues(HOLDING if table == "holding" else INPUT, address, count))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(port: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.fixture
def modbus_server() -> Iterator[Served]:
    device = ModbusDeviceContext(
        hr=ModbusSequentialDataBlock(0, [0] * 200), ir=ModbusSequentialDataBlock(0, [0] * 200)
    )
    port = _free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, ModbusTcpServer] = {}

    async def serve() -> None:
        holder["server"] = ModbusTcpServer(
            ModbusServerContext(devices=device, single=True), address=("127.0.0.1", port)
        )
        started.set()
        await holder["server"].serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(5)
    _wait_until_listening(port)
    yield Served(device, port)
    asyncio.run_coroutine_threadsafe(holder["server"].shutdown(), loop).result(5)
    thread.join(5)
    loop.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session's tests, stopped and removed at its end."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()
