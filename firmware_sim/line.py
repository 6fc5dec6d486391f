"""The wire between a reader and the simulated meters: where timing and damaged frames happen.

The pymodbus server answers every request at once and correctly; this layer sits in front of it
and makes the answer look like one from a real bus. It works on whole frames and knows only what
a frame says about itself (unit id, function code, length), so the two transports share it:

* RTU: two pseudo-terminals. A pty pair has a single device path (the slave end) and the
  pymodbus serial server must open a path too, so the reader gets the slave of one pty
  (``device``), the server the slave of another, and a bridge copies frames between the two
  master ends. The bridge is also where the RS-485 line is emulated.
* TCP: a gateway listening on the public port that forwards each connection to the pymodbus
  TCP server on a private loopback port, as a Modbus TCP→RTU gateway fronts its meters.

Line emulation (``Line``) follows the Modbus serial line spec: a character is ``bits_per_char``
bits (11: start, 8 data, parity or a second stop bit, stop), frames are separated by 3.5
characters of silence (a fixed 1.75 ms above 19200 baud), and the half-duplex line carries one
frame at a time. A reply therefore reaches the reader no sooner than request time + 3.5
characters + reply time after the request was written. The meter computes its answer while the
request is still "on the wire", so the simulator adds no latency of its own to that bound.

Faults (``firmware_sim.faults``) are drawn per request: a silent meter's request is not passed
on, an exception reply is made here, and garbage, a bad CRC or a delay are applied to the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tty
from collections import deque
from typing import Collection

from firmware_sim.faults import GATEWAY_TARGET_FAILED, FaultBoard, Outcome

READ_REQUEST_BYTES = 8  # unit, function, address (2), count (2), CRC (2)
_MAX_RTU_FRAME = 256
_MAX_MBAP_LENGTH = 254  # unit id + PDU of at most 253 bytes
_CLOSE_TIMEOUT_S = 2.0
_MAX_PENDING = 8


def char_time(baudrate: int, bits_per_char: int = 11) -> float:
    """Seconds one character takes on the line."""
    return bits_per_char / baudrate


def silence_time(baudrate: int, bits_per_char: int = 11) -> float:
    """The 3.5-character silence that ends a frame (fixed at 1.75 ms above 19200 baud)."""
    return 0.00175 if baudrate > 19200 else 3.5 * char_time(baudrate, bits_per_char)


def read_reply_bytes(count: int) -> int:
    """RTU bytes of the reply to a read of ``count`` registers (unit, fc, byte count, data, CRC)."""
    return 5 + 2 * count


def reply_latency(request_bytes: int, reply_bytes: int, baudrate: int,
                  bits_per_char: int = 11) -> float:
    """The least time between writing a request and holding the whole reply."""
    return ((request_bytes + reply_bytes) * char_time(baudrate, bits_per_char)
            + silence_time(baudrate, bits_per_char))


def transaction_time(request_bytes: int, reply_bytes: int, baudrate: int,
                     bits_per_char: int = 11) -> float:
    """The line time one request/reply costs a bus: both frames and the silence after each.

    The sum over a poll cycle's requests is the cycle's wire-time limit.
    """
    return ((request_bytes + reply_bytes) * char_time(baudrate, bits_per_char)
            + 2 * silence_time(baudrate, bits_per_char))


class Line:
    """A half-duplex line's timetable; ``baudrate=None`` is an ideal line with no wire time."""

    def __init__(self, baudrate: int | None, bits_per_char: int = 11) -> None:
        if baudrate is not None and (not isinstance(baudrate, int) or baudrate <= 0):
            raise ValueError(f"baudrate must be a positive integer, got {baudrate!r}")
        if not isinstance(bits_per_char, int) or not 7 <= bits_per_char <= 12:
            raise ValueError(f"bits per character must be 7..12, got {bits_per_char!r}")
        self.baudrate = baudrate
        self.bits_per_char = bits_per_char
        self._char = char_time(baudrate, bits_per_char) if baudrate else 0.0
        self._silence = silence_time(baudrate, bits_per_char) if baudrate else 0.0
        self._free = 0.0

    def carry(self, size: int, ready: float) -> float:
        """Send ``size`` bytes once the line is free and no earlier than ``ready`` (loop time);
        returns when the last byte arrives. The line then stays silent for 3.5 characters."""
        if self.baudrate is None:
            return ready
        end = max(ready, self._free) + size * self._char
        self._free = end + self._silence
        return end


def crc16(frame: bytes) -> bytes:
    """The Modbus RTU CRC of ``frame``, as the two bytes that follow it on the wire."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def rtu_frame_length(buf: bytes, *, reply: bool) -> int | None:
    """Length of the RTU frame at the start of ``buf``; ``None`` until enough bytes are there.

    Function codes the simulator does not know are taken as everything received so far, which
    is how an RTU receiver delimits frames anyway (by the silence after them).
    """
    if len(buf) < 2:
        return None
    fc = buf[1]
    size: int | None
    if reply:
        if fc & 0x80:
            size = 5
        elif fc in (1, 2, 3, 4):
            size = 5 + buf[2] if len(buf) >= 3 else None
        elif fc in (5, 6, 15, 16):
            size = 8
        else:
            size = len(buf)
    else:
        if fc in (1, 2, 3, 4, 5, 6, 8):
            size = 8
        elif fc in (15, 16):
            size = 9 + buf[6] if len(buf) >= 7 else None
        elif fc in (7, 11, 12, 17):
            size = 4
        else:
            size = len(buf)
    if size is None or len(buf) < size:
        return None
    return size


def _exception_pdu(fc: int, code: int) -> bytes:
    return bytes((fc | 0x80, code))


def _damage(frame: bytes, outcome: Outcome, board: FaultBoard, unit: int, *, rtu: bool) -> bytes:
    if outcome.damage == "garbage":
        return board.garbage(unit, len(frame))
    if outcome.damage == "crc" and rtu:
        return frame[:-2] + bytes((frame[-2] ^ 0x5A, frame[-1] ^ 0xA5))
    return frame


class RtuBridge:
    """Two ptys and the frames between them; ``device`` is the path a reader opens."""

    def __init__(self, units: Collection[int], board: FaultBoard, line: Line) -> None:
        self._units = frozenset(units)
        self._board = board
        self._line = line
        # Requests passed to the server and not yet answered: a master sends one at a time, so
        # this holds one entry but for a frame the server chose to ignore (bounded for those).
        self._pending: deque[tuple[int, Outcome]] = deque(maxlen=_MAX_PENDING)
        self._from_reader = b""
        self._from_server = b""
        self._reader_master, self._reader_slave, self.device = _open_pty()
        self._server_master, self._server_slave, self.server_device = _open_pty()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._reader_master, self._on_reader_bytes)
        self._loop.add_reader(self._server_master, self._on_server_bytes)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._reader_master)
            self._loop.remove_reader(self._server_master)
            self._loop = None
        for fd in (self._reader_master, self._reader_slave, self._server_master,
                   self._server_slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _on_reader_bytes(self) -> None:
        self._from_reader += _read(self._reader_master)
        while (size := rtu_frame_length(self._from_reader, reply=False)) is not None:
            frame, self._from_reader = self._from_reader[:size], self._from_reader[size:]
            self._request(frame)
        if len(self._from_reader) > _MAX_RTU_FRAME:  # noise on the line: no frame will come of it
            self._from_reader = b""

    def _request(self, frame: bytes) -> None:
        assert self._loop is not None
        now = self._loop.time()
        self._line.carry(len(frame), now)
        unit = frame[0]
        if unit not in self._units or crc16(frame[:-2]) != frame[-2:]:
            return  # another unit's request, or a damaged one: a meter stays silent
        outcome = self._board.draw(unit)
        if outcome.silent:
            return
        if outcome.exception is not None:
            reply = bytes((unit,)) + _exception_pdu(frame[1], outcome.exception)
            self._reply(unit, reply + crc16(reply), outcome, now)
            return
        self._pending.append((unit, outcome))
        _write(self._server_master, frame)

    def _on_server_bytes(self) -> None:
        assert self._loop is not None
        self._from_server += _read(self._server_master)
        while (size := rtu_frame_length(self._from_server, reply=True)) is not None:
            frame, self._from_server = self._from_server[:size], self._from_server[size:]
            unit = frame[0]
            self._reply(unit, frame, self._outcome_for(unit), self._loop.time())

    def _outcome_for(self, unit: int) -> Outcome:
        """The outcome drawn for the oldest request to ``unit`` that is still unanswered."""
        for index, (waiting, outcome) in enumerate(self._pending):
            if waiting == unit:
                del self._pending[index]
                return outcome
        return Outcome()

    def _reply(self, unit: int, frame: bytes, outcome: Outcome, ready: float) -> None:
        assert self._loop is not None
        frame = _damage(frame, outcome, self._board, unit, rtu=True)
        if outcome.delay_s:
            # Take the line only when the late reply is due, so it does not hold up other meters.
            self._loop.call_at(ready + outcome.delay_s, self._transmit, frame, 0.0)
        else:
            self._transmit(frame, ready)

    def _transmit(self, frame: bytes, ready: float) -> None:
        if self._loop is None:
            return  # closed while a late reply was waiting
        arrival = self._line.carry(len(frame), max(ready, self._loop.time()))
        self._loop.call_at(arrival, self._deliver, frame)

    def _deliver(self, frame: bytes) -> None:
        if self._loop is not None:  # once closed, the descriptor number may belong to another
            _write(self._reader_master, frame)


class TcpGateway:
    """The public TCP port: each connection is relayed to the pymodbus server at ``upstream``."""

    def __init__(self, units: Collection[int], board: FaultBoard, line: Line,
                 upstream: tuple[str, int]) -> None:
        self._units = frozenset(units)
        self._board = board
        self._line = line
        self._upstream = upstream
        self._server: asyncio.AbstractServer | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, host, port)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            # Cut the readers off rather than cancel their handlers: each handler then ends by
            # itself (asyncio 3.11 reports a cancelled connection handler as an error).
            for writer in self._connections.values():
                writer.transport.abort()
            if self._connections:
                await asyncio.wait(list(self._connections), timeout=_CLOSE_TIMEOUT_S)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        up_writer: asyncio.StreamWriter | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            pending: dict[bytes, tuple[int, Outcome]] = {}
            relay = asyncio.create_task(self._replies(up_reader, writer, pending))
            try:
                await self._requests(reader, writer, up_writer, pending)
            finally:
                relay.cancel()
                await asyncio.gather(relay, return_exceptions=True)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the reader or the server went away: so does the relay
        finally:
            self._connections.pop(task, None)
            for w in (writer, up_writer):
                if w is not None:
                    w.close()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        upstream: asyncio.StreamWriter,
                        pending: dict[bytes, tuple[int, Outcome]]) -> None:
        loop = asyncio.get_running_loop()
        while frame := await _mbap_frame(reader):
            now = loop.time()
            self._line.carry(len(frame) - 4, now)  # as RTU: unit, PDU, CRC
            tid, unit = frame[:2], frame[6]
            if unit not in self._units:
                continue  # nobody on the line answers this unit
            outcome = self._board.draw(unit)
            if outcome.silent:
                continue
            code = GATEWAY_TARGET_FAILED if outcome.damage == "crc" else outcome.exception
            if code is not None:
                reply = frame[:4] + (3).to_bytes(2, "big") + bytes((unit,)) \
                    + _exception_pdu(frame[7], code)
                self._reply(writer, unit, reply, Outcome(delay_s=outcome.delay_s), now)
                continue
            pending[tid] = (unit, outcome)
            upstream.write(frame)

    async def _replies(self, upstream: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       pending: dict[bytes, tuple[int, Outcome]]) -> None:
        loop = asyncio.get_running_loop()
        while frame := await _mbap_frame(upstream):
            unit, outcome = pending.pop(frame[:2], (frame[6], Outcome()))
            self._reply(writer, unit, frame, outcome, loop.time())

    def _reply(self, writer: asyncio.StreamWriter, unit: int, frame: bytes, outcome: Outcome,
               ready: float) -> None:
        loop = asyncio.get_running_loop()
        frame = _damage(frame, outcome, self._board, unit, rtu=False)

        def transmit() -> None:
            arrival = self._line.carry(len(frame) - 4, max(ready, loop.time()))
            loop.call_at(arrival, _send, writer, frame)

        if outcome.delay_s:
            loop.call_at(ready + outcome.delay_s, transmit)
        else:
            transmit()


async def _mbap_frame(reader: asyncio.StreamReader) -> bytes:
    """The next Modbus TCP frame (MBAP header and PDU), or b"" at the end of the stream."""
    try:
        header = await reader.readexactly(6)
    except asyncio.IncompleteReadError:
        return b""
    length = int.from_bytes(header[4:6], "big")
    if not 2 <= length <= _MAX_MBAP_LENGTH:
        raise ConnectionError(f"not a Modbus TCP frame (length {length})")
    return header + await reader.readexactly(length)


def _send(writer: asyncio.StreamWriter, frame: bytes) -> None:
    if not writer.is_closing():
        writer.write(frame)


def _open_pty() -> tuple[int, int, str]:
    """A raw, non-blocking pty: (master fd, slave fd, slave path).

    The simulator keeps the slave open itself, so the master never reads EIO while no reader
    has the device open.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    flags = fcntl.fcntl(master, fcntl.F_GETFL)
    fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    return master, slave, os.ttyname(slave)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except (BlockingIOError, InterruptedError):
        return b""


def _write(fd: int, frame: bytes) -> None:
    with contextlib.suppress(BlockingIOError, OSError):  # a full or closed pty: the frame is lost
        os.write(fd, frame)
