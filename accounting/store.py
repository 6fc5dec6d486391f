"""The accounting store: readings kept exactly once, with the retailer's rules applied at commit.

``Store.open("sqlite:///readings.db")`` (the default) or ``Store.open("postgresql://…")`` (psycopg 3)
give the same behaviour over the same SQL; the only differences (placeholders, identity columns,
how concurrent workers are serialised per meter) live in the two backends at the bottom.

- ``ingest`` takes a batch of readings and stores each new one in one transaction, keyed by the
  reading id: a redelivered reading is a no-op. Every reading is kept — a rejected one (a
  ``decrease``, a wrong tariff count, a decommissioned meter) with its reason — so its id can be
  acknowledged and nothing is lost. Malformed payloads are kept too, with their topic and error.
- Corrections never overwrite: each is a new version with who, when and why; within 24 hours of
  submission it applies at once, later it waits for an operator's ``approve``.
- ``replace_meter`` records a meter replacement: the new serial's commissioning record (initial
  register values) is where its consumption starts.
- ``history`` and ``consumption`` answer ``meterlink history``; ``iter_export_rows`` feeds the CSV export.

sqlite3 and psycopg errors become ``StoreError`` here and nowhere else.
"""

from __future__ import annotations

import abc
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

from accounting.rules import (DAY_MS, Point, Rules, Typical, Verdict, billing_kwh, check_registers,
                              check_step, register_capacity)
from accounting.windows import Window, calendar_period, shipped_windows
from collector.reading import REGISTERS, Reading, format_time
from collector.spool import epoch_ms
from drivers.errors import StoreError

_COLUMNS = tuple(f"{r}_wh" for r in REGISTERS)
_IN_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meters (
    serial            TEXT PRIMARY KEY,
    account           TEXT NOT NULL,
    model             TEXT NOT NULL,
    tariffs           INTEGER NOT NULL,
    capacity_wh       BIGINT,
    max_power_w       BIGINT,
    commissioned_ms   BIGINT,
    initial_wh        TEXT,
    decommissioned_ms BIGINT,
    replaced_by       TEXT
);
CREATE TABLE IF NOT EXISTS settings (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO settings (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS accounts (
    account TEXT PRIMARY KEY,
    region  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS readings (
    id              TEXT PRIMARY KEY,
    serial          TEXT NOT NULL,
    account         TEXT NOT NULL,
    site            TEXT NOT NULL,
    collector       TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    taken_ms        BIGINT NOT NULL,
    source          TEXT NOT NULL,
    tariffs         INTEGER NOT NULL,
    total_wh BIGINT, t1_wh BIGINT, t2_wh BIGINT, t3_wh BIGINT, t4_wh BIGINT,
    status          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    flags           TEXT NOT NULL,
    period          TEXT NOT NULL,
    received_ms     BIGINT NOT NULL,
    current_version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_meter_time ON readings (serial, taken_ms);
CREATE TABLE IF NOT EXISTS corrections (
    reading_id  TEXT NOT NULL REFERENCES readings (id),
    version     INTEGER NOT NULL,
    total_wh BIGINT, t1_wh BIGINT, t2_wh BIGINT, t3_wh BIGINT, t4_wh BIGINT,
    reason      TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    approved_by TEXT,
    approved_ms BIGINT,
    PRIMARY KEY (reading_id, version)
);
CREATE TABLE IF NOT EXISTS malformed (
    id          {auto_id},
    topic       TEXT NOT NULL,
    error       TEXT NOT NULL,
    payload     {blob} NOT NULL,
    received_ms BIGINT NOT NULL
);
{create_view} effective AS
    SELECT r.id, r.serial, r.account, r.taken_ms, r.status, r.period, r.current_version AS version,
           CASE WHEN r.current_version = 1 THEN r.total_wh ELSE c.total_wh END AS total_wh,
           CASE WHEN r.current_version = 1 THEN r.t1_wh ELSE c.t1_wh END AS t1_wh,
           CASE WHEN r.current_version = 1 THEN r.t2_wh ELSE c.t2_wh END AS t2_wh,
           CASE WHEN r.current_version = 1 THEN r.t3_wh ELSE c.t3_wh END AS t3_wh,
           CASE WHEN r.current_version = 1 THEN r.t4_wh ELSE c.t4_wh END AS t4_wh
    FROM readings r
    LEFT JOIN corrections c ON c.reading_id = r.id AND c.version = r.current_version;
"""


@dataclass(frozen=True)
class Incoming:
    """A validated reading as it came off the broker."""

    site: str
    reading: Reading


@dataclass(frozen=True)
class Malformed:
    """A payload that is not a reading: kept with its topic and the reason."""

    topic: str
    payload: bytes
    error: str


@dataclass(frozen=True)
class Outcome:
    """What became of one incoming reading: ``stored``, ``rejected`` or ``duplicate``."""

    reading_id: str
    site: str
    collector: str
    status: str
    reason: str = ""
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Version:
    """One version of a reading's values: 1 as received, then each correction."""

    version: int
    energy_wh: Mapping[str, int]
    reason: str
    author: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None


@dataclass(frozen=True)
class StoredReading:
    """A reading as the store keeps it, with the values in force and every version."""

    id: str
    serial: str
    account: str
    taken_at: datetime
    source: str
    status: str
    reason: str
    flags: tuple[str, ...]
    period: str
    received_at: datetime
    version: int
    energy_wh: Mapping[str, int]
    versions: tuple[Version, ...] = field(default=())

    def billing_kwh(self, register: str) -> int:
        return billing_kwh(self.energy_wh[register])


@dataclass(frozen=True)
class PeriodConsumption:
    """What a meter consumed in one billing period, per register, in Wh and in billed whole kWh."""

    serial: str
    account: str
    period: str
    wh: Mapping[str, int]
    kwh: Mapping[str, int]


@dataclass(frozen=True)
class _Meter:
    serial: str
    account: str
    tariffs: int
    capacity_wh: int | None
    max_power_w: int | None
    commissioned_ms: int | None
    initial_wh: Mapping[str, int] | None
    decommissioned_ms: int | None
    replaced_by: str | None


class Store:
    """Readings, meters, corrections and queries over one database; see the module docstring."""

    def __init__(self, backend: _Backend, *, rules: Rules = Rules(),
                 windows: Mapping[str, Window] | None = None) -> None:
        self._db = backend
        self.rules = rules
        self.windows = windows if windows is not None else shipped_windows()
        self._meters: dict[str, _Meter] = {}
        self._regions: dict[str, str | None] = {}
        self._cache_version = -1
        self._db.create_schema()

    @classmethod
    def open(cls, url: str, *, rules: Rules = Rules(),
             windows: Mapping[str, Window] | None = None) -> Store:
        """``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``postgresql://user@host/db``."""
        scheme = urlsplit(url).scheme
        backend: _Backend
        if scheme == "sqlite":
            path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
            if not path:
                raise StoreError(f"expected sqlite:///PATH, got {url!r}")
            backend = _SQLite(Path(path))
        elif scheme in ("postgresql", "postgres"):
            backend = _Postgres(url)
        else:
            raise StoreError(f"unknown database {url!r}: use sqlite:///PATH or postgresql://…")
        return cls(backend, rules=rules, windows=windows)

    def close(self) -> None:
        self._db.close()

    # -- ingest ------------------------------------------------------------------------------

    def ingest(self, items: Sequence[Incoming], malformed: Sequence[Malformed] = (),
               *, now: datetime | None = None) -> list[Outcome]:
        """Store a batch in one transaction; one outcome per item, in the items' order."""
        now_ms = epoch_ms(now or datetime.now(timezone.utc))
        try:
            with self._db.transaction(sorted({i.reading.meter.serial for i in items})):
                self._check_cache()
                outcomes = self._ingest(items, malformed, now_ms)
        except StoreError:
            self._forget_cache()
            raise
        return [outcomes[i] for i in range(len(items))]

    def _ingest(self, items: Sequence[Incoming], malformed: Sequence[Malformed],
                now_ms: int) -> dict[int, Outcome]:
        known = self._existing_ids([i.reading.id for i in items])
        outcomes: dict[int, Outcome] = {}
        fresh: list[tuple[int, Incoming]] = []
        for index, item in enumerate(items):
            if item.reading.id in known:
                outcomes[index] = _outcome(item, "duplicate")
            else:
                known.add(item.reading.id)
                fresh.append((index, item))
        fresh.sort(key=lambda pair: (pair[1].reading.meter.serial, pair[1].reading.taken_at))
        # Readings of one meter within the batch are judged in taken_at order, each against the
        # last one accepted before it, in this batch or already stored.
        accepted: dict[str, Point] = {}
        rows = []
        for index, item in fresh:
            verdict = self._judge(item.reading, accepted.get(item.reading.meter.serial))
            rows.append(self._row(item, verdict, now_ms))
            if verdict.accepted:
                accepted[item.reading.meter.serial] = Point(epoch_ms(item.reading.taken_at),
                                                            item.reading.energy_wh)
            outcomes[index] = _outcome(item, "stored" if verdict.accepted else "rejected",
                                       verdict)
        self._db.execute_many(
            f"INSERT INTO readings (id, serial, account, site, collector, seq, taken_ms, source, "
            f"tariffs, {', '.join(_COLUMNS)}, status, reason, flags, period, received_ms, "
            f"current_version) VALUES ({', '.join('?' * (20))})", rows)
        for bad in malformed:
            self._db.execute("INSERT INTO malformed (topic, error, payload, received_ms) "
                             "VALUES (?, ?, ?, ?)", (bad.topic, bad.error, bad.payload, now_ms))
        return outcomes

    def _check_cache(self) -> None:
        """Meters and accounts change rarely (a replacement, a region): cache them between
        batches, and drop the cache when ``settings.version`` says anyone changed one."""
        version = int(self._db.query("SELECT version FROM settings WHERE id = 1")[0][0])
        if version != self._cache_version:
            self._forget_cache()
            self._cache_version = version

    def _forget_cache(self) -> None:
        self._meters.clear()
        self._regions.clear()
        self._cache_version = -1

    def _settings_changed(self) -> None:
        self._db.execute("UPDATE settings SET version = version + 1 WHERE id = 1")
        self._forget_cache()

    def _existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start:start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._db.query(f"SELECT id FROM readings WHERE id IN ({marks})",
                                                      chunk))
        return found

    def _judge(self, reading: Reading, earlier_in_batch: Point | None) -> Verdict:
        meter = self._meter_for(reading)
        taken_ms = epoch_ms(reading.taken_at)
        if meter.decommissioned_ms is not None and taken_ms > meter.decommissioned_ms:
            return Verdict(f"decommissioned: replaced by {meter.replaced_by} at "
                           f"{_time_text(meter.decommissioned_ms)}")
        if meter.commissioned_ms is not None and taken_ms < meter.commissioned_ms:
            return Verdict(f"before_commissioning: commissioned at {_time_text(meter.commissioned_ms)}")
        registers = check_registers(reading.energy_wh, reading.tariffs, meter.tariffs, self.rules)
        if not registers.accepted:
            return registers
        point = Point(taken_ms, reading.energy_wh)
        before, after, typical = self._neighbours(meter, taken_ms, earlier_in_batch)
        max_power = meter.max_power_w or self.rules.max_power_w
        flags = list(reading.quality.flags) + list(registers.flags)
        if before is not None:
            step = check_step(before, point, capacity_wh=meter.capacity_wh, max_power_w=max_power,
                              typical=typical, rules=self.rules)
            if not step.accepted:
                return step
            flags += step.flags
        if after is not None:
            later = check_step(point, after, capacity_wh=meter.capacity_wh, max_power_w=max_power,
                               typical=None, rules=self.rules)
            if not later.accepted:
                return Verdict(f"{later.reason} (a later reading is already stored)")
        return Verdict(flags=tuple(dict.fromkeys(flags)))

    def _meter_for(self, reading: Reading) -> _Meter:
        serial = reading.meter.serial
        cached = self._meters.get(serial)
        if cached is not None:
            return cached
        self._db.execute(
            "INSERT INTO meters (serial, account, model, tariffs) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (serial) DO NOTHING",
            (serial, reading.meter.account, reading.meter.model, reading.tariffs))
        meter = self._meter(serial)
        assert meter is not None
        self._meters[serial] = meter
        return meter

    def _meter(self, serial: str) -> _Meter | None:
        rows = self._db.query(
            "SELECT serial, account, tariffs, capacity_wh, max_power_w, commissioned_ms, "
            "initial_wh, decommissioned_ms, replaced_by FROM meters WHERE serial = ?", (serial,))
        if not rows:
            return None
        s, account, tariffs, capacity, power, commissioned, initial, decommissioned, by = rows[0]
        return _Meter(s, account, tariffs, capacity, power, commissioned,
                      json.loads(initial) if initial else None, decommissioned, by)

    def _neighbours(self, meter: _Meter, taken_ms: int, earlier_in_batch: Point | None
                    ) -> tuple[Point | None, Point | None, Typical | None]:
        """The accepted readings just before and just after ``taken_ms`` (before the first one,
        the commissioning record), and the typical consumption up to the one before.

        One query: the neighbours and the first reading of the typical span are three branches.
        """
        columns = ", ".join(_COLUMNS)
        accepted = "FROM effective WHERE serial = ? AND status = 'accepted' AND taken_ms"
        rows = self._db.query(
            f"SELECT * FROM (SELECT 0 AS side, taken_ms, {columns} {accepted} < ? "
            f"ORDER BY taken_ms DESC LIMIT 1) AS before_ UNION ALL "
            f"SELECT * FROM (SELECT 1 AS side, taken_ms, {columns} {accepted} > ? "
            f"ORDER BY taken_ms ASC LIMIT 1) AS after_ UNION ALL "
            f"SELECT * FROM (SELECT 2 AS side, taken_ms, {columns} {accepted} >= ? "
            f"AND taken_ms < ? AND total_wh IS NOT NULL ORDER BY taken_ms ASC LIMIT 1) AS first_",
            (meter.serial, taken_ms, meter.serial, taken_ms, meter.serial,
             taken_ms - self.rules.typical_span_ms, taken_ms))
        found = {row[0]: Point(row[1], _energy(row[2:])) for row in rows}
        before = found.get(0)
        if earlier_in_batch is not None and earlier_in_batch.taken_ms < taken_ms and \
                (before is None or earlier_in_batch.taken_ms > before.taken_ms):
            before = earlier_in_batch
        if before is None and meter.commissioned_ms is not None and meter.initial_wh is not None:
            before = Point(meter.commissioned_ms, meter.initial_wh)
        return before, found.get(1), _typical(found.get(2), before)

    def _period(self, account: str, taken_at: datetime) -> tuple[str, bool]:
        if account not in self._regions:
            rows = self._db.query("SELECT region FROM accounts WHERE account = ?", (account,))
            self._regions[account] = rows[0][0] if rows else None
        region = self._regions[account]
        if region is None:
            return calendar_period(taken_at), True
        return self.windows[region].period_of(taken_at)

    def _row(self, item: Incoming, verdict: Verdict, now_ms: int) -> tuple[Any, ...]:
        reading = item.reading
        period, in_window = self._period(reading.meter.account, reading.taken_at)
        flags = verdict.flags if in_window else (*verdict.flags, "outside_window")
        return (reading.id, reading.meter.serial, reading.meter.account, item.site, reading.collector,
             reading.seq, epoch_ms(reading.taken_at), reading.source, reading.tariffs,
             *(reading.energy_wh.get(r) for r in REGISTERS),
             "accepted" if verdict.accepted else "rejected", verdict.reason, ",".join(flags),
             period, now_ms, 1)

    # -- meters, accounts, corrections --------------------------------------------------------

    def set_region(self, account: str, region: str) -> None:
        """Which submission windows an account's readings follow (a code of the windows file)."""
        if region not in self.windows:
            raise StoreError(f"unknown region {region!r}; known: {', '.join(sorted(self.windows))}")
        with self._db.transaction():
            self._db.execute("INSERT INTO accounts (account, region) VALUES (?, ?) "
                             "ON CONFLICT (account) DO UPDATE SET region = excluded.region",
                             (account, region))
            self._settings_changed()

    def set_meter_limits(self, serial: str, *, capacity_wh: int | None = None,
                         max_power_w: int | None = None) -> None:
        """A meter's register capacity (for rollovers) and its supply's maximum power (for jumps)."""
        with self._db.transaction([serial]):
            if self._meter(serial) is None:
                raise StoreError(f"unknown meter {serial}")
            self._db.execute("UPDATE meters SET capacity_wh = ?, max_power_w = ? WHERE serial = ?",
                             (capacity_wh, max_power_w, serial))
            self._settings_changed()

    def replace_meter(self, *, account: str, old: str, new: str, initial_wh: Mapping[str, int],
                      at: datetime, tariffs: int | None = None, model: str = "") -> None:
        """Retire ``old`` at ``at`` and commission ``new`` on the same account from ``initial_wh``."""
        bad = [r for r in initial_wh if r not in REGISTERS]
        if bad or not initial_wh:
            raise StoreError(f"initial reading needs registers from {', '.join(REGISTERS)}; got "
                             f"{', '.join(initial_wh) or 'none'}")
        count = tariffs if tariffs is not None else sum(1 for r in initial_wh if r != "total")
        at_ms = epoch_ms(at)
        with self._db.transaction(sorted({old, new})):
            old_meter = self._meter(old)
            if old_meter is None:
                raise StoreError(f"unknown meter {old}")
            if old_meter.account != account:
                raise StoreError(f"meter {old} belongs to account {old_meter.account!r}, not {account!r}")
            if old_meter.decommissioned_ms is not None:
                raise StoreError(f"meter {old} was already replaced by {old_meter.replaced_by}")
            if self._meter(new) is not None:
                raise StoreError(f"meter {new} is already known; a replacement needs a new serial")
            self._db.execute("UPDATE meters SET decommissioned_ms = ?, replaced_by = ? WHERE serial = ?",
                             (at_ms, new, old))
            self._db.execute(
                "INSERT INTO meters (serial, account, model, tariffs, commissioned_ms, initial_wh) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (new, account, model, count, at_ms, json.dumps(dict(initial_wh), sort_keys=True)))
            self._settings_changed()

    def correct(self, reading_id: str, energy_wh: Mapping[str, int], *, reason: str, author: str,
                now: datetime | None = None) -> Version:
        """Add a corrected version of a reading; it applies at once within the correction window
        of its submission, otherwise it waits for ``approve``."""
        if not reason.strip() or not author.strip():
            raise StoreError("a correction needs a reason and an author")
        now_ms = epoch_ms(now or datetime.now(timezone.utc))
        with self._db.transaction():
            rows = self._db.query("SELECT serial, received_ms, tariffs FROM readings WHERE id = ?",
                                  (reading_id,))
            if not rows:
                raise StoreError(f"unknown reading {reading_id}")
            serial, received_ms, tariffs = rows[0]
            verdict = check_registers(energy_wh, tariffs, tariffs, self.rules)
            if not verdict.accepted or any(r not in REGISTERS for r in energy_wh):
                raise StoreError(f"correction of {reading_id}: {verdict.reason or 'unknown register'}")
            version = 1 + int(self._db.query(
                "SELECT COALESCE(MAX(version), 1) FROM corrections WHERE reading_id = ?",
                (reading_id,))[0][0])
            in_window = now_ms - received_ms <= self.rules.correction_window_ms
            self._db.execute(
                f"INSERT INTO corrections (reading_id, version, {', '.join(_COLUMNS)}, reason, author, "
                f"created_ms, approved_by, approved_ms) VALUES ({', '.join('?' * 12)})",
                (reading_id, version, *(energy_wh.get(r) for r in REGISTERS), reason, author, now_ms,
                 author if in_window else None, now_ms if in_window else None))
            if in_window:
                self._db.execute("UPDATE readings SET current_version = ? WHERE id = ?",
                                 (version, reading_id))
        return self.reading(reading_id).versions[-1]

    def approve(self, reading_id: str, version: int, *, operator: str,
                now: datetime | None = None) -> Version:
        """An operator's approval of a late correction; from then on its values are in force."""
        if not operator.strip():
            raise StoreError("an approval needs the operator's name")
        now_ms = epoch_ms(now or datetime.now(timezone.utc))
        with self._db.transaction():
            rows = self._db.query("SELECT approved_by FROM corrections WHERE reading_id = ? AND "
                                  "version = ?", (reading_id, version))
            if not rows:
                raise StoreError(f"no correction {version} of reading {reading_id}")
            if rows[0][0] is not None:
                raise StoreError(f"correction {version} of {reading_id} is already approved by "
                                 f"{rows[0][0]}")
            self._db.execute("UPDATE corrections SET approved_by = ?, approved_ms = ? "
                             "WHERE reading_id = ? AND version = ?", (operator, now_ms, reading_id,
                                                                      version))
            self._db.execute("UPDATE readings SET current_version = ? WHERE id = ? AND "
                             "current_version < ?", (version, reading_id, version))
        return next(v for v in self.reading(reading_id).versions if v.version == version)

    # -- queries -----------------------------------------------------------------------------

    def count(self, status: str | None = None) -> int:
        if status is None:
            return int(self._db.query("SELECT count(*) FROM readings")[0][0])
        return int(self._db.query("SELECT count(*) FROM readings WHERE status = ?", (status,))[0][0])

    def malformed(self) -> list[Malformed]:
        return [Malformed(t, bytes(p), e) for t, p, e in
                self._db.query("SELECT topic, payload, error FROM malformed ORDER BY id")]

    def reading(self, reading_id: str) -> StoredReading:
        found = self._readings("r.id = ?", (reading_id,))
        if not found:
            raise StoreError(f"unknown reading {reading_id}")
        return found[0]

    def history(self, serial: str) -> list[StoredReading]:
        """Every reading of a meter, accepted or not, by ``taken_at``, with all versions."""
        return self._readings("r.serial = ?", (serial,))

    def serials(self) -> list[str]:
        return [r[0] for r in self._db.query("SELECT serial FROM meters ORDER BY serial")]

    def consumption(self, serial: str) -> list[PeriodConsumption]:
        """Consumption per billing period and register, from accepted readings in ``taken_at``
        order (rollovers added back), starting at the commissioning record when there is one."""
        meter = self._meter(serial)
        if meter is None:
            raise StoreError(f"unknown meter {serial}")
        rows = self._db.query(
            f"SELECT taken_ms, period, {', '.join(_COLUMNS)} FROM effective WHERE serial = ? AND "
            f"status = 'accepted' ORDER BY taken_ms", (serial,))
        previous = meter.initial_wh
        per_period: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
        for row in rows:
            energy = _energy(row[2:])
            wh, kwh = per_period.setdefault(row[1], ({}, {}))
            if previous is not None:
                for register, value in energy.items():
                    if register not in previous:
                        continue
                    old = previous[register]
                    wrap = 0
                    if value < old:
                        wrap = meter.capacity_wh or register_capacity(old) or 0
                    wh[register] = wh.get(register, 0) + value + wrap - old
                    kwh[register] = kwh.get(register, 0) + billing_kwh(value) + billing_kwh(wrap) \
                        - billing_kwh(old)
            previous = energy
        return [PeriodConsumption(serial, meter.account, period, wh, kwh)
                for period, (wh, kwh) in sorted(per_period.items())]

    def _readings(self, where: str, params: Sequence[Any]) -> list[StoredReading]:
        rows = self._db.query(
            f"SELECT r.id, r.serial, r.account, r.taken_ms, r.source, r.status, r.reason, r.flags, "
            f"r.period, r.received_ms, r.current_version, {', '.join('r.' + c for c in _COLUMNS)} "
            f"FROM readings r WHERE {where} ORDER BY r.taken_ms, r.id", params)
        corrections: dict[str, list[Version]] = {}
        for row in self._db.query(
                f"SELECT c.reading_id, c.version, {', '.join('c.' + c for c in _COLUMNS)}, c.reason, "
                f"c.author, c.created_ms, c.approved_by, c.approved_ms FROM corrections c "
                f"JOIN readings r ON r.id = c.reading_id WHERE {where} ORDER BY c.version", params):
            corrections.setdefault(row[0], []).append(_version(row[1:]))
        found = []
        for row in rows:
            original = Version(1, _energy(row[11:]), "as received", "meter", _time(row[9]), None, None)
            versions = (original, *corrections.get(row[0], ()))
            current = next(v for v in versions if v.version == row[10])
            found.append(StoredReading(
                id=row[0], serial=row[1], account=row[2], taken_at=_time(row[3]), source=row[4],
                status=row[5], reason=row[6], flags=tuple(f for f in row[7].split(",") if f),
                period=row[8], received_at=_time(row[9]), version=row[10],
                energy_wh=current.energy_wh, versions=versions))
        return found



def _outcome(item: Incoming, status: str, verdict: Verdict = Verdict()) -> Outcome:
    return Outcome(item.reading.id, item.site, item.reading.collector, status, verdict.reason,
                   verdict.flags)


def _typical(first: Point | None, latest: Point | None) -> Typical | None:
    """Total consumption from ``first`` to ``latest`` when they span at least a day."""
    if first is None or latest is None or "total" not in latest.energy_wh \
            or latest.taken_ms - first.taken_ms < DAY_MS:
        return None
    used = latest.energy_wh["total"] - first.energy_wh["total"]
    return Typical(used, latest.taken_ms - first.taken_ms) if used >= 0 else None


def _version(row: Sequence[Any]) -> Version:
    """A ``corrections`` row from its version column on."""
    return Version(row[0], _energy(row[1:6]), row[6], row[7], _time(row[8]), row[9],
                   None if row[10] is None else _time(row[10]))


def _energy(values: Sequence[int | None]) -> dict[str, int]:
    return {r: int(v) for r, v in zip(REGISTERS, values) if v is not None}


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, timezone.utc).replace(microsecond=ms % 1000 * 1000)


def _time_text(ms: int) -> str:
    return format_time(_time(ms))


# -- backends ----------------------------------------------------------------------------------


class _Backend(abc.ABC):
    """What the store needs from a database: statements with ``?`` marks and a transaction."""

    ddl: Mapping[str, str]

    def create_schema(self) -> None:
        with self.transaction():
            for statement in _SCHEMA.format(**self.ddl).split(";"):
                if statement.strip():
                    self.execute(statement)

    def transaction(self, serials: Sequence[str] = ()) -> _Transaction:
        """A transaction in which no other worker changes the readings of ``serials``."""
        return _Transaction(self, serials)

    @abc.abstractmethod
    def begin(self, serials: Sequence[str]) -> None:
        ...

    def commit(self) -> None:
        self.execute("COMMIT")

    @abc.abstractmethod
    def rollback(self) -> None:
        ...

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        ...

    @abc.abstractmethod
    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        ...

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        ...

    @abc.abstractmethod
    def close(self) -> None:
        ...


class _Transaction:
    def __init__(self, backend: _Backend, serials: Sequence[str]) -> None:
        self._backend = backend
        self._serials = serials

    def __enter__(self) -> None:
        self._backend.begin(self._serials)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if exc_type is None:
            self._backend.commit()
        else:
            self._backend.rollback()


class _SQLite(_Backend):
    ddl = {"auto_id": "INTEGER PRIMARY KEY", "blob": "BLOB", "create_view": "CREATE VIEW IF NOT EXISTS"}

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # An acknowledged reading is deleted from the collector's spool: the commit must
            # survive power loss, not only a crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=30000")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"sqlite {path}: {exc}") from exc

    def begin(self, serials: Sequence[str]) -> None:
        # IMMEDIATE takes the write lock now, so workers sharing the file take turns per batch
        # and each sees the other's committed readings before judging its own.
        self.execute("BEGIN IMMEDIATE")

    def rollback(self) -> None:
        if self._db.in_transaction:
            self.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()


class _Postgres(_Backend):
    ddl = {"auto_id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "blob": "BYTEA",
           "create_view": "CREATE OR REPLACE VIEW"}

    def __init__(self, url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self._where = _redacted(url)
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"postgresql {self._where}: {exc}") from exc

    def create_schema(self) -> None:
        # Concurrent workers creating the schema at once would race in the catalog.
        with self.transaction(["meterlink schema"]):
            for statement in _SCHEMA.format(**self.ddl).split(";"):
                if statement.strip():
                    self.execute(statement)

    def begin(self, serials: Sequence[str]) -> None:
        self.execute("BEGIN")
        # Workers of the shared group serialise per meter, always locking in sorted order.
        for serial in serials:
            self.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (serial,))

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self._db.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
        except self._psycopg.Error as exc:
            raise StoreError(f"postgresql {self._where}: {exc}") from exc

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            with self._db.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), rows)  # type: ignore[arg-type]
        except self._psycopg.Error as exc:
            raise StoreError(f"postgresql {self._where}: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql.replace("?", "%s"), params).fetchall()  # type: ignore[arg-type]
        except self._psycopg.Error as exc:
            raise StoreError(f"postgresql {self._where}: {exc}") from exc

    def close(self) -> None:
        self._db.close()


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def iter_export_rows(store: Store, serials: Iterable[str]) -> Iterator[dict[str, object]]:
    """One row per reading, with the values in force and the billed whole kWh."""
    for serial in serials:
        for reading in store.history(serial):
            row: dict[str, object] = {
                "reading_id": reading.id, "serial": reading.serial, "account": reading.account,
                "taken_at": format_time(reading.taken_at), "source": reading.source,
                "status": reading.status, "period": reading.period, "version": reading.version,
                "flags": " ".join(reading.flags), "reason": reading.reason,
            }
            for register in REGISTERS:
                value = reading.energy_wh.get(register)
                row[f"{register}_wh"] = "" if value is None else value
                row[f"{register}_kwh"] = "" if value is None else billing_kwh(value)
            yield row
