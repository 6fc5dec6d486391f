"""RTU poll cycle: 32 meters on one bus at an emulated 9600 baud, against the wire-time limit.

The simulator delays every reply by the bytes' time on the wire plus the 3.5-character
silences, so no reader can beat the sum of ``transaction_time`` over the cycle's requests:
that sum is the limit, and the figure that matters is our cycle time divided by it (target
≤ 1.15). A bare pymodbus client reading the same blocks in a loop is measured in the same run,
so the cost of scheduling, retries bookkeeping and normalization is visible on its own.

Usage: ``python bench/modbus_rtu.py [--meters 32] [--baud 9600] [--cycles 3]`` (prints JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from pymodbus.client import AsyncModbusSerialClient

from collector.config import load_config
from collector.reading import Reading
from collector.scheduler import Scheduler
from drivers import ReadPlan, list_profiles, load_profile
from firmware_sim import AcceleratedClock, LoadProfile, SimServer, VirtualMeter
from firmware_sim.line import READ_REQUEST_BYTES, read_reply_bytes, transaction_time


class _Count:
    def __init__(self) -> None:
        self.readings = 0

    async def submit(self, reading: Reading) -> None:
        self.readings += 1


def _meters(count: int) -> dict[int, VirtualMeter]:
    clock = AcceleratedClock(datetime(2026, 11, 22, tzinfo=timezone.utc), 60.0)
    models = list_profiles()
    return {unit: VirtualMeter(str(10_000_000 + unit), load_profile(models[unit % len(models)]),
                               clock=clock, load=LoadProfile(mean_w=900, seed=unit))
            for unit in range(1, count + 1)}


def _site(device: str, meters: dict[int, VirtualMeter], baud: int, directory: Path) -> Path:
    lines = ['[collector]\nid = "bench"\nsite = "bench"\n',
             f'[[bus]]\nname = "rtu"\ntransport = "rtu"\nport = "{device}"\nbaudrate = {baud}\n'
             'timeout_s = 1.0\nretries = 0\n']
    for unit, meter in meters.items():
        lines.append(f'[[meter]]\nbus = "rtu"\nunit = {unit}\nmodel = "{meter.model}"\n'
                     f'serial = "{meter.serial}"\n')
    path = directory / "site.toml"
    path.write_text("\n".join(lines))
    return path


def wire_limit_s(meters: dict[int, VirtualMeter], baud: int) -> float:
    return sum(transaction_time(READ_REQUEST_BYTES, read_reply_bytes(block.count), baud)
               for meter in meters.values()
               for block in ReadPlan.for_map(meter.regmap).blocks)


async def _ours(config_path: Path, cycles: int) -> list[float]:
    sink = _Count()
    scheduler = Scheduler(load_config(config_path), sink)
    poller = scheduler.pollers[0]
    times = []
    try:
        await poller.cycle(force=True)  # open the port, warm the caches
        for _ in range(cycles):
            started = time.perf_counter()
            readings = await poller.cycle(force=True)
            times.append(time.perf_counter() - started)
            assert len(readings) == len(poller.meters), "a meter failed during the benchmark"
    finally:
        await scheduler.close()
    return times


async def _bare(device: str, meters: dict[int, VirtualMeter], baud: int,
                cycles: int) -> list[float]:
    client = AsyncModbusSerialClient(device, baudrate=baud, timeout=1.0, retries=0)
    await client.connect()
    plans = {unit: ReadPlan.for_map(m.regmap) for unit, m in meters.items()}
    times = []
    try:
        for _ in range(cycles + 1):
            started = time.perf_counter()
            for unit, plan in plans.items():
                for block in plan.blocks:
                    read = (client.read_holding_registers if block.function == 3
                            else client.read_input_registers)
                    reply = await read(block.address, count=block.count, device_id=unit)
                    assert not reply.isError()
            times.append(time.perf_counter() - started)
    finally:
        client.close()
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=32)
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    meters = _meters(args.meters)
    limit = wire_limit_s(meters, args.baud)
    with SimServer.rtu(meters, baudrate=args.baud) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        config = _site(sim.device, meters, args.baud, Path(tmp))
        ours = asyncio.run(_ours(config, args.cycles))
        bare = asyncio.run(_bare(sim.device, meters, args.baud, args.cycles))
    ours_s, bare_s = statistics.median(ours), statistics.median(bare)
    json.dump({
        "bench": "modbus_rtu",
        "meters": args.meters,
        "models": sorted({m.model for m in meters.values()}),
        "baud": args.baud,
        "requests_per_cycle": sum(len(ReadPlan.for_map(m.regmap).blocks)
                                  for m in meters.values()),
        "wire_limit_s": round(limit, 4),
        "ours_cycle_s": round(ours_s, 4),
        "bare_pymodbus_cycle_s": round(bare_s, 4),
        "ours_vs_limit": round(ours_s / limit, 3),
        "bare_vs_limit": round(bare_s / limit, 3),
        "target_ours_vs_limit": 1.15,
    }, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
