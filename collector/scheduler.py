"""The poll scheduler: one asyncio task per bus, each meter read once per cycle.

An RTU bus is half-duplex, so its meters are read strictly one after another; a TCP gateway
may get several connections (``connections``), each still one transaction at a time. A meter
that does not answer costs its bus at most ``timeout × (retries + 1)`` in a cycle; after
``backoff_after`` failed cycles it is probed only every 2, 4, … ``max_backoff_cycles`` cycles,
so one dead meter cannot eat the cycle of the thirty that work. Failures are logged loudly
once, quietly while they repeat, and loudly again on recovery.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable, Literal, Protocol

from collector.config import BusConfig, MeterConfig, SiteConfig
from collector.normalize import MeterTrack, Normalizer
from collector.reading import MeterRef, Reading
from drivers import ReadPlan
from drivers.errors import DeliveryError, MeterError, MeterlinkError, TransportError
from drivers.modbus import Bus, read_meter, rtu_bus, tcp_bus

log = logging.getLogger(__name__)

State = Literal["unknown", "ok", "failing", "backoff"]


class Sink(Protocol):
    """Where readings go (stdout, the MQTT publisher's spool); must not lose an accepted one."""

    async def submit(self, reading: Reading) -> None: ...


@dataclass
class MeterStatus:
    """What a person (or the status topic) needs to know about one meter."""

    state: State = "unknown"
    polls: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_error: str = ""
    last_ok: datetime | None = None
    skip_cycles: int = 0          # cycles left before the next probe while backing off
    undelivered: int = 0          # readings the sink refused (spool full)


@dataclass
class _Meter:
    config: MeterConfig
    plan: ReadPlan
    normalizer: Normalizer
    status: MeterStatus = field(default_factory=MeterStatus)
    track: MeterTrack = field(default_factory=MeterTrack)


def make_bus(config: BusConfig) -> Bus:
    if config.transport == "rtu":
        return rtu_bus(config.name, config.port, baudrate=config.baudrate, parity=config.parity,
                       stopbits=config.stopbits, timeout_s=config.timeout_s)
    return tcp_bus(config.name, config.host, int(config.port), timeout_s=config.timeout_s)


class BusPoller:
    """Polls the meters of one bus; owns its connections and its meters' statuses."""

    def __init__(self, config: BusConfig, meters: tuple[MeterConfig, ...], collector_id: str,
                 stale_after_s: float, submit: Callable[[Reading], Awaitable[None]],
                 next_seq: Callable[[], int],
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.config = config
        self._now = now
        self.meters = [
            _Meter(m, ReadPlan.for_map(m.model),
                   Normalizer(m.model, MeterRef(m.serial, m.model.model, m.account),
                              collector_id, stale_after_s))
            for m in meters
        ]
        self._submit = submit
        self._next_seq = next_seq
        self._buses = [make_bus(config) for _ in range(config.connections)]

    async def close(self) -> None:
        for bus in self._buses:
            await bus.close()

    async def cycle(self, *, force: bool = False) -> list[Reading]:
        """Read every due meter once (``force``: every meter, ignoring back-off)."""
        due = [m for m in self.meters if force or self._due(m)]
        queue: asyncio.Queue[_Meter] = asyncio.Queue()
        for meter in due:
            queue.put_nowait(meter)
        readings: list[Reading] = []
        await asyncio.gather(*(self._worker(bus, queue, readings) for bus in self._buses))
        return readings

    async def _worker(self, bus: Bus, queue: asyncio.Queue[_Meter],
                      readings: list[Reading]) -> None:
        while not queue.empty():
            meter = queue.get_nowait()
            reading = await self._poll(bus, meter)
            if reading is None:
                continue
            try:
                await self._submit(reading)
            except DeliveryError as exc:
                # The spool is at its configured limit: this reading cannot be kept. Say so
                # on every one, since each is a reading lost by the site's own choice of limit.
                log.error("%s: reading of meter %s not kept: %s", self.config.name,
                          meter.config.label, exc)
                meter.status.undelivered += 1
                continue
            readings.append(reading)

    def _due(self, meter: _Meter) -> bool:
        if meter.status.skip_cycles > 0:
            meter.status.skip_cycles -= 1
            return False
        return True

    async def _poll(self, bus: Bus, meter: _Meter) -> Reading | None:
        """One meter, up to ``retries + 1`` attempts; a failure becomes the meter's status."""
        status = meter.status
        status.polls += 1
        try:
            values = await self._read_with_retries(bus, meter)
        except (MeterError, TransportError) as exc:
            self._failed(meter, exc)
            return None
        if len(meter.plan.blocks) > 1 and meter.normalizer.sum_flags(
                meter.normalizer.energy(values)):
            # The blocks were read moments apart and the meter may have updated its registers
            # in between; one more read tells a torn reading from a meter whose sums disagree.
            try:
                values = await self._read_with_retries(bus, meter)
            except (MeterError, TransportError):
                pass  # keep the first read; its flag says what is wrong with it
        taken_at = self._now()
        if status.state in ("failing", "backoff"):
            log.warning("%s: meter %s answers again after %d failed polls", self.config.name,
                        meter.config.label, status.consecutive_failures)
        status.state, status.consecutive_failures, status.last_error = "ok", 0, ""
        status.last_ok = taken_at
        return meter.normalizer.reading(values, taken_at, self._next_seq(), meter.track)

    async def _read_with_retries(self, bus: Bus, meter: _Meter) -> dict[str, object]:
        attempts = self.config.retries + 1
        for attempt in itertools.count(1):
            try:
                await bus.connect()
                return await read_meter(bus, meter.config.unit, meter.plan)
            except (MeterError, TransportError) as exc:
                if isinstance(exc, MeterError):
                    exc.attempt = attempt
                if attempt >= attempts or not exc.retryable:
                    raise
        raise AssertionError("unreachable")

    def _failed(self, meter: _Meter, exc: MeterlinkError) -> None:
        status = meter.status
        status.failures += 1
        status.consecutive_failures += 1
        status.last_error = str(exc)
        if status.consecutive_failures == 1:
            log.warning("%s: meter %s failed: %s", self.config.name, meter.config.label, exc)
        else:
            log.debug("%s: meter %s still failing: %s", self.config.name, meter.config.label, exc)
        if status.consecutive_failures >= self.config.backoff_after:
            exponent = status.consecutive_failures - self.config.backoff_after + 1
            status.skip_cycles = min(2 ** exponent, self.config.max_backoff_cycles) - 1
            status.state = "backoff"
        else:
            status.state = "failing"


class Scheduler:
    """All buses of a site, each in its own task, feeding one sink."""

    def __init__(self, config: SiteConfig, sink: Sink,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        """``now`` stamps each reading's ``taken_at``; a simulation may run its own clock."""
        self.config = config
        seq = itertools.count(1)
        self.pollers = [
            BusPoller(bus, config.meters_on(bus.name), config.collector.id,
                      config.collector.stale_after_s, sink.submit, lambda: next(seq), now)
            for bus in config.buses if config.meters_on(bus.name)
        ]

    def statuses(self) -> dict[str, MeterStatus]:
        return {m.config.label: m.status for p in self.pollers for m in p.meters}

    async def once(self) -> list[Reading]:
        """Poll every meter exactly once, all buses in parallel."""
        try:
            results = await asyncio.gather(*(p.cycle(force=True) for p in self.pollers))
        finally:
            await self.close()
        return [r for readings in results for r in readings]

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every ``cycle_s`` until ``stop`` is set; each bus keeps its own rhythm."""
        try:
            await asyncio.gather(*(self._run_bus(p, stop) for p in self.pollers))
        finally:
            await self.close()

    async def _run_bus(self, poller: BusPoller, stop: asyncio.Event) -> None:
        cycle_s = self.config.collector.cycle_s
        while not stop.is_set():
            started = time.monotonic()
            await poller.cycle()
            elapsed = time.monotonic() - started
            if elapsed > cycle_s:
                log.info("%s: cycle took %.2f s, longer than cycle_s %.2f s",
                         poller.config.name, elapsed, cycle_s)
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(cycle_s - elapsed, 0.0))
            except asyncio.TimeoutError:
                pass

    async def close(self) -> None:
        for poller in self.pollers:
            await poller.close()
