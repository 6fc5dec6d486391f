"""Modbus transport: register blocks from a meter over RS-485 (RTU) or a TCP gateway.

This is the only module that knows pymodbus. It turns every pymodbus outcome into the exception tree
of ``drivers.errors`` at one boundary, so the collector sees ``MeterTimeout``, ``FrameError``,
``DeviceException`` or ``TransportError``, each naming bus, unit and address, and never a pymodbus
type. The codec and the read plan know nothing of ports; this module knows nothing of tariffs.

Three pymodbus 3.16 behaviours shape it (checked against its source; the version is pinned):

* The client's own retry loop is switched off (``retries=0``): the collector's scheduler owns the one
  retry loop, and decides from ``retryable`` whether another attempt can help.
* An RTU reply with a bad CRC is dropped by the framer as if nothing had arrived, so the request
  ends in a timeout. ``Bus`` watches the bytes that arrive during a request and reports such a
  timeout as a ``FrameError`` (the meter answered, the line garbled it) rather than a dead meter.
* After ``retries + 3`` unanswered requests in a row a TCP client closes its socket: one dead unit
  behind a gateway would cut off every live one. ``Bus`` lifts that limit; a gateway that has gone
  shows up as a refused or lost connection instead (``TransportError``).
* Its RTU framer treats the whole receive buffer as used once it has found one valid frame. When a
  late reply from a meter that already timed out and the awaited reply arrive in one read, the
  awaited reply is thrown away with the stale one. ``rtu_bus`` installs ``_RtuFramer``, which
  consumes only the frame it decoded and keeps hunting past damaged bytes.

After a timeout or a garbled reply on RTU, ``Bus`` waits for the line to fall quiet and drops
whatever is left in the input buffer before the next request, so a dead or babbling meter does not
poison the reply of the next unit on the same wire.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Literal

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import (ConnectionException, ModbusException, ModbusIOException,
                                 NotImplementedException)
from pymodbus.framer import FramerRTU

from drivers.errors import (DeviceException, FrameError, MeterTimeout, TransportError,
                            ValueUnavailable)
from drivers.plan import InvalidValue, ReadPlan, Value

__all__ = ["Bus", "read_meter", "rtu_bus", "tcp_bus"]

MAX_REGISTERS = 125  # per read request (Modbus application protocol, 6.3/6.4)
# pymodbus times each request itself; ours is a backstop a little later, so that no await on the
# outside world can hang even if the library's timer did not fire.
_BACKSTOP_S = 0.25
# The line must stay quiet this long before the next request after an error. USB RS-485 adapters
# hand bytes over in bursts up to ~16 ms apart; a shorter wait could cut a garbled reply in two.
_MIN_QUIET_S = 0.02
_EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value",
    4: "server device failure", 5: "acknowledge", 6: "server device busy",
    8: "memory parity error", 10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
_GATEWAY_NO_REPLY = 11
_PARITIES = ("N", "E", "O")


class Bus:
    """One RS-485 line or one TCP gateway, with the meters behind it addressed by unit id.

    Requests on one bus are strictly sequential (a lock), as RS-485 is half-duplex and a gateway
    serves one request per connection at a time; the collector runs one task per bus.
    ``connect`` is cheap when already connected, so it can be called before every attempt.
    """

    def __init__(self, name: str, kind: Literal["rtu", "tcp"], where: str,
                 make_client: Callable[[Callable[[bool, bytes], bytes]], ModbusBaseClient],
                 *, timeout_s: float, quiet_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        self.name = name
        self.kind = kind
        self.where = where
        self.timeout_s = timeout_s
        self._make_client = make_client
        self._quiet_s = quiet_s
        self._client: ModbusBaseClient | None = None
        self._lock = asyncio.Lock()
        self._rx_seen = False  # bytes arrived since the current request was sent
        self._last_rx = 0.0  # loop time of the last byte received

    def __repr__(self) -> str:
        return f"<Bus {self.name} {self.kind} {self.where}>"

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Open the port or the TCP connection; raises ``TransportError`` if it cannot."""
        if self.connected:
            return
        if self._client is None:
            # pymodbus clients bind to the running loop when built, so build at first connect.
            self._client = self._make_client(self._trace_packet)
            # Never let pymodbus close a gateway connection because some unit does not answer.
            self._client.set_max_no_responses(2**31)
        try:
            ok = await asyncio.wait_for(self._client.connect(), self.timeout_s + _BACKSTOP_S)
        except asyncio.TimeoutError:
            ok = False
        if not ok:
            self._client.close()
            raise TransportError(f"cannot open {self.where}", bus=self.name)

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def read(self, unit: int, function: int, address: int, count: int) -> list[int]:
        """``count`` registers from ``address`` of one unit, with function 3 (holding) or 4 (input).

        Raises ``MeterTimeout``, ``FrameError``, ``DeviceException`` or ``TransportError``.
        """
        if function not in (3, 4):
            raise ValueError(f"function must be 3 or 4, got {function!r}")
        if not 1 <= count <= MAX_REGISTERS or not 0 <= address <= 0xFFFF - count + 1:
            raise ValueError(f"cannot read {count} registers from {address}")
        # RTU unit 0 is the broadcast address, which never answers; 248-255 are reserved there.
        lowest, highest = (1, 247) if self.kind == "rtu" else (0, 255)
        if not lowest <= unit <= highest:
            raise ValueError(f"unit must be {lowest}..{highest} on a {self.kind} bus, got {unit}")
        async with self._lock:
            if not self.connected:
                try:
                    await self.connect()
                except TransportError as exc:
                    raise TransportError(exc.reason, bus=self.name, unit=unit,
                                         address=address) from exc
            assert self._client is not None
            call = (self._client.read_holding_registers if function == 3
                    else self._client.read_input_registers)
            self._rx_seen = False
            try:
                # asyncio.timeout, not wait_for: no extra task per request on the hot path.
                async with asyncio.timeout(self.timeout_s + _BACKSTOP_S):
                    reply = await call(address, count=count, device_id=unit)
            except (ModbusIOException, asyncio.TimeoutError) as exc:
                raise await self._no_valid_reply(unit, address) from exc
            except ConnectionException as exc:
                raise TransportError(f"connection to {self.where} lost", bus=self.name,
                                     unit=unit, address=address) from exc
            except ModbusException as exc:
                await self._settle()
                raise FrameError(f"unreadable reply: {exc}", bus=self.name, unit=unit,
                                 address=address) from exc
        if reply.isError():
            code = int(reply.exception_code)
            text = f"exception {code} ({_EXCEPTION_NAMES.get(code, 'unknown code')})"
            if code == _GATEWAY_NO_REPLY:
                raise MeterTimeout(f"gateway reports no reply: {text}", bus=self.name, unit=unit,
                                   address=address)
            raise DeviceException(text, code=code, bus=self.name, unit=unit, address=address)
        registers = list(reply.registers)
        if len(registers) != count:
            raise FrameError(f"asked for {count} registers, got {len(registers)}", bus=self.name,
                             unit=unit, address=address)
        return registers

    async def _no_valid_reply(self, unit: int,
                              address: int) -> TransportError | FrameError | MeterTimeout:
        """The error for a request that got no usable reply in time, after cleaning the line."""
        if not self.connected:
            return TransportError(f"connection to {self.where} lost", bus=self.name, unit=unit,
                                  address=address)
        garbled = self._rx_seen
        await self._settle()
        if garbled:
            return FrameError("reply garbled (bad CRC, wrong unit or incomplete)", bus=self.name,
                              unit=unit, address=address)
        return MeterTimeout(f"no reply within {self.timeout_s:g} s", bus=self.name, unit=unit,
                            address=address)

    async def _settle(self) -> None:
        """Let a late or garbled RTU reply run out, then drop it, so the next unit starts clean."""
        if self.kind != "rtu" or self._client is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while (quiet := loop.time() - self._last_rx) < self._quiet_s and loop.time() < deadline:
            await asyncio.sleep(self._quiet_s - quiet)
        # pymodbus 3.16 has no public flush: ctx is its transaction manager, transport.sync_serial
        # the pyserial port underneath (both checked against the pinned version's source).
        ctx = self._client.ctx
        port = getattr(ctx.transport, "sync_serial", None)
        if port is not None:
            port.reset_input_buffer()
        ctx.recv_buffer = b""

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        """pymodbus hook on every packet sent and every chunk received; passes data through."""
        if not sending:
            self._rx_seen = True
            self._last_rx = asyncio.get_running_loop().time()
        return data


class _RtuFramer(FramerRTU):
    """pymodbus's RTU framer, except that a decoded frame consumes only its own bytes.

    Bytes that cannot start a frame, or a frame whose CRC does not match, are skipped one at a time,
    so a reply that follows stale or damaged bytes in the same read is still found. A frame from
    another unit is decoded here and skipped by the caller (``FramerBase.handleFrame``).
    """

    def decode(self, data: bytes) -> tuple[int, int, int, bytes]:
        for start in range(len(data)):
            if len(data) - start < self.MIN_SIZE:
                break
            candidate = data[start:]
            pdu_class = self.decoder.lookupPduClass(candidate)
            if pdu_class is None:
                continue
            try:
                size = pdu_class.calculateRtuFrameSize(candidate)
            except NotImplementedException:
                continue
            if not size or len(candidate) < size:
                return 0, 0, 0, self.EMPTY  # wait for the rest of the frame
            crc = int.from_bytes(candidate[size - 2:size], "big")
            if not self.check_CRC(candidate[:size - 2], crc):
                continue
            return start + size, candidate[0], 0, candidate[1:size - 2]
        return 0, 0, 0, self.EMPTY


def rtu_bus(name: str, port: str, *, baudrate: int = 9600, parity: str = "N", stopbits: int = 1,
            bytesize: int = 8, timeout_s: float = 1.0) -> Bus:
    """An RS-485 line on a serial port (``/dev/ttyUSB0``, a pty, …), Modbus RTU framing."""
    if baudrate <= 0 or parity not in _PARITIES or stopbits not in (1, 2) or bytesize not in (7, 8):
        raise ValueError(f"bad serial settings {baudrate} {bytesize}{parity}{stopbits}")
    bits_per_char = 1 + bytesize + (parity != "N") + stopbits
    quiet_s = max(3.5 * bits_per_char / baudrate, _MIN_QUIET_S)

    def make(trace: Callable[[bool, bytes], bytes]) -> ModbusBaseClient:
        client = AsyncModbusSerialClient(port, baudrate=baudrate, parity=parity,
                                         stopbits=stopbits, bytesize=bytesize, timeout=timeout_s,
                                         retries=0, reconnect_delay=0, name=name,
                                         trace_packet=trace)
        client.ctx.framer = _RtuFramer(client.ctx.framer.decoder)
        return client

    return Bus(name, "rtu", f"serial port {port}", make, timeout_s=timeout_s, quiet_s=quiet_s)


def tcp_bus(name: str, host: str, port: int = 502, *, timeout_s: float = 1.0) -> Bus:
    """A Modbus TCP device or gateway; several unit ids may sit behind one address."""

    def make(trace: Callable[[bool, bytes], bytes]) -> ModbusBaseClient:
        return AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0,
                                    reconnect_delay=0, name=name, trace_packet=trace)

    return Bus(name, "tcp", f"{host}:{port}", make, timeout_s=timeout_s, quiet_s=0.0)


async def read_meter(bus: Bus, unit: int, plan: ReadPlan) -> dict[str, Value]:
    """One poll of one meter: one request per block of the plan, in order, then decoded values.

    Raises what ``Bus.read`` raises, or ``ValueUnavailable`` (not retryable) when a register holds
    NaN or the model's "not available" marker.
    """
    replies = [await bus.read(unit, block.function, block.address, block.count)
               for block in plan.blocks]
    try:
        return plan.decode(replies)
    except InvalidValue as exc:
        raise ValueUnavailable(str(exc), quantity=exc.register.quantity, bus=bus.name, unit=unit,
                               address=exc.register.address) from exc
