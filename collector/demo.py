"""``meterlink demo``: the whole flow on one machine with nothing set up beforehand.

Virtual meters of every shipped model sit behind a simulated Modbus TCP gateway and a
simulated RS-485 line (a pseudo-terminal, at a real 9600 baud wire time); their clock runs
fast, so tariff zones change while you watch. A mosquitto of the demo's own runs on a free
port. The collector polls the meters with the same config file a site would use (written to
the output folder, to read and copy) and publishes through its durable spool; an accounting
worker stores every reading once in a SQLite file and acknowledges it. The live table shows
every meter's registers as the retailer bills them (whole kWh, the fraction dropped) and the
counts sent, confirmed and stored. The meters keep their registers and their clock in the
output folder (``meters.json``) as real ones keep theirs: a second run there goes on where the
first stopped, so the store accepts its readings instead of rejecting them as decreases.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping, TextIO

from accounting.ingest import IngestThread
from accounting.store import Store
from collector.config import load_config
from collector.reading import Reading
from collector.scheduler import Scheduler, Sink
from collector.sinks import broker_config, publishing
from drivers import list_profiles, load_profile
from drivers.errors import ConfigError, DeliveryError
from firmware_sim import AcceleratedClock, Fault, LoadProfile, SimServer, VirtualMeter
from mqtt import Mosquitto

ACCELERATION = 600.0  # ten simulated minutes per second: a day in 2.4 minutes
CYCLE_S = 2.0
# Real meters refresh their register image about once a second; in simulated time that is:
REFRESH = timedelta(seconds=ACCELERATION)


@dataclass
class LiveTable:
    """The newest reading of every meter, redrawn in place on a terminal, appended otherwise.

    It sits in front of the real sink (``forward``), so it shows what the collector submits.
    """

    forward: Sink
    out: TextIO
    started: float = field(default_factory=time.monotonic)
    latest: dict[str, Reading] = field(default_factory=dict)
    received: int = 0

    async def submit(self, reading: Reading) -> None:
        await self.forward.submit(reading)
        self.latest[reading.meter.serial] = reading
        self.received += 1
        if not self.out.isatty():
            self.out.write(_row(reading) + "\n")
            self.out.flush()

    def draw(self, scheduler: Scheduler, footer: str) -> None:
        if not self.out.isatty():
            return
        lines = ["\x1b[H\x1b[2J" + _HEADER, "-" * len(_HEADER)]
        lines += [_row(r) for _, r in sorted(self.latest.items())]
        failing = {k: s for k, s in scheduler.statuses().items() if s.state != "ok"}
        for label, status in sorted(failing.items()):
            lines.append(f"  {label}: {status.state} — {status.last_error}")
        lines.append("")
        lines.append(f"{time.monotonic() - self.started:.0f} s: {footer}. Ctrl-C stops.")
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


_HEADER = (f"{'serial':>10} {'model':20} {'T1 kWh':>10} {'T2 kWh':>10} {'T3 kWh':>10} "
           f"{'total kWh':>10}  {'taken at (UTC)':19}  flags")


def _row(reading: Reading) -> str:
    energy = reading.energy_wh

    def kwh(register: str) -> str:
        return str(reading.billing_kwh(register)) if register in energy else "-"

    return (f"{reading.meter.serial:>10} {reading.meter.model:20} {kwh('t1'):>10} "
            f"{kwh('t2'):>10} {kwh('t3'):>10} {kwh('total'):>10}  "
            f"{reading.taken_at.strftime('%Y-%m-%d %H:%M:%S')}  "
            f"{','.join(reading.quality.flags)}")


def demo_meters(clock: AcceleratedClock, first_unit: int, count: int,
                resumed: Mapping[str, Mapping[str, int]]) -> dict[int, VirtualMeter]:
    """Meters of every shipped model, with different loads and starting registers (the
    ``resumed`` ones, by serial, where the runs before left them)."""
    models = [m for m in list_profiles() if m != "generic"] + ["generic"]
    meters = {}
    for unit in range(first_unit, first_unit + count):
        regmap = load_profile(models[unit % len(models)])
        tariffs = regmap.tariffs
        serial = str(21_000_000 + unit)
        start = resumed.get(serial) or (
            {f"t{n}": 1_500_000 * unit // n + 377 * n for n in range(1, tariffs + 1)}
            if tariffs else {"total": 2_750_000 * unit})
        meters[unit] = VirtualMeter(serial, regmap, clock=clock,
                                    load=LoadProfile(mean_w=600 + 350 * unit, seed=unit),
                                    start_wh=start, refresh=REFRESH)
    return meters


def _resume_point(out_dir: Path) -> tuple[datetime | None, dict[str, dict[str, int]]]:
    """Where the meters of the runs before in ``out_dir`` stopped: the simulated time, and each
    meter's starting registers (``VirtualMeter``'s ``start_wh``) by serial. From the meters'
    own saved registers (``_save_meters``: they are ahead of any reading still in the spool),
    and never below the latest reading the store accepted (a folder whose meters were not
    saved); nothing in a new folder."""
    at, registers = _saved_meters(out_dir / "meters.json")
    db = out_dir / "readings.db"
    if not db.exists():
        return at, registers
    store = Store.open(f"sqlite:///{db}")
    try:
        for serial in store.serials():
            accepted = [r for r in store.history(serial) if r.status == "accepted"]
            if not accepted:
                continue
            last = accepted[-1]
            stored = {k: wh for k, wh in last.energy_wh.items() if k != "total"} or \
                {"total": last.energy_wh["total"]}
            saved = registers.get(serial, {})
            registers[serial] = {k: max(wh, saved.get(k, 0)) for k, wh in stored.items()}
            at = last.taken_at if at is None else max(at, last.taken_at)
    finally:
        store.close()
    return at, registers


def _saved_meters(path: Path) -> tuple[datetime | None, dict[str, dict[str, int]]]:
    """The simulated time and registers ``_save_meters`` left in ``path``, if any."""
    try:
        state = json.loads(path.read_text())
        return (datetime.fromisoformat(state["at"]),
                {serial: {register: int(wh) for register, wh in registers.items()}
                 for serial, registers in state["meters"].items()})
    except FileNotFoundError:
        return None, {}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"not the demo's saved meters ({exc}): delete it to start the meters "
                          "afresh", file=str(path)) from exc


def _save_meters(path: Path, clock: AcceleratedClock, meters: Iterable[VirtualMeter]) -> None:
    """Save the meters' registers now, replacing the file whole (a run stopped while writing
    leaves the one before). Each meter is read at its own clock's now, after any request the
    gateway's threads served it; the time saved is taken after them all."""
    registers: dict[str, dict[str, int]] = {}
    for meter in meters:
        counters = meter.state()
        tariffs = meter.regmap.tariffs
        registers[meter.serial] = (
            {f"t{n}": counters.import_wh[n - 1] for n in range(1, tariffs + 1)} if tariffs
            else {"total": counters.total_wh})
    state = {"at": clock.now().isoformat(), "meters": registers}
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(state, indent=1) + "\n")
    partial.replace(path)


def write_site(path: Path, tcp: SimServer, rtu: SimServer, broker: Mosquitto) -> Path:
    """The demo's site.toml: exactly what a user would write for these two buses."""
    lines = ["# Written by `meterlink demo`: the collector config for its simulated meters.",
             "[collector]", 'id = "demo-gw"', 'site = "demo"', f"cycle_s = {CYCLE_S}", "",
             "[mqtt]", f'url = "{broker.url}"', 'spool = "spool.db"', "",
             "[[bus]]", 'name = "gateway"', 'transport = "tcp"', f'host = "{tcp.host}"',
             f"port = {tcp.port}", "timeout_s = 0.5", "retries = 1", "",
             "[[bus]]", 'name = "rs485"', 'transport = "rtu"', f'port = "{rtu.device}"',
             f"baudrate = {rtu.baudrate}", "timeout_s = 0.5", "retries = 1"]
    for bus, sim in (("gateway", tcp), ("rs485", rtu)):
        for unit, meter in sorted(sim.meters.items()):
            lines += ["", "[[meter]]", f'bus = "{bus}"', f"unit = {unit}",
                      f'model = "{meter.model}"', f'serial = "{meter.serial}"',
                      f'account = "50{meter.serial}"']
    path.write_text("\n".join(lines) + "\n")
    return path


async def run_demo(out_dir: Path, duration_s: float | None, stop: asyncio.Event,
                   out: TextIO = sys.stdout) -> LiveTable:
    """Run until ``stop`` is set or ``duration_s`` has passed; returns the table it showed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = out_dir / "meters.json"
    saved_at, resumed = _resume_point(out_dir)
    # Simulated time runs ahead of the wall clock: a run never starts before the last one ended.
    start = datetime.now(timezone.utc).replace(microsecond=0)
    clock = AcceleratedClock(max(start, saved_at) if saved_at else start, ACCELERATION)
    # One meter on the gateway drops a reply now and then, to show retries doing their job.
    tcp = SimServer.tcp(demo_meters(clock, 1, 6, resumed), faults={3: [Fault("no_reply", 0.1)]},
                        seed=7)
    rtu = SimServer.rtu(demo_meters(clock, 7, 4, resumed), baudrate=9600)
    meters = [*tcp.meters.values(), *rtu.meters.values()]
    with Mosquitto(out_dir / "broker") as broker:
        async with tcp, rtu:
            config = load_config(write_site(out_dir / "site.toml", tcp, rtu, broker))
            settings = broker_config(config)
            with IngestThread(settings, f"sqlite:///{out_dir / 'readings.db'}", worker_id="demo") as accounting, \
                    publishing(config, settings) as publisher:
                table = LiveTable(publisher, out)
                # The collector lives in the meters' fast world too: readings are stamped with
                # simulated time, so consumption per day and the jump check stay physical.
                scheduler = Scheduler(config, table, now=clock.now)
                print(f"meterlink demo: {len(config.meters)} virtual meters on a Modbus TCP "
                      f"gateway ({tcp.address}) and an RS-485 line ({rtu.device}, 9600 baud), "
                      f"broker {broker.url}", file=out, flush=True)

                def footer() -> str:
                    sent = publisher.status()
                    stored = accounting.worker.counters
                    return (f"{table.received} readings sent, {sent.confirmed} confirmed, "
                            f"{sent.spooled} in the spool; {stored.stored} stored")

                await _show(table, scheduler, footer, duration_s, stop,
                            lambda: _save_meters(state, clock, meters))
                # Let the last readings of the run reach the store before it closes; what does
                # not stays in the spool for the next run.
                with contextlib.suppress(DeliveryError):
                    publisher.wait_for(lambda s: s.spooled == 0, timeout=5.0)
                summary = footer()
    print(f"meterlink demo: stopped. {summary}.\n  readings: {out_dir / 'readings.db'} "
          f"(meterlink history --db sqlite:///{out_dir / 'readings.db'} --meter SERIAL)\n"
          f"  site config: {out_dir / 'site.toml'}", file=out, flush=True)
    return table


async def _show(table: LiveTable, scheduler: Scheduler, footer: Callable[[], str],
                duration_s: float | None, stop: asyncio.Event, save: Callable[[], None]) -> None:
    """Poll until stopped, redrawing the table and saving the meters (``save``) every second,
    and once more when the polls have ended."""
    poll = asyncio.create_task(scheduler.run(stop))
    deadline = None if duration_s is None else time.monotonic() + duration_s
    try:
        while not stop.is_set():
            table.draw(scheduler, footer())
            save()
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass
    finally:
        stop.set()
        await poll
        save()
