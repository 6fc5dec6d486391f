"""Fault injection and wire time, each observed by a plain pymodbus client on real frames."""

import time

import pytest
from pymodbus.exceptions import ModbusIOException

from firmware_sim import (
    READ_REQUEST_BYTES,
    Fault,
    SimServer,
    read_reply_bytes,
    reply_latency,
    transaction_time,
)
from firmware_sim.line import crc16
from tests.sim.conftest import CLIENT_TIMEOUT_S, meters_of, rtu_client, tcp_client

SERIAL_AT = (0, 2)  # the generic model's serial register: address, count


def _client(sim, timeout=CLIENT_TIMEOUT_S, **kwargs):
    return tcp_client(sim, timeout) if sim.transport == "tcp" else rtu_client(sim, timeout,
                                                                               **kwargs)


def _read_serial(client, unit):
    return client.read_holding_registers(SERIAL_AT[0], count=SERIAL_AT[1], device_id=unit)


@pytest.fixture(params=["tcp", "rtu"])
def sim(request, clock, generic):
    with SimServer(meters_of(generic, clock, (1, 2)), transport=request.param, seed=7) as server:
        yield server


class _Wire:
    """Records the raw bytes a client receives (pymodbus' trace_packet hook)."""

    def __init__(self):
        self.received = b""

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self.received = data
        return data


def test_no_reply_makes_the_read_time_out(sim):
    sim.set_faults(2, Fault("no_reply"))
    client = _client(sim)
    try:
        with pytest.raises(ModbusIOException, match="No response"):
            _read_serial(client, 2)
    finally:
        client.close()


def test_a_fault_hits_only_its_own_unit(sim):
    sim.set_faults(2, Fault("no_reply"))
    client = _client(sim)
    try:
        assert _read_serial(client, 1).registers == [40_000_001 >> 16, 40_000_001 & 0xFFFF]
    finally:
        client.close()


def test_an_exception_fault_answers_its_code(sim):
    sim.set_faults(1, Fault("exception", code=0x06))
    client = _client(sim)
    try:
        response = _read_serial(client, 1)
    finally:
        client.close()
    assert response.isError()
    assert (response.function_code, response.exception_code) == (0x83, 0x06)


def test_a_crc_fault_sends_the_reply_with_a_wrong_crc_and_the_read_fails(clock, generic):
    wire = _Wire()
    with SimServer.rtu(meters_of(generic, clock, (1,)), faults={1: [Fault("crc")]}) as sim:
        client = rtu_client(sim, CLIENT_TIMEOUT_S, trace_packet=wire)
        try:
            with pytest.raises(ModbusIOException):
                _read_serial(client, 1)
        finally:
            client.close()
    frame = wire.received
    assert frame[:3] == bytes((1, 3, 4)) and len(frame) == read_reply_bytes(2)
    assert crc16(frame[:-2]) != frame[-2:]


def test_a_crc_fault_behind_a_tcp_gateway_answers_gateway_target_failed(clock, generic):
    with SimServer.tcp(meters_of(generic, clock, (1,)), faults={1: [Fault("crc")]}) as sim:
        client = tcp_client(sim)
        try:
            response = _read_serial(client, 1)
        finally:
            client.close()
    assert response.isError() and response.exception_code == 0x0B


def test_a_garbage_fault_sends_bytes_that_are_no_reply(clock, generic):
    wire = _Wire()
    with SimServer.rtu(meters_of(generic, clock, (1,)), faults={1: [Fault("garbage")]}) as sim:
        client = rtu_client(sim, CLIENT_TIMEOUT_S, trace_packet=wire)
        try:
            with pytest.raises(ModbusIOException):
                _read_serial(client, 1)
        finally:
            client.close()
    assert len(wire.received) == read_reply_bytes(2)
    assert crc16(wire.received[:-2]) != wire.received[-2:]


def test_a_garbage_fault_on_tcp_makes_the_read_fail(clock, generic):
    with SimServer.tcp(meters_of(generic, clock, (1,)), faults={1: [Fault("garbage")]}) as sim:
        client = tcp_client(sim, CLIENT_TIMEOUT_S)
        try:
            with pytest.raises(ModbusIOException):
                _read_serial(client, 1)
        finally:
            client.close()


def test_a_slow_reply_arrives_no_sooner_than_its_delay(sim):
    sim.set_faults(1, Fault("slow", delay_s=0.15))
    client = _client(sim, timeout=2.0)
    try:
        started = time.monotonic()
        response = _read_serial(client, 1)
        elapsed = time.monotonic() - started
    finally:
        client.close()
    assert not response.isError()
    assert elapsed >= 0.15


def test_a_reply_slower_than_the_client_timeout_is_a_timeout(sim):
    sim.set_faults(1, Fault("slow", delay_s=CLIENT_TIMEOUT_S * 3))
    client = _client(sim)
    try:
        with pytest.raises(ModbusIOException):
            _read_serial(client, 1)
    finally:
        client.close()


def test_faults_switch_on_and_off_while_the_server_runs(sim):
    client = _client(sim)
    try:
        assert not _read_serial(client, 1).isError()
        sim.set_faults(1, Fault("exception", code=0x04))
        assert _read_serial(client, 1).exception_code == 0x04
        sim.clear_faults(1)
        assert not _read_serial(client, 1).isError()
    finally:
        client.close()


def _pattern(clock, generic, seed):
    faults = {1: [Fault("exception", probability=0.5, code=0x06)]}
    with SimServer.tcp(meters_of(generic, clock, (1,)), faults=faults, seed=seed) as sim:
        client = tcp_client(sim)
        try:
            return [_read_serial(client, 1).isError() for _ in range(24)]
        finally:
            client.close()


def test_a_probabilistic_fault_repeats_its_pattern_with_the_seed(clock, generic):
    first = _pattern(clock, generic, seed=11)
    assert 0 < sum(first) < len(first)
    assert _pattern(clock, generic, seed=11) == first
    assert _pattern(clock, generic, seed=12) != first


def test_wire_time_delays_each_reply_by_at_least_the_frames_time_on_the_line(clock, generic):
    count = 26  # the generic model's energy block
    least = reply_latency(READ_REQUEST_BYTES, read_reply_bytes(count), 9600)
    with SimServer.rtu(meters_of(generic, clock, (1,)), baudrate=9600) as sim:
        client = rtu_client(sim)
        try:
            for _ in range(3):
                started = time.monotonic()
                response = client.read_holding_registers(16, count=count, device_id=1)
                assert time.monotonic() - started >= least
                assert not response.isError()
        finally:
            client.close()


def test_wire_time_behind_a_tcp_gateway_delays_the_reply_too(clock, generic):
    least = reply_latency(READ_REQUEST_BYTES, read_reply_bytes(2), 4800)
    with SimServer.tcp(meters_of(generic, clock, (1,)), baudrate=4800) as sim:
        client = tcp_client(sim)
        try:
            started = time.monotonic()
            assert not _read_serial(client, 1).isError()
            assert time.monotonic() - started >= least
        finally:
            client.close()


def test_the_wire_time_of_a_read_is_11_bit_characters_and_3_5_character_silences():
    # 8-byte request, 25-byte reply at 9600 baud: 33 characters of 11 bits, plus the silence
    # after the request (and, for the line's timetable, the one after the reply).
    char = 11 / 9600
    assert reply_latency(8, 25, 9600) == pytest.approx(33 * char + 3.5 * char)
    assert transaction_time(8, 25, 9600) == pytest.approx(33 * char + 7 * char)
    assert transaction_time(8, 25, 115200) == pytest.approx(33 * 11 / 115200 + 2 * 0.00175)
