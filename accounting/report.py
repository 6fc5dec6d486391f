"""What ``meterlink history`` and ``meterlink export`` print: text for people, JSON and CSV for scripts.

Energy appears as exact Wh and as billed whole kWh (truncated); no value is ever a float.
The JSON and CSV column sets are stable: scripts rely on them.
"""

from __future__ import annotations

import csv
from typing import Any, Iterable, Sequence, TextIO

from accounting.rules import billing_kwh
from accounting.store import PeriodConsumption, Store, StoredReading, Version, iter_export_rows
from collector.reading import REGISTERS, format_time

CONSUMPTION_COLUMNS = ["serial", "account", "period"] + \
    [f"{r}_{unit}" for r in REGISTERS for unit in ("wh", "kwh")]
READING_COLUMNS = ["reading_id", "serial", "account", "taken_at", "source", "status", "period",
                   "version", "flags", "reason"] + \
    [f"{r}_{unit}" for r in REGISTERS for unit in ("wh", "kwh")]


def history_json(serial: str, readings: Sequence[StoredReading],
                 consumption: Sequence[PeriodConsumption]) -> dict[str, Any]:
    return {
        "meter": serial,
        "readings": [_reading_json(r) for r in readings],
        "consumption": [{"period": c.period, "account": c.account, "energy_wh": dict(c.wh),
                         "billing_kwh": dict(c.kwh)} for c in consumption],
    }


def _reading_json(reading: StoredReading) -> dict[str, Any]:
    return {
        "id": reading.id, "account": reading.account, "taken_at": format_time(reading.taken_at),
        "source": reading.source, "status": reading.status, "reason": reading.reason,
        "flags": list(reading.flags), "period": reading.period,
        "received_at": format_time(reading.received_at), "version": reading.version,
        "energy_wh": dict(reading.energy_wh),
        "billing_kwh": {r: billing_kwh(v) for r, v in reading.energy_wh.items()},
        "versions": [_version_json(v) for v in reading.versions],
    }


def _version_json(version: Version) -> dict[str, Any]:
    return {
        "version": version.version, "energy_wh": dict(version.energy_wh), "reason": version.reason,
        "author": version.author, "created_at": format_time(version.created_at),
        "approved_by": version.approved_by,
        "approved_at": None if version.approved_at is None else format_time(version.approved_at),
    }


def format_history(serial: str, readings: Sequence[StoredReading],
                   consumption: Sequence[PeriodConsumption]) -> str:
    """A table of a meter's readings (billed kWh, versions, flags) and its consumption by period."""
    registers = [r for r in REGISTERS if any(r in x.energy_wh for x in readings)] or ["total"]
    lines = [f"meter {serial}: {len(readings)} readings"]
    header = f"{'taken_at':24} {'source':7} {'status':9} {'period':8} " + \
        " ".join(f"{r.upper() + ' kWh':>10}" for r in registers) + "  v  flags / reason"
    lines.append(header)
    for reading in readings:
        values = " ".join(f"{_kwh(reading.energy_wh.get(r)):>10}" for r in registers)
        notes = " ".join(reading.flags)
        if reading.reason:
            notes = f"{notes} {reading.reason}".strip()
        lines.append(f"{format_time(reading.taken_at):24} {reading.source:7} {reading.status:9} "
                     f"{reading.period:8} {values} {reading.version:>2}  {notes}")
        for version in reading.versions[1:]:
            approval = f"approved by {version.approved_by}" if version.approved_by else \
                "waiting for an operator"
            changed = ", ".join(f"{r}={_kwh(v)} kWh" for r, v in version.energy_wh.items())
            lines.append(f"{'':24} v{version.version} {format_time(version.created_at)} by "
                         f"{version.author} ({approval}): {version.reason} — {changed}")
    lines.append("")
    lines.append("consumption by period (billed whole kWh)")
    lines.append(f"{'period':8} " + " ".join(f"{r.upper():>10}" for r in registers))
    for period in consumption:
        lines.append(f"{period.period:8} " + " ".join(f"{period.kwh.get(r, ''):>10}"
                                                      for r in registers))
    return "\n".join(lines)


def _kwh(wh: int | None) -> str:
    return "" if wh is None else str(billing_kwh(wh))


def write_readings_csv(store: Store, serials: Iterable[str], out: TextIO) -> int:
    """Every reading of the meters, with the values in force; returns the number of rows."""
    writer = csv.DictWriter(out, fieldnames=READING_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in iter_export_rows(store, serials):
        writer.writerow(row)
        count += 1
    return count


def write_consumption_csv(store: Store, serials: Iterable[str], out: TextIO) -> int:
    """One row per meter and billing period: consumption per register in Wh and billed kWh."""
    writer = csv.DictWriter(out, fieldnames=CONSUMPTION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for serial in serials:
        for period in store.consumption(serial):
            row: dict[str, object] = {"serial": serial, "account": period.account,
                                      "period": period.period}
            for register in REGISTERS:
                row[f"{register}_wh"] = period.wh.get(register, "")
                row[f"{register}_kwh"] = period.kwh.get(register, "")
            writer.writerow(row)
            count += 1
    return count
