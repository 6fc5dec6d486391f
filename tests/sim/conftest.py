"""Fixtures for the simulator's tests: meters on a clock that stands still, and raw pymodbus reads.

Every read goes through a plain pymodbus client and is decoded with the drivers' read plan, so
the simulator's encoder is checked against an implementation that is not its own.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from pymodbus.client import ModbusSerialClient, ModbusTcpClient

from drivers import ReadPlan, RegisterMap, load_profile, parse_profile
from firmware_sim import LoadProfile, ManualClock, SimServer, VirtualMeter

MONDAY = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday, 00:00 UTC
CLIENT_TIMEOUT_S = 0.3  # for reads that are meant to time out: short, the sim answers in ms


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY)


@pytest.fixture
def generic() -> RegisterMap:
    return load_profile("generic")


def small_counter_profile() -> RegisterMap:
    """A three-tariff meter with 16-bit counters at 10 Wh a count, so rollover is near."""
    return parse_profile("""
        [meter]
        model = "test-u16"
        title = "16-bit counters"
        vendor = "test"
        document = "test"
        [[register]]
        quantity = "energy.import.total"
        address = 0
        type = "u16"
        scale = 10
        [[register]]
        quantity = "energy.import.t1"
        address = 1
        type = "u16"
        scale = 10
        [[register]]
        quantity = "energy.import.t2"
        address = 2
        type = "u16"
        scale = 10
        [[register]]
        quantity = "energy.import.t3"
        address = 3
        type = "u16"
        scale = 10
    """, file="test-u16.toml")


def meters_of(regmap: RegisterMap, clock: ManualClock, units: tuple[int, ...]
              ) -> dict[int, VirtualMeter]:
    """One meter of ``regmap`` per unit, each with its own serial, start values and load."""
    tariffs = [n for n in range(1, 5) if f"energy.import.t{n}" in regmap.quantities]
    meters = {}
    for unit in units:
        start = {f"t{n}": 1_000_003 * n + unit for n in tariffs} or {"total": 5_000_000 + unit}
        meters[unit] = VirtualMeter(str(40_000_000 + unit), regmap, clock=clock,
                                    load=LoadProfile(mean_w=700 + unit, seed=unit),
                                    start_wh=start)
    return meters


def read_meter(client: ModbusTcpClient | ModbusSerialClient, regmap: RegisterMap,
               unit: int) -> dict[str, Any]:
    """Every value of one meter, read block by block as the collector's plan reads it."""
    plan = ReadPlan.for_map(regmap)
    replies = []
    for block in plan.blocks:
        read = client.read_holding_registers if block.function == 3 \
            else client.read_input_registers
        response = read(block.address, count=block.count, device_id=unit)
        assert not response.isError(), f"unit {unit} @{block.address}: {response}"
        replies.append(response.registers)
    return plan.decode(replies)


def tcp_client(sim: SimServer, timeout: float = 2.0) -> ModbusTcpClient:
    client = ModbusTcpClient(sim.host, port=sim.port, timeout=timeout, retries=0)
    assert client.connect()
    return client


def rtu_client(sim: SimServer, timeout: float = 2.0, **kwargs: Any) -> ModbusSerialClient:
    client = ModbusSerialClient(sim.device, baudrate=sim.baudrate or 19200, timeout=timeout,
                                retries=0, **kwargs)
    assert client.connect()
    return client
