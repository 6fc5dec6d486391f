"""The reading: what every source produces and every sink consumes (schema ``meterlink.reading/1``).

A Modbus poll, a photo and a QR code all end here, so the accounting side sees one shape.
Energy is an ``int`` of watt-hours end to end; billing values are derived by truncation
(``billing_kwh``), never sent as floats. The reading id is a hash of serial, time and
source, so a redelivered or re-spooled reading is recognised by every consumer.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Literal, Mapping

from drivers.errors import MeterlinkError

SCHEMA = "meterlink.reading/1"
REGISTERS = ("total", "t1", "t2", "t3", "t4")
TARIFF_REGISTERS = ("t1", "t2", "t3", "t4")
SOURCES = ("modbus", "photo", "qr", "manual")
FLAGS = ("sum_mismatch", "rollover", "decrease", "stale", "jump", "low_confidence", "missing_tariff")
Source = Literal["modbus", "photo", "qr", "manual"]


class PayloadError(MeterlinkError):
    """A reading payload does not match ``meterlink.reading/1``; the message names the field."""


@dataclass(frozen=True)
class MeterRef:
    """Who the reading belongs to: the meter's serial, its model and the retailer account."""

    serial: str
    model: str = ""
    account: str = ""


@dataclass(frozen=True)
class Quality:
    """What the collector noticed about a reading; ``flags`` come from ``FLAGS``."""

    flags: tuple[str, ...] = ()
    confidence: float = 1.0

    def with_flags(self, *flags: str) -> Quality:
        merged = tuple(dict.fromkeys(self.flags + flags))
        return replace(self, flags=merged)


@dataclass(frozen=True)
class Reading:
    """One set of register values of one meter at one moment."""

    meter: MeterRef
    taken_at: datetime
    source: Source
    energy_wh: Mapping[str, int]
    tariffs: int
    quality: Quality = field(default_factory=Quality)
    collector: str = ""
    seq: int = 0

    def __post_init__(self) -> None:
        if self.taken_at.tzinfo is None:
            raise PayloadError("taken_at must be timezone-aware")
        object.__setattr__(self, "taken_at", _to_wire_precision(self.taken_at))
        object.__setattr__(self, "energy_wh", MappingProxyType(dict(self.energy_wh)))

    @cached_property
    def id(self) -> str:
        """Deterministic dedup key: the same meter, moment and source always give the same id."""
        key = f"{self.meter.serial}|{format_time(self.taken_at)}|{self.source}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def billing_kwh(self, register: str) -> int:
        """Whole kWh the retailer bills by: the fraction is dropped, never rounded."""
        return self.energy_wh[register] // 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "meter": {"serial": self.meter.serial, "model": self.meter.model,
                      "account": self.meter.account},
            "taken_at": format_time(self.taken_at),
            "source": self.source,
            "energy_wh": {k: self.energy_wh[k] for k in REGISTERS if k in self.energy_wh},
            "tariffs": self.tariffs,
            "quality": {"flags": list(self.quality.flags), "confidence": self.quality.confidence},
            "collector": self.collector,
            "seq": self.seq,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


def format_time(moment: datetime) -> str:
    """UTC ISO 8601 with a ``Z``; milliseconds only when there are some."""
    utc = moment.astimezone(timezone.utc)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")


def parse_time(text: str) -> datetime:
    if not isinstance(text, str) or not _TIME.match(text):
        raise PayloadError(f"taken_at: not an ISO 8601 UTC time: {text!r}")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _to_wire_precision(moment: datetime) -> datetime:
    # The id hashes the wire form, so the in-memory time must round-trip through it exactly.
    utc = moment.astimezone(timezone.utc)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def reading_from_dict(data: Any) -> Reading:
    """Validate a decoded payload into a ``Reading``; every problem names its field."""
    if not isinstance(data, dict):
        raise PayloadError("payload is not a JSON object")
    if data.get("schema") != SCHEMA:
        raise PayloadError(f"schema: expected {SCHEMA!r}, got {data.get('schema')!r}")
    meter = data.get("meter")
    if not isinstance(meter, dict) or not isinstance(meter.get("serial"), str) or not meter["serial"]:
        raise PayloadError("meter.serial: missing or not a string")
    for key in ("model", "account"):
        if not isinstance(meter.get(key, ""), str):
            raise PayloadError(f"meter.{key}: not a string")
    source = data.get("source")
    if source not in SOURCES:
        raise PayloadError(f"source: expected one of {', '.join(SOURCES)}, got {source!r}")
    energy = data.get("energy_wh")
    if not isinstance(energy, dict) or not energy:
        raise PayloadError("energy_wh: missing or empty")
    for key, value in energy.items():
        if key not in REGISTERS:
            raise PayloadError(f"energy_wh.{key}: unknown register")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PayloadError(f"energy_wh.{key}: not a non-negative integer of Wh: {value!r}")
    tariffs = data.get("tariffs")
    if not isinstance(tariffs, int) or isinstance(tariffs, bool) or not 0 <= tariffs <= 4:
        raise PayloadError(f"tariffs: expected an integer 0..4, got {tariffs!r}")
    quality = data.get("quality", {})
    if not isinstance(quality, dict):
        raise PayloadError("quality: not an object")
    flags = quality.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise PayloadError("quality.flags: not a list of strings")
    confidence = quality.get("confidence", 1.0)
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) \
            or not 0.0 <= confidence <= 1.0:
        raise PayloadError(f"quality.confidence: expected 0..1, got {confidence!r}")
    seq = data.get("seq", 0)
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise PayloadError("seq: not an integer")
    collector = data.get("collector", "")
    if not isinstance(collector, str):
        raise PayloadError("collector: not a string")
    reading = Reading(
        meter=MeterRef(meter["serial"], meter.get("model", ""), meter.get("account", "")),
        taken_at=parse_time(data.get("taken_at")),
        source=source,
        energy_wh=energy,
        tariffs=tariffs,
        quality=Quality(tuple(flags), float(confidence)),
        collector=collector,
        seq=seq,
    )
    if "id" in data and data["id"] != reading.id:
        raise PayloadError(f"id: {data['id']!r} does not match serial, taken_at and source")
    return reading


def reading_from_json(text: str | bytes) -> Reading:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from exc
    return reading_from_dict(data)
