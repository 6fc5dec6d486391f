"""Modbus RTU transport: real RTU frames between ``rtu_bus`` and a pymodbus server on a pty pair.

The null modem between them can damage, replace, drop or delay a reply on the wire; after each
fault the next unit on the same line must be read correctly at once.
"""

from __future__ import annotations

import pytest
from pymodbus.constants import ExcCodes

from drivers import ReadPlan, list_profiles, load_profile
from drivers.errors import DeviceException, FrameError, MeterTimeout, TransportError
from drivers.modbus import read_meter, rtu_bus

TIMEOUT_S = 0.3
LINE = {unit: {(3, a): unit * 100 + a for a in range(8)} for unit in (1, 2, 3)}


def _bus(modem):
    return rtu_bus("line1", modem.client_port, baudrate=9600, timeout_s=TIMEOUT_S)


@pytest.mark.parametrize("model", list_profiles())
def test_every_shipped_profile_reads_back_its_golden_values(model, serve_rtu, golden, scenario):
    image, case = golden(model)
    plan = ReadPlan.for_map(load_profile(model))

    async def body():
        async with serve_rtu({9: image}) as (_, modem):
            bus = _bus(modem)
            try:
                return await read_meter(bus, 9, plan)
            finally:
                await bus.close()

    assert scenario(body()) == case["expected"]


def test_many_units_on_one_line_answer_in_turn(serve_rtu, scenario):
    async def body():
        async with serve_rtu(LINE) as (_, modem):
            bus = _bus(modem)
            try:
                return [await bus.read(unit, 3, 2, 2) for unit in (3, 1, 2, 1)]
            finally:
                await bus.close()

    assert scenario(body()) == [[302, 303], [102, 103], [202, 203], [102, 103]]


@pytest.mark.parametrize("fault", ["corrupt", "garbage"])
def test_garbled_reply_is_a_frame_error_and_the_next_unit_reads_clean(fault, serve_rtu, scenario):
    async def body():
        async with serve_rtu(LINE) as (_, modem):
            bus = _bus(modem)
            try:
                modem.fail_next(fault)
                with pytest.raises(FrameError) as info:
                    await bus.read(1, 3, 0, 4)
                return info.value, await bus.read(2, 3, 0, 4)
            finally:
                await bus.close()

    exc, answer = scenario(body())
    assert (exc.bus, exc.unit, exc.address, exc.retryable) == ("line1", 1, 0, True)
    assert answer == [200, 201, 202, 203]


def test_unit_without_reply_times_out_and_the_next_unit_reads_clean(serve_rtu, scenario):
    async def body():
        async with serve_rtu(LINE) as (_, modem):
            bus = _bus(modem)
            try:
                modem.fail_next("drop")
                with pytest.raises(MeterTimeout) as info:
                    await bus.read(1, 3, 0, 2)
                return info.value, await bus.read(2, 3, 0, 2)
            finally:
                await bus.close()

    exc, answer = scenario(body())
    assert (exc.unit, exc.retryable) == (1, True)
    assert answer == [200, 201]


def test_late_reply_landing_in_the_next_units_turn_does_not_replace_its_answer(serve_rtu,
                                                                               scenario):
    async def body():
        async with serve_rtu(LINE) as (_, modem):
            bus = _bus(modem)
            try:
                modem.fail_next("late")  # unit 1's reply arrives together with unit 2's
                with pytest.raises(MeterTimeout):
                    await bus.read(1, 3, 0, 2)
                return await bus.read(2, 3, 0, 2), await bus.read(3, 3, 0, 2)
            finally:
                await bus.close()

    assert scenario(body()) == ([200, 201], [300, 301])


def test_exception_response_on_rtu_is_a_device_exception(serve_rtu, scenario):
    async def body():
        async with serve_rtu(LINE) as (meters, modem):
            meters.units[2].exception = ExcCodes.DEVICE_BUSY
            bus = _bus(modem)
            try:
                with pytest.raises(DeviceException) as info:
                    await bus.read(2, 3, 0, 2)
                return info.value, await bus.read(1, 3, 0, 2)
            finally:
                await bus.close()

    exc, answer = scenario(body())
    assert (exc.code, exc.unit) == (6, 2)
    assert answer == [100, 101]


def test_missing_serial_port_is_a_transport_error_naming_it(tmp_path, scenario):
    port = str(tmp_path / "ttyNOPE")

    async def body():
        bus = rtu_bus("line1", port, timeout_s=TIMEOUT_S)
        with pytest.raises(TransportError) as info:
            await bus.connect()
        return info.value

    assert str(scenario(body())) == f"line1: cannot open serial port {port}"


@pytest.mark.parametrize("settings", [{"parity": "X"}, {"stopbits": 3}, {"bytesize": 5},
                                      {"baudrate": 0}, {"timeout_s": 0}])
def test_impossible_serial_settings_are_refused(settings):
    with pytest.raises(ValueError):
        rtu_bus("line1", "/dev/null", **settings)


@pytest.mark.parametrize("unit", [0, 248])
def test_broadcast_and_reserved_units_are_refused_on_rtu(unit, scenario):
    async def body():
        bus = rtu_bus("line1", "/dev/null", timeout_s=TIMEOUT_S)
        with pytest.raises(ValueError, match="unit must be 1..247"):
            await bus.read(unit, 3, 0, 1)

    scenario(body())
