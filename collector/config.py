"""The site config (``site.toml``): parsed once into frozen dataclasses, every error naming its line.

Every error, syntax or meaning ("unknown model", "duplicate unit"), points at the line a user
must edit (``drivers.tomlfile``)::

    [collector]
    id = "gw-01"            # collector id in MQTT topics and readings
    site = "home"           # site segment of the MQTT topics
    cycle_s = 60            # one poll of every meter per cycle
    stale_after_s = 86400   # unchanged energy for this long is flagged `stale`
    profiles_dir = "models" # extra meter models beside the shipped ones (relative to this file)

    [[bus]]
    name = "rs485-1"
    transport = "rtu"       # rtu | tcp
    port = "/dev/ttyUSB0"   # rtu: serial device; tcp: TCP port number (default 502)
    baudrate = 9600
    parity = "N"            # N | E | O
    stopbits = 1
    timeout_s = 1.0
    retries = 2             # extra attempts per meter per cycle
    backoff_after = 3       # consecutive failed cycles before a meter is probed less often
    max_backoff_cycles = 16
    connections = 1         # tcp only: parallel connections (each runs one transaction at a time)

    [[meter]]
    bus = "rs485-1"
    unit = 1
    model = "abb-b23"
    serial = "12345678"     # optional when the model has a serial register
    account = "5001234567"

    [mqtt]                  # optional; parsed by the mqtt package
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

from drivers import RegisterMap, load_profile
from drivers.errors import ConfigError
from drivers.tomlfile import TomlLines, parse_toml, read_text

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class CollectorSection:
    id: str
    site: str
    cycle_s: float = 60.0
    stale_after_s: float = 86400.0


@dataclass(frozen=True)
class BusConfig:
    name: str
    transport: Literal["rtu", "tcp"]
    port: str                 # serial device for rtu; str(TCP port) for tcp
    host: str = ""
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    timeout_s: float = 1.0
    retries: int = 2
    backoff_after: int = 3
    max_backoff_cycles: int = 16
    connections: int = 1      # tcp: parallel connections to the gateway (pymodbus serializes each)


@dataclass(frozen=True)
class MeterConfig:
    bus: str
    unit: int
    model: RegisterMap
    serial: str = ""
    account: str = ""
    line: int = 0

    @property
    def label(self) -> str:
        return self.serial or f"{self.bus}/{self.unit}"


@dataclass(frozen=True)
class SiteConfig:
    collector: CollectorSection
    buses: tuple[BusConfig, ...]
    meters: tuple[MeterConfig, ...]
    mqtt: Mapping[str, Any] | None
    path: str
    lines: TomlLines

    def meters_on(self, bus: str) -> tuple[MeterConfig, ...]:
        return tuple(m for m in self.meters if m.bus == bus)


def load_config(path: str | Path) -> SiteConfig:
    path = Path(path)
    return parse_config(read_text(path), file=str(path), base_dir=path.parent)


def parse_config(text: str, *, file: str = "<config>", base_dir: Path = Path(".")) -> SiteConfig:
    return _Parser(parse_toml(text, file), TomlLines(text), file, base_dir).parse()


class _Parser:
    def __init__(self, doc: dict[str, Any], lines: TomlLines, file: str, base_dir: Path) -> None:
        self.doc = doc
        self.lines = lines
        self.file = file
        self.base_dir = base_dir

    def error(self, message: str, table: str, index: int | None = None,
              key: str | None = None) -> ConfigError:
        where = f"[[{table}]]" if index is not None else f"[{table}]"
        name = f"{where} {key}" if key else where
        return ConfigError(message, file=self.file, line=self.lines.line(table, index or 0, key),
                           key=name)

    def parse(self) -> SiteConfig:
        unknown = set(self.doc) - {"collector", "bus", "meter", "mqtt"}
        if unknown:
            name = sorted(unknown)[0]
            raise self.error("unknown table (expected collector, bus, meter, mqtt)", name)
        collector, extra_dirs = self.collector()
        buses = self.buses()
        meters = self.meters({b.name: b for b in buses}, extra_dirs)
        mqtt = self.doc.get("mqtt")
        if mqtt is not None and not isinstance(mqtt, dict):
            raise self.error("must be a table", "mqtt")
        return SiteConfig(collector, buses, meters, mqtt, self.file, self.lines)

    def collector(self) -> tuple[CollectorSection, tuple[Path, ...]]:
        table = self.doc.get("collector")
        if not isinstance(table, dict):
            raise ConfigError("missing [collector] table (id and site)", file=self.file,
                              key="[collector]")
        self.only(table, {"id", "site", "cycle_s", "stale_after_s", "profiles_dir"}, "collector")
        ident = self.text(table, "id", "collector", None)
        site = self.text(table, "site", "collector", None)
        for key, value in (("id", ident), ("site", site)):
            if not _ID.match(value):
                raise self.error("letters, digits, '_', '.' or '-' only (it is an MQTT topic "
                                 "segment)", "collector", None, key)
        cycle = self.number(table, "cycle_s", "collector", None, 60.0, minimum=0.0)
        stale = self.number(table, "stale_after_s", "collector", None, 86400.0, minimum=0.0)
        extra: tuple[Path, ...] = ()
        if "profiles_dir" in table:
            directory = self.base_dir / self.text(table, "profiles_dir", "collector", None)
            if not directory.is_dir():
                raise self.error(f"not a directory: {directory}", "collector", None,
                                 "profiles_dir")
            extra = (directory,)
        return CollectorSection(ident, site, cycle, stale), extra

    def buses(self) -> tuple[BusConfig, ...]:
        entries = self.array("bus")
        buses: list[BusConfig] = []
        names: set[str] = set()
        for i, table in enumerate(entries):
            self.only(table, {"name", "transport", "port", "host", "baudrate", "parity",
                              "stopbits", "timeout_s", "retries", "backoff_after",
                              "max_backoff_cycles", "connections"}, "bus", i)
            name = self.text(table, "name", "bus", i)
            if name in names:
                raise self.error(f"bus name {name!r} used twice", "bus", i, "name")
            names.add(name)
            transport = self.text(table, "transport", "bus", i)
            if transport not in ("rtu", "tcp"):
                raise self.error(f"must be 'rtu' or 'tcp', got {transport!r}", "bus", i,
                                 "transport")
            common = dict(
                timeout_s=self.number(table, "timeout_s", "bus", i, 1.0, minimum=0.001),
                retries=int(self.number(table, "retries", "bus", i, 2, minimum=0, integer=True)),
                backoff_after=int(self.number(table, "backoff_after", "bus", i, 3, minimum=1,
                                              integer=True)),
                max_backoff_cycles=int(self.number(table, "max_backoff_cycles", "bus", i, 16,
                                                   minimum=1, integer=True)),
            )
            if transport == "rtu":
                if "connections" in table:
                    raise self.error("an RTU bus is half-duplex: one connection only", "bus", i,
                                     "connections")
                if "port" not in table:
                    raise self.error("missing: the serial device, e.g. \"/dev/ttyUSB0\"", "bus",
                                     i, "port")
                port = self.text(table, "port", "bus", i)
                parity = table.get("parity", "N")
                if parity not in ("N", "E", "O"):
                    raise self.error(f"must be \"N\", \"E\" or \"O\", got {parity!r}", "bus", i,
                                     "parity")
                stopbits = table.get("stopbits", 1)
                if stopbits not in (1, 2):
                    raise self.error(f"must be 1 or 2, got {stopbits!r}", "bus", i, "stopbits")
                baud = int(self.number(table, "baudrate", "bus", i, 9600, minimum=300,
                                       integer=True))
                buses.append(BusConfig(name, "rtu", port, baudrate=baud, parity=parity,
                                       stopbits=stopbits, **common))  # type: ignore[arg-type]
            else:
                if "host" not in table:
                    raise self.error("missing: the gateway's host name or address", "bus", i,
                                     "host")
                host = self.text(table, "host", "bus", i)
                port_no = int(self.number(table, "port", "bus", i, 502, minimum=1, integer=True))
                if port_no > 65535:
                    raise self.error("must be a TCP port 1..65535", "bus", i, "port")
                connections = int(self.number(table, "connections", "bus", i, 1, minimum=1,
                                              integer=True))
                buses.append(BusConfig(name, "tcp", str(port_no), host=host,
                                       connections=connections,
                                       **common))  # type: ignore[arg-type]
        return tuple(buses)

    def meters(self, buses: Mapping[str, BusConfig],
               extra_dirs: tuple[Path, ...]) -> tuple[MeterConfig, ...]:
        entries = self.array("meter")
        meters: list[MeterConfig] = []
        units: dict[tuple[str, int], int] = {}
        serials: set[str] = set()
        models: dict[str, RegisterMap] = {}
        for i, table in enumerate(entries):
            self.only(table, {"bus", "unit", "model", "serial", "account"}, "meter", i)
            bus = self.text(table, "bus", "meter", i)
            if bus not in buses:
                known = ", ".join(buses) or "none defined"
                raise self.error(f"no [[bus]] named {bus!r} (known: {known})", "meter", i, "bus")
            unit = int(self.number(table, "unit", "meter", i, None, minimum=1, integer=True))
            if unit > 247:
                raise self.error("a Modbus unit id is 1..247", "meter", i, "unit")
            if (bus, unit) in units:
                raise self.error(f"unit {unit} on bus {bus!r} is already meter #{units[bus, unit]}"
                                 f" (line {self.lines.line('meter', units[bus, unit] - 1)})",
                                 "meter", i, "unit")
            units[(bus, unit)] = i + 1
            model_name = self.text(table, "model", "meter", i)
            if model_name not in models:  # a site of 10 000 meters has a handful of models
                try:
                    models[model_name] = load_profile(model_name, extra_dirs)
                except ConfigError as exc:
                    raise self.error(str(exc), "meter", i, "model") from exc
            model = models[model_name]
            serial = str(table.get("serial", ""))
            if not serial and "serial" not in model.quantities:
                raise self.error(f"model {model.model} has no serial register: give `serial`",
                                 "meter", i)
            if serial:
                if serial in serials:
                    raise self.error(f"serial {serial!r} used twice", "meter", i, "serial")
                serials.add(serial)
            account = str(table.get("account", ""))
            meters.append(MeterConfig(bus, unit, model, serial, account,
                                      self.lines.line("meter", i) or 0))
        return tuple(meters)

    # -- typed getters; each error names the table entry and key --------------------------------

    def array(self, name: str) -> list[dict[str, Any]]:
        entries = self.doc.get(name, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.error(f"must be written [[{name}]]", name)
        return entries

    def only(self, table: Mapping[str, Any], allowed: set[str], name: str,
             index: int | None = None) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(f"unknown key (allowed: {', '.join(sorted(allowed))})", name,
                                 index, key)

    def text(self, table: Mapping[str, Any], key: str, name: str, index: int | None) -> str:
        if key not in table:
            raise self.error("missing", name, index, key)
        value = table[key]
        if not isinstance(value, str) or not value:
            raise self.error(f"must be a non-empty string, got {value!r}", name, index, key)
        return value

    def number(self, table: Mapping[str, Any], key: str, name: str, index: int | None,
               default: float | None, *, minimum: float, integer: bool = False) -> float:
        if key not in table:
            if default is None:
                raise self.error("missing", name, index, key)
            return default
        value = table[key]
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            kind = "an integer" if integer else "a number"
            raise self.error(f"must be {kind}, got {value!r}", name, index, key)
        if value < minimum:
            raise self.error(f"must be ≥ {minimum:g}, got {value!r}", name, index, key)
        return value
