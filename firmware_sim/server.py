"""``SimServer``: virtual meters answering Modbus on one TCP port or one pseudo-terminal.

Built on pymodbus 3.16's server. Its datastores hold register arrays; a meter's registers are a
function of simulated time instead, so the server gets a store (``_LiveStore``) that computes
the words of every read when the request arrives. What sits between the server and the reader
— the pty bridge or the TCP gateway, line timing and faults — is ``firmware_sim.line``.

Use it from synchronous code (the server runs in a thread with its own event loop)::

    with SimServer.tcp({1: meter_a, 2: meter_b}) as sim:
        client = ModbusTcpClient(sim.host, port=sim.port)
    with SimServer.rtu(meters, baudrate=9600) as sim:   # wire time of a 9600 baud line
        client = ModbusSerialClient(sim.device)

or from asyncio code, in the running loop: ``async with SimServer.tcp(meters) as sim: ...``.
Faults are switched at any time, from any thread: ``sim.set_faults(2, Fault("no_reply"))``.
"""

from __future__ import annotations

import asyncio
import threading
from types import MappingProxyType, TracebackType
from typing import Literal, Mapping, Sequence

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimDevice

from drivers.errors import TransportError
from firmware_sim.faults import Fault, FaultBoard
from firmware_sim.line import Line, RtuBridge, TcpGateway
from firmware_sim.meter import VirtualMeter
from firmware_sim.registers import IllegalAddress

Transport = Literal["tcp", "rtu"]
_THREAD_START_TIMEOUT_S = 10.0


class _LiveStore(ModbusServerContext):
    """The server's datastore: register words computed from the meters at request time.

    pymodbus takes a ``ModbusServerContext`` whose ``old_simulator`` flag is set as a store it
    calls directly (``async_getValues``/``async_setValues``/``device_ids``), so this subclass
    replaces the base class's storage instead of initialising it. A unit with no meter raises
    ``NoSuchIdException``, which the server (``ignore_missing_devices``) answers with silence,
    as an absent meter on a bus does. The meters are read-only: writes get exception 01.
    """

    def __init__(self, meters: Mapping[int, VirtualMeter]) -> None:  # pylint: disable=super-init-not-called
        self.old_simulator = True
        self.simdevices: list[SimDevice] = []
        self._meters = meters

    def _meter(self, device_id: int) -> VirtualMeter:
        meter = self._meters.get(device_id)
        if meter is None:
            raise NoSuchIdException(f"no meter at unit {device_id}")
        return meter

    async def async_getValues(self, device_id: int, func_code: int, address: int,
                              count: int = 1) -> list[int] | list[bool] | ExcCodes:
        meter = self._meter(device_id)
        if func_code not in (3, 4):
            return ExcCodes.ILLEGAL_FUNCTION
        try:
            return meter.read(func_code, address, count)
        except IllegalAddress:
            return ExcCodes.ILLEGAL_ADDRESS

    async def async_setValues(self, device_id: int, func_code: int, address: int,
                              values: Sequence[int] | Sequence[bool]) -> ExcCodes | None:
        self._meter(device_id)
        return ExcCodes.ILLEGAL_FUNCTION

    def device_ids(self) -> list[int]:
        return sorted(self._meters)


class SimServer:
    """Meters by unit id (1..247) behind one port; see the module docstring for use.

    ``baudrate`` emulates the wire time of an RS-485 line at that speed (``None``: an ideal
    line). For RTU it is the line the pty stands for; for TCP it is the line behind the gateway,
    shared by all its meters. ``faults`` sets each unit's faults at start; ``seed`` seeds their
    random draws.
    """

    def __init__(self, meters: Mapping[int, VirtualMeter], *, transport: Transport,
                 host: str = "127.0.0.1", port: int = 0, baudrate: int | None = None,
                 bits_per_char: int = 11, faults: Mapping[int, Sequence[Fault]] | None = None,
                 seed: int = 0) -> None:
        if transport not in ("tcp", "rtu"):
            raise ValueError(f"transport must be 'tcp' or 'rtu', got {transport!r}")
        if not meters:
            raise ValueError("a simulator needs at least one meter")
        for unit, meter in meters.items():
            if not isinstance(unit, int) or isinstance(unit, bool) or not 1 <= unit <= 247:
                raise ValueError(f"unit ids are 1..247, got {unit!r}")
            if not isinstance(meter, VirtualMeter):
                raise TypeError(f"unit {unit}: expected a VirtualMeter, got {meter!r}")
        if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
            raise ValueError(f"port must be 0..65535, got {port!r}")
        self.transport = transport
        self._meters = dict(meters)
        self._host, self._port = host, port
        self._line = Line(baudrate, bits_per_char)
        self._board = FaultBoard(seed)
        for unit, unit_faults in (faults or {}).items():
            self.set_faults(unit, *unit_faults)
        self._device: str | None = None
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._bridge: RtuBridge | None = None
        self._gateway: TcpGateway | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None
        self._thread_error: BaseException | None = None

    @classmethod
    def tcp(cls, meters: Mapping[int, VirtualMeter], *, host: str = "127.0.0.1", port: int = 0,
            baudrate: int | None = None, bits_per_char: int = 11,
            faults: Mapping[int, Sequence[Fault]] | None = None, seed: int = 0) -> SimServer:
        """Meters behind a Modbus TCP gateway on ``host``:``port`` (0: a free port)."""
        return cls(meters, transport="tcp", host=host, port=port, baudrate=baudrate,
                   bits_per_char=bits_per_char, faults=faults, seed=seed)

    @classmethod
    def rtu(cls, meters: Mapping[int, VirtualMeter], *, baudrate: int | None = None,
            bits_per_char: int = 11, faults: Mapping[int, Sequence[Fault]] | None = None,
            seed: int = 0) -> SimServer:
        """Meters on an RS-485 bus behind a pseudo-terminal (``device``)."""
        return cls(meters, transport="rtu", baudrate=baudrate, bits_per_char=bits_per_char,
                   faults=faults, seed=seed)

    # -- what a reader needs ------------------------------------------------------------

    @property
    def meters(self) -> Mapping[int, VirtualMeter]:
        return MappingProxyType(self._meters)

    @property
    def baudrate(self) -> int | None:
        return self._line.baudrate

    @property
    def host(self) -> str:
        self._require("tcp")
        return self._host

    @property
    def port(self) -> int:
        """The TCP port, once started (the free port picked when 0 was asked for)."""
        self._require("tcp")
        return self._port

    @property
    def device(self) -> str:
        """The pty path a serial client opens, once started."""
        self._require("rtu")
        assert self._device is not None
        return self._device

    @property
    def address(self) -> str:
        """Where to connect, for people: ``host:port`` or the device path."""
        return f"{self.host}:{self.port}" if self.transport == "tcp" else self.device

    def _require(self, transport: Transport) -> None:
        if self.transport != transport:
            raise AttributeError(f"a {self.transport} simulator has no {transport} address")
        if not self._running:
            raise RuntimeError("the simulator is not running")

    # -- faults -------------------------------------------------------------------------

    def set_faults(self, unit: int, *faults: Fault) -> None:
        """Replace ``unit``'s faults (none: it behaves again); takes effect on its next request."""
        if unit not in self._meters:
            raise KeyError(f"no meter at unit {unit}")
        self._board.set(unit, faults)

    def clear_faults(self, unit: int | None = None) -> None:
        """Remove ``unit``'s faults, or every unit's."""
        self._board.clear(unit)

    def faults(self, unit: int) -> tuple[Fault, ...]:
        return self._board.faults(unit)

    # -- running in the caller's event loop ---------------------------------------------

    async def start(self) -> None:
        if self._running:
            raise RuntimeError("the simulator is already running")
        store = _LiveStore(self._meters)
        try:
            if self.transport == "tcp":
                await self._start_tcp(store)
            else:
                await self._start_rtu(store)
        except BaseException:
            await self._teardown()
            raise
        self._running = True

    async def _start_tcp(self, store: _LiveStore) -> None:
        server = ModbusTcpServer(store, address=("127.0.0.1", 0), ignore_missing_devices=True)
        self._server = server
        await server.serve_forever(background=True)
        upstream = server.transport.sockets[0].getsockname()[:2]  # type: ignore[attr-defined]
        self._gateway = TcpGateway(self._meters, self._board, self._line, upstream)
        try:
            self._host, self._port = await self._gateway.listen(self._host, self._port)
        except OSError as exc:
            raise TransportError(f"cannot listen on {self._host}:{self._port}: "
                                 f"{exc.strerror or exc}") from exc

    async def _start_rtu(self, store: _LiveStore) -> None:
        bridge = RtuBridge(self._meters, self._board, self._line)
        self._bridge = bridge
        self._server = ModbusSerialServer(store, port=bridge.server_device,
                                          baudrate=self._line.baudrate or 19200,
                                          ignore_missing_devices=True)
        await self._server.serve_forever(background=True)
        bridge.start()
        self._device = bridge.device

    async def stop(self) -> None:
        """Close the port and release the ptys; a reader sees the connection go away."""
        await self._teardown()
        self._running = False

    async def _teardown(self) -> None:
        if self._gateway is not None:
            await self._gateway.close()
            self._gateway = None
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # -- running in a thread of its own -------------------------------------------------

    def __enter__(self) -> SimServer:
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        ready = threading.Event()
        self._thread_error = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve_thread(ready),),
                                        name=f"meterlink-sim-{self.transport}", daemon=True)
        self._thread.start()
        if not ready.wait(_THREAD_START_TIMEOUT_S):
            raise RuntimeError(f"the simulator did not start within {_THREAD_START_TIMEOUT_S} s")
        if self._thread_error is not None:
            self._thread.join()
            self._thread = None
            raise self._thread_error
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._thread is not None and self._thread_loop is not None
        assert self._thread_stop is not None
        self._thread_loop.call_soon_threadsafe(self._thread_stop.set)
        self._thread.join()
        self._thread = None

    async def _serve_thread(self, ready: threading.Event) -> None:
        self._thread_loop = asyncio.get_running_loop()
        self._thread_stop = asyncio.Event()
        try:
            await self.start()
        except BaseException as exc:  # handed to the thread that called __enter__
            self._thread_error = exc
            ready.set()
            return
        ready.set()
        try:
            await self._thread_stop.wait()
        finally:
            await self.stop()

    def __repr__(self) -> str:
        where = self.address if self._running else "stopped"
        return f"SimServer({self.transport}, {where}, units {sorted(self._meters)})"
