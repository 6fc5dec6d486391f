"""Modbus TCP: collector throughput against a bare pymodbus loop, and a 10 000-meter site.

Part 1 (``throughput``): meters behind one simulated gateway with no wire-time emulation, so
the host is the bottleneck. Readings per second of the collector's poll cycle (scheduling,
decoding, normalization, a sink) against a bare ``AsyncModbusTcpClient`` loop sending the same
requests over one connection each, in the same run (target ≥ 0.8).

Part 2 (``scale``): 10 000 meters on 41 gateways (≤ 247 unit ids each) served by a separate
process, so the collector's memory and cycle time are its own: RSS growth for the site and one
full cycle's wall time, with ``connections`` parallel connections per gateway.

Usage: ``python bench/modbus_tcp.py [--meters 200] [--scale-meters 10000] [--connections 4]``
(prints JSON). ``--serve N`` is the internal mode that runs the gateways of part 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient

from collector.config import load_config
from collector.reading import Reading
from collector.scheduler import Scheduler
from drivers import ReadPlan, list_profiles, load_profile
from firmware_sim import AcceleratedClock, LoadProfile, SimServer, VirtualMeter

UNITS_PER_GATEWAY = 244


class _Count:
    def __init__(self) -> None:
        self.readings = 0

    async def submit(self, reading: Reading) -> None:
        self.readings += 1


def _meters(count: int, first: int = 0) -> dict[int, VirtualMeter]:
    clock = AcceleratedClock(datetime(2026, 11, 22, tzinfo=timezone.utc), 60.0)
    models = list_profiles()
    return {unit: VirtualMeter(str(10_000_000 + first + unit),
                               load_profile(models[(first + unit) % len(models)]), clock=clock,
                               load=LoadProfile(mean_w=900, seed=first + unit))
            for unit in range(1, count + 1)}


def _site(gateways: list[tuple[str, int, dict[int, str]]], connections: int,
          directory: Path) -> Path:
    """A site with one TCP bus per gateway; ``gateways`` gives host, port and unit → model."""
    lines = ['[collector]\nid = "bench"\nsite = "bench"\n']
    for index, (host, port, _) in enumerate(gateways):
        lines.append(f'[[bus]]\nname = "gw{index}"\ntransport = "tcp"\nhost = "{host}"\n'
                     f'port = {port}\ntimeout_s = 2.0\nretries = 0\n'
                     f'connections = {connections}\n')
    for index, (_, _, units) in enumerate(gateways):
        for unit, model in units.items():
            lines.append(f'[[meter]]\nbus = "gw{index}"\nunit = {unit}\nmodel = "{model}"\n'
                         f'serial = "{index * 1000 + unit}"\n')
    path = directory / "site.toml"
    path.write_text("\n".join(lines))
    return path


async def _ours_rate(config_path: Path, cycles: int) -> float:
    sink = _Count()
    scheduler = Scheduler(load_config(config_path), sink)
    try:
        await asyncio.gather(*(p.cycle(force=True) for p in scheduler.pollers))  # warm up
        sink.readings = 0
        started = time.perf_counter()
        for _ in range(cycles):
            await asyncio.gather(*(p.cycle(force=True) for p in scheduler.pollers))
        elapsed = time.perf_counter() - started
    finally:
        await scheduler.close()
    return sink.readings / elapsed


async def _bare_rate(host: str, port: int, plans: dict[int, ReadPlan], cycles: int) -> float:
    client = AsyncModbusTcpClient(host, port=port, timeout=2.0, retries=0)
    await client.connect()
    done = 0
    try:
        for cycle in range(cycles + 1):
            if cycle == 1:
                started, done = time.perf_counter(), 0
            for unit, plan in plans.items():
                for block in plan.blocks:
                    read = (client.read_holding_registers if block.function == 3
                            else client.read_input_registers)
                    reply = await read(block.address, count=block.count, device_id=unit)
                    assert not reply.isError()
                done += 1
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    return done / elapsed


def throughput(meters_count: int, cycles: int, rounds: int = 5) -> dict[str, object]:
    with _Gateways(meters_count) as gateways, tempfile.TemporaryDirectory() as tmp:
        (host, port, units), = gateways
        config = _site(gateways, 1, Path(tmp))
        plans = {unit: ReadPlan.for_map(load_profile(model)) for unit, model in units.items()}
        # Alternate the two so neither gets the warmer process; keep each one's best round.
        ours = bare = 0.0
        for _ in range(rounds):
            bare = max(bare, asyncio.run(_bare_rate(host, port, plans, cycles)))
            ours = max(ours, asyncio.run(_ours_rate(config, cycles)))
    return {"meters": meters_count, "cycles": cycles, "rounds": rounds,
            "ours_readings_per_s": round(ours, 1), "bare_pymodbus_readings_per_s": round(bare, 1),
            "ratio": round(ours / bare, 3), "target_ratio": 0.8}


class _Gateways:
    """Simulated gateways in a child process, so the measured process runs only the client."""

    def __init__(self, meters_count: int) -> None:
        self._count = meters_count

    def __enter__(self) -> list[tuple[str, int, dict[int, str]]]:
        self._server = subprocess.Popen([sys.executable, __file__, "--serve", str(self._count)],
                                        stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
        assert self._server.stdout is not None
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            # The gateways on one core, the client on another, as a real gateway is another box:
            # otherwise the kernel's choice of where to wake each side dominates the figures.
            os.sched_setaffinity(self._server.pid, {cpus[0]})
            os.sched_setaffinity(0, {cpus[1]})
        return [(g["host"], g["port"], {int(u): m for u, m in g["units"].items()})
                for g in json.loads(self._server.stdout.readline())]

    def __exit__(self, *exc: object) -> None:
        self._server.communicate("", timeout=30)


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def scale(meters_count: int, connections: int) -> dict[str, object]:
    with _Gateways(meters_count) as gateways, tempfile.TemporaryDirectory() as tmp:
        config_path = _site(gateways, connections, Path(tmp))
        rss_before = _rss_mb()
        started = time.perf_counter()
        sink = _Count()
        scheduler = Scheduler(load_config(config_path), sink)
        load_s = time.perf_counter() - started

        async def cycles() -> list[float]:
            times = []
            try:
                for _ in range(2):
                    started = time.perf_counter()
                    await asyncio.gather(*(p.cycle(force=True) for p in scheduler.pollers))
                    times.append(time.perf_counter() - started)
            finally:
                await scheduler.close()
            return times

        first, second = asyncio.run(cycles())
        rss_after = _rss_mb()
    return {"meters": meters_count, "gateways": len(gateways),
            "connections_per_gateway": connections,
            "readings": sink.readings, "config_load_s": round(load_s, 2),
            "first_cycle_s": round(first, 2), "cycle_s": round(second, 2),
            "readings_per_s": round(meters_count / second, 1),
            "collector_rss_growth_mb": round(rss_after - rss_before, 1),
            "collector_rss_mb": round(rss_after, 1)}


def serve(meters_count: int) -> None:
    """Run the gateways of ``scale`` until stdin closes; print their addresses as one JSON line."""
    sims, listing = [], []
    first = 0
    while first < meters_count:
        count = min(UNITS_PER_GATEWAY, meters_count - first)
        meters = _meters(count, first)
        sim = SimServer.tcp(meters)
        sim.__enter__()
        sims.append(sim)
        listing.append({"host": sim.host, "port": sim.port,
                        "units": {unit: m.model for unit, m in meters.items()}})
        first += count
    print(json.dumps(listing), flush=True)
    sys.stdin.read()
    for sim in sims:
        sim.__exit__(None, None, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--scale-meters", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    result = {"bench": "modbus_tcp", "throughput": throughput(args.meters, args.cycles)}
    if args.scale_meters:
        result["scale"] = scale(args.scale_meters, args.connections)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
