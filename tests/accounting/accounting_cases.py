"""Readings as the retailer's cases describe them: a meter, a moment, register values in Wh."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from accounting.store import Incoming
from collector.reading import MeterRef, Reading

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc)


def reading(serial: str = "11223344", *, at: datetime = T0, hours: float = 0.0,
            total: int | None = None, t1: int | None = None, t2: int | None = None,
            t3: int | None = None, tariffs: int | None = None, account: str = "5001234567",
            source: str = "modbus", collector: str = "gw-01") -> Reading:
    """A reading ``hours`` after ``at``; tariffs default to the T registers given."""
    energy = {k: v for k, v in (("total", total), ("t1", t1), ("t2", t2), ("t3", t3))
              if v is not None}
    count = tariffs if tariffs is not None else sum(1 for k in energy if k != "total")
    return Reading(meter=MeterRef(serial, "abb-b23", account), taken_at=at + timedelta(hours=hours),
                   source=source, energy_wh=energy, tariffs=count, collector=collector)  # type: ignore[arg-type]


def incoming(*readings: Reading) -> list[Incoming]:
    return [Incoming("site-1", r) for r in readings]
