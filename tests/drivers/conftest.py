"""Real Modbus peers for the transport tests: a pymodbus server on TCP or on a pty pair.

``MeterServer`` serves one register image per unit id with a pymodbus datastore; a unit can be told
to stay silent or to answer with an exception code. ``NullModem`` joins two pseudo-terminals like a
serial cable, so a pymodbus RTU server and ``rtu_bus`` exchange real RTU frames, and it can damage,
drop, replace or delay the next reply on the wire. (The full simulator with its fault injection lives
in ``firmware_sim``; these fixtures only give the transport something real to talk to.)
"""

from __future__ import annotations

import asyncio
import os
import socket
import tomllib
import tty
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice
from pymodbus.simulator.simutils import DataType

from drivers import ReadPlan, load_profile

FIXTURES = Path(__file__).parent / "fixtures"
T = TypeVar("T")

Image = dict[tuple[int, int], int]  # (function code, address) -> word


def golden_image(model: str, case: str = "reading") -> tuple[Image, dict]:
    """A model's golden-vector registers, with the bridged gaps of its read plan filled with 0."""
    data = tomllib.loads((FIXTURES / model / f"{case}.toml").read_text(encoding="utf-8"))
    image: Image = {}
    for entry in data["registers"]:
        for offset, word in enumerate(entry["words"]):
            image[(entry["function"], entry["address"] + offset)] = word
    for block in ReadPlan.for_map(load_profile(model)).blocks:
        for address in range(block.address, block.address + block.count):
            image.setdefault((block.function, address), 0)
    return image, data


@dataclass
class Unit:
    """One meter behind the server: its registers, the requests it saw, and how it misbehaves."""

    image: Image
    requests: list[tuple[int, int, int]] = field(default_factory=list)
    silent: bool = False
    exception: ExcCodes | None = None


class MeterServer:
    """A pymodbus server for several units; ``units[unit_id]`` can be changed while it runs."""

    def __init__(self, images: dict[int, Image]) -> None:
        self.units = {unit_id: Unit(image) for unit_id, image in images.items()}
        self._release = asyncio.Event()  # silent units wait for this, set at shutdown

    def devices(self) -> list[SimDevice]:
        return [SimDevice(id=unit_id, simdata=self._blocks(unit.image),
                          action=self._action_for(unit_id))
                for unit_id, unit in self.units.items()]

    @staticmethod
    def _blocks(image: Image) -> tuple[list[SimData], ...]:
        by_function: dict[int, list[SimData]] = {3: [], 4: []}
        for function in (3, 4):
            addresses = sorted(a for f, a in image if f == function)
            run: list[int] = []
            for address in addresses:
                if run and address != run[-1] + 1:
                    by_function[function].append(_registers(run, image, function))
                    run = []
                run.append(address)
            if run:
                by_function[function].append(_registers(run, image, function))
        bits = [SimData(0, values=False, datatype=DataType.BITS)]
        return (bits, list(bits), by_function[3] or [_registers([0], {(3, 0): 0}, 3)],
                by_function[4] or [_registers([0], {(4, 0): 0}, 4)])

    def _action_for(self, unit_id: int):
        async def action(function: int, _start: int, address: int, count: int,
                         _registers: list[int], _values: object) -> ExcCodes | None:
            unit = self.units[unit_id]
            unit.requests.append((function, address, count))
            if unit.silent:
                await self._release.wait()
            return unit.exception
        return action

    def release(self) -> None:
        self._release.set()


def _registers(run: list[int], image: Image, function: int) -> SimData:
    return SimData(run[0], values=[image[(function, a)] for a in run],
                   datatype=DataType.REGISTERS)


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NullModem:
    """Two ptys whose master ends are copied into each other: a cable between two serial ports.

    ``fail_next(kind)`` arms a fault for the reply to the next request: ``corrupt`` flips the last
    byte (the CRC), ``garbage`` replaces the reply with noise, ``drop`` swallows it, ``late`` holds
    it back and delivers it just before the following reply (a slow meter answering into the
    next unit's turn).
    """

    def __init__(self) -> None:
        self._server_master, server_slave = os.openpty()
        self._client_master, client_slave = os.openpty()
        self._slaves = (server_slave, client_slave)  # kept open so the masters never see EIO
        for fd in self._slaves:
            tty.setraw(fd)
        for fd in (self._server_master, self._client_master):
            os.set_blocking(fd, False)
        self.server_port = os.ttyname(server_slave)
        self.client_port = os.ttyname(client_slave)
        self._armed: list[str] = []
        self._active: str | None = None
        self._held = b""

    def fail_next(self, kind: str) -> None:
        assert kind in ("corrupt", "garbage", "drop", "late")
        self._armed.append(kind)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self._client_master, self._from_client)
        loop.add_reader(self._server_master, self._from_server)

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in (self._client_master, self._server_master):
            loop.remove_reader(fd)
            os.close(fd)
        for fd in self._slaves:
            os.close(fd)

    def _from_client(self) -> None:
        data = os.read(self._client_master, 4096)
        self._active = self._armed.pop(0) if self._armed else None
        os.write(self._server_master, data)

    def _from_server(self) -> None:
        data = os.read(self._server_master, 4096)
        if self._active == "drop":
            return
        if self._active == "late":
            self._held += data
            return
        if self._active == "corrupt":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        elif self._active == "garbage":
            data = bytes([0x5A, 0xA5, 0x00, 0xFF, 0x13, 0x37, 0xC0, 0xDE])
        os.write(self._client_master, self._held + data)
        self._held = b""


def run(scenario: Coroutine[Any, Any, T], timeout_s: float = 20.0) -> T:
    """Run one test scenario in a fresh event loop, bounded so a hang fails instead of blocking."""
    return asyncio.run(asyncio.wait_for(scenario, timeout_s))


@asynccontextmanager
async def tcp_server(images: dict[int, Image],
                     port: int | None = None) -> AsyncIterator[tuple[MeterServer, int]]:
    """A pymodbus TCP server for one register image per unit id on 127.0.0.1 (a free port)."""
    meters = MeterServer(images)
    port = port or free_tcp_port()
    server = ModbusTcpServer(meters.devices(), address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    try:
        yield meters, port
    finally:
        meters.release()
        await server.shutdown()


@asynccontextmanager
async def rtu_line(images: dict[int, Image]) -> AsyncIterator[tuple[MeterServer, NullModem]]:
    """A pymodbus RTU server for one image per unit id at one end of a null modem.

    The bus under test connects to ``modem.client_port``.
    """
    meters = MeterServer(images)
    modem = NullModem()
    modem.start()
    server = ModbusSerialServer(meters.devices(), port=modem.server_port, baudrate=9600)
    await server.serve_forever(background=True)
    try:
        yield meters, modem
    finally:
        meters.release()
        await server.shutdown()
        modem.close()


# The helpers above, handed to tests as fixtures (test modules do not import conftest).
@pytest.fixture
def serve_tcp() -> Callable[..., Any]:
    return tcp_server


@pytest.fixture
def serve_rtu() -> Callable[..., Any]:
    return rtu_line


@pytest.fixture
def golden() -> Callable[..., tuple[Image, dict]]:
    return golden_image


@pytest.fixture
def unused_tcp_port() -> int:
    return free_tcp_port()


@pytest.fixture
def scenario() -> Callable[..., Any]:
    return run
