"""``sim.toml`` → a running simulator: what ``meterlink sim --config sim.toml`` does.

The file is validated once, into a frozen ``SimConfig``; every error names the file, the line
and the key, e.g. ``sim.toml:14: [[meter]] unit: unit 3 is used twice (first at line 9)``.
See ``firmware_sim/examples/sim.toml`` for every key with its meaning.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, TextIO

from drivers.errors import ConfigError
from drivers.profile import RegisterMap, load_profile
from drivers.tomlfile import TomlLines, parse_toml, read_text
from firmware_sim.clock import AcceleratedClock, ManualClock
from firmware_sim.faults import Fault
from firmware_sim.load import LoadProfile
from firmware_sim.meter import VirtualMeter
from firmware_sim.server import SimServer
from firmware_sim.tariff import WEEKDAYS, TariffClock

_SIM_KEYS = {"transport", "host", "port", "baudrate", "bits_per_char", "acceleration", "seed",
             "start", "utc_offset", "tariffs"}
_METER_KEYS = {"unit", "model", "serial", "mean_power_w", "seed", "start_wh", "export_wh",
               "faults"}
_FAULT_KEYS = {"kind", "probability", "code", "delay_s"}
_OFFSET = re.compile(r"^([+-])(\d\d):(\d\d)$")


@dataclass(frozen=True)
class MeterConfig:
    """One ``[[meter]]``: a virtual meter at a unit id, with its faults at start."""

    unit: int
    regmap: RegisterMap
    serial: str
    mean_power_w: int
    seed: int
    start_wh: Mapping[str, int]
    export_wh: Mapping[str, int]
    faults: tuple[Fault, ...]
    line: int | None = None


@dataclass(frozen=True)
class SimConfig:
    """A whole ``sim.toml``: where to serve, how time runs, and the meters."""

    meters: tuple[MeterConfig, ...]
    transport: str = "tcp"
    host: str = "127.0.0.1"
    port: int = 5020
    baudrate: int | None = None
    bits_per_char: int = 11
    acceleration: float = 1.0
    seed: int = 0
    start: datetime | None = None  # None: the wall-clock time when the server is built
    utc_offset: timedelta = timedelta(0)
    tariffs: TariffClock = TariffClock.default()
    file: str = "<sim.toml>"

    def build(self) -> SimServer:
        """The meters on one accelerated clock, behind a server that is not yet started."""
        start = self.start or datetime.now(timezone.utc).replace(microsecond=0)
        clock = AcceleratedClock(start, self.acceleration)
        meters = {m.unit: _meter(m, self, clock) for m in self.meters}
        faults = {m.unit: m.faults for m in self.meters if m.faults}
        if self.transport == "tcp":
            return SimServer.tcp(meters, host=self.host, port=self.port, baudrate=self.baudrate,
                                 bits_per_char=self.bits_per_char, faults=faults, seed=self.seed)
        return SimServer.rtu(meters, baudrate=self.baudrate, bits_per_char=self.bits_per_char,
                             faults=faults, seed=self.seed)


def _meter(m: MeterConfig, config: SimConfig,
           clock: AcceleratedClock | ManualClock) -> VirtualMeter:
    return VirtualMeter(m.serial, m.regmap, clock=clock,
                        load=LoadProfile(mean_w=m.mean_power_w, seed=m.seed),
                        tariffs=config.tariffs, start_wh=m.start_wh, export_wh=m.export_wh,
                        utc_offset=config.utc_offset)


def load_sim_config(path: str | Path) -> SimConfig:
    path = Path(path)
    return parse_sim_config(read_text(path), file=str(path), base=path.parent)


def parse_sim_config(text: str, *, file: str = "<sim.toml>", base: Path = Path(".")) -> SimConfig:
    """Parse a ``sim.toml``; ``base`` resolves a model given as a relative path to a profile."""
    doc = parse_toml(text, file)
    where = _Where(text, file)
    unknown = set(doc) - {"sim", "meter"}
    if unknown:
        key = sorted(unknown)[0]
        raise where.error("unknown table or key (allowed: [sim], [[meter]])", key)
    sim = doc.get("sim", {})
    if not isinstance(sim, dict):
        raise where.error("must be a table", "sim")
    where.reject_unknown(sim, _SIM_KEYS, "sim")

    transport = where.get(sim, "transport", str, "sim", "tcp")
    if transport not in ("tcp", "rtu"):
        raise where.error(f"must be \"tcp\" or \"rtu\", got {transport!r}", "transport", "sim")
    if transport == "rtu":
        for key in ("host", "port"):
            if key in sim:
                raise where.error("an rtu simulator serves a pty, not a TCP port", key, "sim")
    port = where.get(sim, "port", int, "sim", 5020)
    if not 0 <= port <= 0xFFFF:
        raise where.error("must be 0..65535 (0 picks a free port)", "port", "sim")
    baudrate = where.get(sim, "baudrate", int, "sim", None)
    if baudrate is not None and baudrate <= 0:
        raise where.error("must be a positive number of baud", "baudrate", "sim")
    bits = where.get(sim, "bits_per_char", int, "sim", 11)
    if not 7 <= bits <= 12:
        raise where.error("must be 7..12", "bits_per_char", "sim")
    acceleration = where.get(sim, "acceleration", (int, float), "sim", 1.0)
    if not acceleration > 0:
        raise where.error("must be positive (simulated seconds per wall-clock second)",
                          "acceleration", "sim")
    seed = where.get(sim, "seed", int, "sim", 0)
    config_args: dict[str, Any] = dict(
        transport=transport, host=where.get(sim, "host", str, "sim", "127.0.0.1"), port=port,
        baudrate=baudrate, bits_per_char=bits, acceleration=float(acceleration), seed=seed,
        start=_start_time(sim, where), utc_offset=_utc_offset(sim, where),
        tariffs=_tariffs(sim, where), file=file)

    entries = doc.get("meter")
    if not isinstance(entries, list) or not entries:
        raise where.error("a simulator needs at least one [[meter]]", None, "meter")
    meters: list[MeterConfig] = []
    first_line: dict[int, int | None] = {}
    for index, entry in enumerate(entries):
        meter = _meter_config(entry, index, seed, base, where)
        if meter.unit in first_line:
            raise where.error(f"unit {meter.unit} is used twice (first at line "
                              f"{first_line[meter.unit]})", "unit", "meter", index)
        first_line[meter.unit] = meter.line
        meters.append(meter)
    config = SimConfig(meters=tuple(meters), **config_args)
    for index, m in enumerate(config.meters):
        _check_meter(m, index, where)
    return config


def _check_meter(m: MeterConfig, index: int, where: _Where) -> None:
    """Build the meter once, one setting at a time, so an error names the key at fault."""
    clock = ManualClock(datetime(2000, 1, 1, tzinfo=timezone.utc))
    none: Mapping[str, int] = {}
    steps = (("serial", none, none), ("start_wh", m.start_wh, none),
             ("export_wh", m.start_wh, m.export_wh))
    for key, start_wh, export_wh in steps:
        try:
            VirtualMeter(m.serial, m.regmap, clock=clock, start_wh=start_wh, export_wh=export_wh)
        except ValueError as exc:
            raise where.error(str(exc), key, "meter", index) from None


def _meter_config(entry: Any, index: int, seed: int, base: Path, where: _Where) -> MeterConfig:
    if not isinstance(entry, dict):
        raise where.error("must be a table", None, "meter", index)
    where.reject_unknown(entry, _METER_KEYS, "meter", index)
    unit = where.get(entry, "unit", int, "meter", index=index)
    if not 1 <= unit <= 247:
        raise where.error(f"unit ids are 1..247, got {unit}", "unit", "meter", index)
    model = where.get(entry, "model", str, "meter", index=index)
    try:
        regmap = load_profile(base / model if model.endswith(".toml") else model)
    except ConfigError as exc:
        raise where.error(str(exc), "model", "meter", index) from None
    serial = where.get(entry, "serial", str, "meter", index=index)
    mean = where.get(entry, "mean_power_w", int, "meter", 500, index)
    if mean < 0:
        raise where.error("must be a non-negative number of W", "mean_power_w", "meter", index)
    meter_seed = where.get(entry, "seed", int, "meter", seed * 1000 + unit, index)
    start_wh = where.get(entry, "start_wh", dict, "meter", {}, index)
    export_wh = where.get(entry, "export_wh", dict, "meter", {}, index)
    raw_faults = where.get(entry, "faults", list, "meter", [], index)
    faults = []
    for fault in raw_faults:
        if not isinstance(fault, dict):
            raise where.error("each fault is a table like { kind = \"no_reply\" }", "faults",
                              "meter", index)
        unknown = set(fault) - _FAULT_KEYS
        if unknown:
            raise where.error(f"unknown fault key {sorted(unknown)[0]!r} (allowed: "
                              f"{', '.join(sorted(_FAULT_KEYS))})", "faults", "meter", index)
        try:
            faults.append(Fault(**fault))
        except (TypeError, ValueError) as exc:
            raise where.error(str(exc), "faults", "meter", index) from None
    return MeterConfig(unit=unit, regmap=regmap, serial=serial, mean_power_w=mean,
                       seed=meter_seed, start_wh=MappingProxyType(dict(start_wh)),
                       export_wh=MappingProxyType(dict(export_wh)), faults=tuple(faults),
                       line=where.line("meter", index))


def _start_time(sim: dict[str, Any], where: _Where) -> datetime | None:
    start = sim.get("start")
    if start is None:
        return None
    if isinstance(start, str):
        try:
            start = datetime.fromisoformat(start)
        except ValueError:
            raise where.error(f"not an ISO 8601 time: {start!r}", "start", "sim") from None
    if not isinstance(start, datetime) or start.tzinfo is None:
        raise where.error("must be a date-time with its UTC offset, like 2026-01-05T00:00:00Z",
                          "start", "sim")
    return start.astimezone(timezone.utc)


def _utc_offset(sim: dict[str, Any], where: _Where) -> timedelta:
    text = where.get(sim, "utc_offset", str, "sim", "+00:00")
    match = _OFFSET.match(text)
    if not match or int(match[2]) > 14 or int(match[3]) > 59:
        raise where.error(f"must be like \"+03:00\" or \"-05:00\", got {text!r}", "utc_offset",
                          "sim")
    offset = timedelta(hours=int(match[2]), minutes=int(match[3]))
    return -offset if match[1] == "-" else offset


def _tariffs(sim: dict[str, Any], where: _Where) -> TariffClock:
    table = sim.get("tariffs")
    if table is None:
        return TariffClock.default()
    if not isinstance(table, dict):
        raise where.error("must be a table of zone lists", "tariffs", "sim")
    allowed = {"default", *WEEKDAYS}
    for key in table:
        if key not in allowed:
            raise where.error(f"unknown day (allowed: default, {', '.join(WEEKDAYS)})", key,
                              "sim.tariffs")
    if "default" not in table:
        raise where.error("missing: the zones of every day not listed", "default",
                          "sim.tariffs")
    programs = {day: _zones(zones, day, where) for day, zones in table.items()}
    return TariffClock(programs.pop("default"),
                       {WEEKDAYS.index(day): zones for day, zones in programs.items()})


def _zones(value: Any, day: str, where: _Where) -> list[tuple[str, str, int]]:
    """One day's zones, checked on their own so an error names that day's line."""
    try:
        if not isinstance(value, list):
            raise ValueError("zones are a list like [[\"07:00\", \"10:00\", 1], …]")
        zones = [tuple(zone) if isinstance(zone, list) else zone for zone in value]
        TariffClock(zones)  # type: ignore[arg-type]
    except ValueError as exc:
        raise where.error(str(exc), day, "sim.tariffs") from None
    return zones  # type: ignore[return-value]


class _Where:
    """Errors that name the line of a sim.toml table or key (see ``drivers.tomlfile``)."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.line = TomlLines(text).line

    def error(self, message: str, key: str | None, table: str = "",
              index: int = 0) -> ConfigError:
        header = f"[[{table}]]" if table == "meter" else f"[{table}]" if table else ""
        label = " ".join(part for part in (header, key) if part)
        return ConfigError(message, file=self.file, line=self.line(table, index, key), key=label)

    def get(self, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], name: str,
            default: Any = ..., index: int = 0) -> Any:
        if key not in table:
            if default is ...:
                raise self.error("missing", key, name, index)
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else "number"
            raise self.error(f"must be {_NAMES.get(expected, expected)}, got {value!r}", key,
                             name, index)
        return value

    def reject_unknown(self, table: Mapping[str, Any], allowed: set[str], name: str,
                       index: int = 0) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(f"unknown key (allowed: {', '.join(sorted(allowed))})", key,
                                 name, index)


_NAMES = {"str": "a string", "int": "an integer", "dict": "a table", "list": "an array"}


def serve(config: SimConfig, out: TextIO = sys.stdout) -> int:
    """Run the simulator until SIGINT or SIGTERM, then stop it cleanly; returns the exit code."""
    return asyncio.run(_serve(config, out))


async def _serve(config: SimConfig, out: TextIO) -> int:
    sim = config.build()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        units = sorted(sim.meters)
        wire = f", wire time of {sim.baudrate} baud" if sim.baudrate else ""
        print(f"meterlink sim: {len(units)} meters on {sim.transport} {sim.address}{wire}",
              file=out)
        if sim.transport == "tcp":
            print(f"connect: Modbus TCP host {sim.host} port {sim.port}, unit ids "
                  f"{_ranges(units)}", file=out)
        else:
            print(f"connect: Modbus RTU serial port {sim.device}, unit ids {_ranges(units)}",
                  file=out)
        for m in config.meters:
            print(f"  unit {m.unit:3}: {m.regmap.model} serial {m.serial}", file=out)
        out.flush()
        print("Ctrl-C stops.", file=sys.stderr)
        await stop.wait()
    return 0


def _ranges(units: list[int]) -> str:
    runs: list[list[int]] = []
    for unit in units:
        if runs and unit == runs[-1][-1] + 1:
            runs[-1].append(unit)
        else:
            runs.append([unit])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)

