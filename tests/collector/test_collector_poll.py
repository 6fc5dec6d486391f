"""The scheduler against virtual meters over real Modbus frames (TCP and RTU on a pty)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from collector.config import load_config
from collector.scheduler import Scheduler
from firmware_sim import Fault, SimServer

QUICK = {"timeout_s": 0.2, "retries": 1}


def _expected(meter) -> dict[str, int]:
    """What the meter's registers say, as the reading's energy_wh."""
    values = meter.values()
    energy = {q.removeprefix("energy.import."): v for q, v in values.items()
              if q.startswith("energy.import.")}
    energy.setdefault("total", sum(energy.values()))
    return energy


def _poll_once(config_path, sink):
    scheduler = Scheduler(load_config(config_path), sink)
    asyncio.run(scheduler.once())
    return scheduler


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
def test_every_shipped_profile_is_read_back_exactly(every_model, site, sink, transport):
    meters = every_model()
    with getattr(SimServer, transport)(meters) as sim:
        where = {"host": sim.host, "port": sim.port} if transport == "tcp" else {"port": sim.device}
        _poll_once(site(transport, meters, **where, **QUICK), sink)
    by_serial = {r.meter.serial: r for r in sink.readings}
    assert len(by_serial) == len(meters)
    for unit, meter in meters.items():
        reading = by_serial[meter.serial]
        assert dict(reading.energy_wh) == _expected(meter), meter.model
        assert reading.meter.account == f"A{unit}"
        assert reading.tariffs == meter.regmap.tariffs
        assert "sum_mismatch" not in reading.quality.flags


def test_many_unit_ids_share_one_rtu_bus(every_model, site, clock, sink):
    meters = every_model(per_model=5)
    with SimServer.rtu(meters) as sim:
        scheduler = _poll_once(site("rtu", meters, port=sim.device, **QUICK),
                               sink)
    assert sorted(r.meter.serial for r in sink.readings) == sorted(m.serial for m in
                                                                   meters.values())
    assert {s.state for s in scheduler.statuses().values()} == {"ok"}
    assert len({r.seq for r in sink.readings}) == len(meters)


def test_dead_meter_costs_its_bus_at_most_timeout_times_attempts(every_model, site, clock, sink):
    meters = every_model()
    dead = 2
    with SimServer.rtu(meters, faults={dead: [Fault("no_reply")]}) as sim:
        config = site("rtu", meters, port=sim.device, timeout_s=0.3, retries=2)
        scheduler = Scheduler(load_config(config), sink)
        started = time.monotonic()
        asyncio.run(scheduler.once())
        elapsed = time.monotonic() - started
    status = scheduler.statuses()[meters[dead].serial]
    assert status.state == "failing"
    assert "no reply within 0.3 s" in status.last_error
    assert len(sink.readings) == len(meters) - 1
    # The healthy meters answer in milliseconds: nearly all the cycle is the dead meter's 3 waits,
    # and it may not cost more than those (plus the line-quiet wait after each).
    assert elapsed < 0.3 * 3 + 1.0


def test_exception_response_is_not_retried_and_names_the_code(every_model, site, clock, sink):
    meters = every_model()
    with SimServer.tcp(meters, faults={1: [Fault("exception", code=2)]}) as sim:
        scheduler = _poll_once(site("tcp", meters, host=sim.host, port=sim.port,
                                           **QUICK), sink)
    status = scheduler.statuses()[meters[1].serial]
    assert status.state == "failing"
    assert "illegal data address" in status.last_error.lower()
    assert len(sink.readings) == len(meters) - 1


@pytest.mark.parametrize("kind", ["crc", "garbage"])
def test_damaged_reply_is_retried_until_a_clean_one_arrives(every_model, site, clock, sink, kind):
    meters = every_model()
    with SimServer.rtu(meters, faults={1: [Fault(kind, probability=0.5)]}, seed=3) as sim:
        config = site("rtu", meters, port=sim.device, timeout_s=0.2, retries=8)
        scheduler = _poll_once(config, sink)
    assert {s.state for s in scheduler.statuses().values()} == {"ok"}
    assert len(sink.readings) == len(meters)


def test_failing_meter_is_probed_less_often_then_recovers(every_model, site, clock, sink):
    meters = every_model()
    with SimServer.tcp(meters, faults={1: [Fault("no_reply")]}) as sim:
        config = load_config(site("tcp", meters, host=sim.host, port=sim.port,
                                         timeout_s=0.1, retries=0, backoff_after=2,
                                         max_backoff_cycles=4))
        scheduler = Scheduler(config, sink)
        poller = scheduler.pollers[0]
        status = scheduler.statuses()[meters[1].serial]

        async def cycles(n):
            probes = []
            for _ in range(n):
                before = status.polls
                await poller.cycle()
                probes.append(status.polls - before)
            return probes

        async def scenario():
            try:
                probed = await cycles(8)
                sim.clear_faults(1)
                clock.advance(timedelta(minutes=5))
                recovered = await cycles(5)
                return probed, recovered
            finally:
                await scheduler.close()

        probed, recovered = asyncio.run(scenario())
    # Two failures, then probes every 2nd, then (capped) every 4th cycle; once it answers again,
    # it is polled every cycle.
    assert probed == [1, 1, 0, 1, 0, 0, 0, 1]
    assert recovered == [0, 0, 0, 1, 1]
    assert status.state == "ok"
    assert status.consecutive_failures == 0


def test_collect_once_stdout_prints_one_json_reading_per_meter(every_model, site):
    meters = every_model()
    with SimServer.tcp(meters) as sim:
        config = site("tcp", meters, host=sim.host, port=sim.port, **QUICK)
        done = subprocess.run([sys.executable, "-m", "collector.cli", "collect", "--config",
                               str(config), "--once", "--stdout"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(d["meter"]["serial"] for d in lines) == sorted(m.serial for m in meters.values())
    assert all(d["schema"] == "meterlink.reading/1" for d in lines)


def test_collect_once_exits_nonzero_naming_the_dead_meter(every_model, site):
    meters = every_model()
    with SimServer.tcp(meters, faults={3: [Fault("no_reply")]}) as sim:
        config = site("tcp", meters, host=sim.host, port=sim.port,
                             timeout_s=0.1, retries=0)
        done = subprocess.run([sys.executable, "-m", "collector.cli", "collect", "--config",
                               str(config), "--once", "--stdout"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"meter {meters[3].serial}:" in done.stderr
    # Only ours: pymodbus's own log of the timeout, with its frame dump, is not repeated.
    assert all(f"meter {meters[3].serial}" in line for line in done.stderr.splitlines()), done.stderr
    assert len(done.stdout.splitlines()) == len(meters) - 1


def test_collect_without_a_sink_is_a_one_line_error(every_model, site):
    meters = every_model()
    config = site("tcp", meters, host="127.0.0.1", port=1)
    done = subprocess.run([sys.executable, "-m", "collector.cli", "collect", "--config",
                           str(config), "--once"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no sink configured" in done.stderr


def test_late_reply_of_a_slow_meter_does_not_reach_the_next_meter(every_model, site, sink):
    meters = every_model(per_model=2)
    with SimServer.rtu(meters, faults={1: [Fault("slow", delay_s=0.35)]}) as sim:
        config = site("rtu", meters, port=sim.device, timeout_s=0.2, retries=0)
        scheduler = _poll_once(config, sink)
    statuses = scheduler.statuses()
    assert statuses[meters[1].serial].state == "failing"
    assert [s for k, s in statuses.items() if k != meters[1].serial and s.state != "ok"] == []
    for reading in sink.readings:
        meter = next(m for m in meters.values() if m.serial == reading.meter.serial)
        assert dict(reading.energy_wh) == _expected(meter)
