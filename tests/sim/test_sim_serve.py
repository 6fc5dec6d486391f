"""The Modbus slave: every shipped profile, many units on one port, over TCP and over a pty."""

import asyncio
from datetime import timedelta

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from drivers import list_profiles, load_profile
from drivers.errors import TransportError
from firmware_sim import SimServer
from tests.sim.conftest import (
    CLIENT_TIMEOUT_S,
    meters_of,
    read_meter,
    rtu_client,
    tcp_client,
)

UNITS = (1, 2, 17, 247)


def _expected(meter):
    """The meter's values with floats compared approximately (they went through f32 or a scale)."""
    return {q: pytest.approx(v) if isinstance(v, float) else v for q, v in meter.values().items()}


@pytest.mark.parametrize("model", list_profiles())
def test_every_profile_reads_back_over_tcp_for_many_units_on_one_port(model, clock):
    regmap = load_profile(model)
    meters = meters_of(regmap, clock, UNITS)
    clock.advance(timedelta(days=1, minutes=7))
    with SimServer.tcp(meters) as sim:
        client = tcp_client(sim)
        try:
            for unit in UNITS:
                assert read_meter(client, regmap, unit) == _expected(meters[unit])
        finally:
            client.close()


@pytest.mark.parametrize("model", list_profiles())
def test_every_profile_reads_back_over_the_pty_for_many_units_on_one_bus(model, clock):
    regmap = load_profile(model)
    meters = meters_of(regmap, clock, UNITS)
    clock.advance(timedelta(days=1, minutes=7))
    with SimServer.rtu(meters) as sim:
        client = rtu_client(sim)
        try:
            for unit in UNITS:
                assert read_meter(client, regmap, unit) == _expected(meters[unit])
        finally:
            client.close()


def test_registers_move_with_the_meter_clock_between_requests(clock, generic):
    meters = meters_of(generic, clock, (5,))
    with SimServer.tcp(meters) as sim:
        client = tcp_client(sim)
        try:
            before = read_meter(client, generic, 5)["energy.import.total"]
            clock.advance(timedelta(hours=2))
            after = read_meter(client, generic, 5)["energy.import.total"]
        finally:
            client.close()
    assert after - before == meters[5].state().total_wh - before > 0


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
def test_a_unit_without_a_meter_stays_silent(transport, clock, generic):
    with SimServer(meters_of(generic, clock, (1,)), transport=transport) as sim:
        client = tcp_client(sim, CLIENT_TIMEOUT_S) if transport == "tcp" \
            else rtu_client(sim, CLIENT_TIMEOUT_S)
        try:
            with pytest.raises(ModbusIOException):
                client.read_holding_registers(16, count=4, device_id=2)
            assert not client.read_holding_registers(16, count=4, device_id=1).isError()
        finally:
            client.close()


def test_a_read_outside_the_register_map_gets_exception_02(clock, generic):
    with SimServer.tcp(meters_of(generic, clock, (1,))) as sim:
        client = tcp_client(sim)
        try:
            response = client.read_input_registers(16, count=4, device_id=1)
        finally:
            client.close()
    assert response.isError() and response.exception_code == 0x02


def test_a_write_gets_exception_01_because_meters_are_read_only(clock, generic):
    with SimServer.tcp(meters_of(generic, clock, (1,))) as sim:
        client = tcp_client(sim)
        try:
            response = client.write_register(16, 0, device_id=1)
        finally:
            client.close()
    assert response.isError() and response.exception_code == 0x01


def test_the_async_api_serves_in_the_running_loop(clock, generic):
    meters = meters_of(generic, clock, (3, 4))

    async def scenario():
        async with SimServer.tcp(meters) as sim:
            client = AsyncModbusTcpClient(sim.host, port=sim.port, timeout=2, retries=0)
            await client.connect()
            try:
                return [(await client.read_holding_registers(0, count=2, device_id=u)).registers
                        for u in (3, 4)]
            finally:
                client.close()

    assert asyncio.run(scenario()) == [[40_000_003 >> 16, 40_000_003 & 0xFFFF],
                                       [40_000_004 >> 16, 40_000_004 & 0xFFFF]]


def test_a_busy_port_is_a_transport_error(clock, generic):
    meters = meters_of(generic, clock, (1,))
    with SimServer.tcp(meters) as first:
        with pytest.raises(TransportError, match=f":{first.port}"):
            with SimServer.tcp(meters, port=first.port):
                pass


def test_a_stopped_server_has_no_device(clock, generic):
    with SimServer.rtu(meters_of(generic, clock, (1,))) as sim:
        assert sim.device.startswith("/dev/")
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.device


@pytest.mark.parametrize("unit", [0, 248, "1"])
def test_unit_ids_outside_1_to_247_are_rejected(unit, clock, generic):
    meters = meters_of(generic, clock, (1,))
    with pytest.raises(ValueError, match="1..247"):
        SimServer.tcp({unit: meters[1]})


def test_faults_for_a_unit_without_a_meter_are_rejected(clock, generic):
    sim = SimServer.tcp(meters_of(generic, clock, (1,)))
    with pytest.raises(KeyError, match="no meter at unit 2"):
        sim.set_faults(2)
