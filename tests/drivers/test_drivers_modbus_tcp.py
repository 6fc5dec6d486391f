"""Modbus TCP transport against a real pymodbus server on a free port of 127.0.0.1."""

from __future__ import annotations

import pytest
from pymodbus.constants import ExcCodes

from drivers import ReadPlan, list_profiles, load_profile
from drivers.errors import (DeviceException, MeterTimeout, TransportError, ValueUnavailable)
from drivers.modbus import read_meter, tcp_bus

TIMEOUT_S = 0.3
SIMPLE = {(3, a): 100 + a for a in range(10)} | {(4, a): 200 + a for a in range(10)}


@pytest.mark.parametrize("model", list_profiles())
def test_every_shipped_profile_reads_back_its_golden_values(model, serve_tcp, golden, scenario):
    image, case = golden(model)
    plan = ReadPlan.for_map(load_profile(model))

    async def body():
        async with serve_tcp({7: image}) as (meters, port):
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            try:
                values = await read_meter(bus, 7, plan)
            finally:
                await bus.close()
            return values, meters.units[7].requests

    values, requests = scenario(body())
    assert values == case["expected"]
    assert requests == [(b.function, b.address, b.count) for b in plan.blocks]


def test_several_units_behind_one_gateway_answer_with_their_own_registers(serve_tcp, scenario):
    images = {unit: {(3, 0): unit, (3, 1): unit * 10} for unit in (1, 2, 3, 247)}

    async def body():
        async with serve_tcp(images) as (_, port):
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            try:
                return [await bus.read(unit, 3, 0, 2) for unit in images]
            finally:
                await bus.close()

    assert scenario(body()) == [[1, 10], [2, 20], [3, 30], [247, 2470]]


def test_holding_and_input_registers_are_read_with_their_function_codes(serve_tcp, scenario):
    async def body():
        async with serve_tcp({1: SIMPLE}) as (_, port):
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            try:
                return await bus.read(1, 3, 2, 3), await bus.read(1, 4, 2, 3)
            finally:
                await bus.close()

    assert scenario(body()) == ([102, 103, 104], [202, 203, 204])


def test_exception_response_becomes_device_exception_with_its_code(serve_tcp, scenario):
    async def body():
        async with serve_tcp({1: SIMPLE}) as (meters, port):
            meters.units[1].exception = ExcCodes.ILLEGAL_ADDRESS
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            try:
                with pytest.raises(DeviceException) as info:
                    await bus.read(1, 3, 4, 2)
            finally:
                await bus.close()
            return info.value

    exc = scenario(body())
    assert (exc.code, exc.bus, exc.unit, exc.address) == (2, "gw", 1, 4)
    assert not exc.retryable
    assert "illegal data address" in str(exc)


def test_gateway_reporting_no_reply_is_a_timeout_worth_retrying(serve_tcp, scenario):
    async def body():
        async with serve_tcp({1: SIMPLE}) as (meters, port):
            meters.units[1].exception = ExcCodes.GATEWAY_NO_RESPONSE
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            try:
                with pytest.raises(MeterTimeout) as info:
                    await bus.read(1, 3, 0, 1)
            finally:
                await bus.close()
            return info.value

    assert scenario(body()).retryable


def test_silent_unit_times_out_and_the_next_unit_still_answers(serve_tcp, scenario):
    async def body():
        async with serve_tcp({1: SIMPLE, 2: SIMPLE}) as (meters, port):
            meters.units[1].silent = True
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            try:
                with pytest.raises(MeterTimeout) as info:
                    await bus.read(1, 3, 0, 1)
                return info.value, await bus.read(2, 3, 0, 1)
            finally:
                await bus.close()

    exc, answer = scenario(body())
    assert (exc.bus, exc.unit, exc.address, exc.retryable) == ("gw", 1, 0, True)
    assert answer == [100]


def test_a_dead_unit_never_costs_the_gateway_its_connection(serve_tcp, scenario):
    # pymodbus closes a TCP connection after retries + 3 unanswered requests in a row.
    async def body():
        async with serve_tcp({1: SIMPLE, 2: SIMPLE}) as (meters, port):
            meters.units[1].silent = True
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=0.1)
            try:
                for _ in range(6):
                    with pytest.raises(MeterTimeout):
                        await bus.read(1, 3, 0, 1)
                still_connected = bus.connected
                return still_connected, await bus.read(2, 3, 0, 1)
            finally:
                await bus.close()

    assert scenario(body()) == (True, [100])


def test_nan_in_a_register_is_a_value_unavailable_naming_the_quantity(serve_tcp, golden, scenario):
    image, _ = golden("schneider-iem3255", "nan")
    plan = ReadPlan.for_map(load_profile("schneider-iem3255"))

    async def body():
        async with serve_tcp({3: image}) as (_, port):
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            try:
                with pytest.raises(ValueUnavailable) as info:
                    await read_meter(bus, 3, plan)
            finally:
                await bus.close()
            return info.value

    exc = scenario(body())
    assert (exc.quantity, exc.unit, exc.address, exc.retryable) == (
        "energy.import.t4", 3, 45125, False)


def test_connection_refused_is_a_transport_error_naming_the_gateway(unused_tcp_port, scenario):
    async def body():
        bus = tcp_bus("gw", "127.0.0.1", unused_tcp_port, timeout_s=TIMEOUT_S)
        with pytest.raises(TransportError) as connecting:
            await bus.connect()
        with pytest.raises(TransportError) as reading:
            await bus.read(4, 3, 16, 2)
        return connecting.value, reading.value

    connecting, reading = scenario(body())
    assert str(connecting) == f"gw: cannot open 127.0.0.1:{unused_tcp_port}"
    assert (reading.bus, reading.unit, reading.address) == ("gw", 4, 16)
    assert reading.retryable


def test_gateway_gone_mid_session_is_a_transport_error(serve_tcp, scenario):
    async def body():
        async with serve_tcp({1: SIMPLE}) as (_, port):
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            first = await bus.read(1, 3, 0, 1)
        try:
            with pytest.raises(TransportError) as info:
                await bus.read(1, 3, 0, 1)
        finally:
            await bus.close()
        return first, info.value

    first, exc = scenario(body())
    assert first == [100]
    assert exc.unit == 1


def test_bus_reconnects_when_the_gateway_is_back(serve_tcp, scenario):
    async def body():
        async with serve_tcp({1: SIMPLE}) as (_, port):
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            await bus.read(1, 3, 0, 1)
        try:
            with pytest.raises(TransportError):
                await bus.read(1, 3, 0, 1)
            async with serve_tcp({1: SIMPLE}, port):
                await bus.connect()
                return await bus.read(1, 3, 1, 1)
        finally:
            await bus.close()

    assert scenario(body()) == [101]


def test_connect_is_idempotent(serve_tcp, scenario):
    async def body():
        async with serve_tcp({1: SIMPLE}) as (_, port):
            bus = tcp_bus("gw", "127.0.0.1", port, timeout_s=TIMEOUT_S)
            try:
                await bus.connect()
                await bus.connect()
                return await bus.read(1, 3, 9, 1)
            finally:
                await bus.close()

    assert scenario(body()) == [109]


@pytest.mark.parametrize("function,address,count", [(1, 0, 1), (3, 0, 0), (3, 0, 126),
                                                    (3, 65535, 2)])
def test_impossible_request_is_refused_before_the_wire(function, address, count, scenario):
    async def body():
        bus = tcp_bus("gw", "127.0.0.1", 1, timeout_s=TIMEOUT_S)
        with pytest.raises(ValueError):
            await bus.read(1, function, address, count)

    scenario(body())
