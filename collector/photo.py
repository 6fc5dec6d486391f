"""Residents' photos → one ``Reading``: the photo and QR source of the collector.

A resident sends one photo per tariff (the display scrolls T1 → T2 → T3 → TOTAL), or one photo
of the meter's dynamic QR code, which carries every register at once. Either way the result is
the same ``Reading`` a Modbus poll gives, with ``source`` saying where it came from and the
reader's confidence in ``quality``. Anything that does not add up (two photos of T1 showing
different values, a QR code of another meter, a display that contradicts its own QR code) is
refused with the reason, never averaged or guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from collector.reading import TARIFF_REGISTERS, MeterRef, Quality, Reading
from drivers.errors import ReadError
from ocr import LOW_CONFIDENCE, DisplayRead, QrPayload, read_display, read_qr


@dataclass(frozen=True)
class _Shot:
    """What one image contributed: a display read, a QR code, or both."""

    path: str
    display: DisplayRead | None
    qr: QrPayload | None


def reading_from_photos(paths: Sequence[str | Path], *, serial: str, account: str = "",
                        model: str = "", tariffs: int | None = None,
                        taken_at: datetime | None = None, collector: str = "") -> Reading:
    """Read every image and combine them into one reading of meter ``serial``."""
    if not paths:
        raise ReadError("no photo given")
    shots = [_read(str(p)) for p in paths]
    for shot in shots:
        if shot.qr is not None and shot.qr.serial is not None and shot.qr.serial != serial:
            raise ReadError(f"the QR code names meter {shot.qr.serial}, not {serial}: "
                            "photograph the right meter", path=shot.path)
    dynamic = [s for s in shots if s.qr is not None and s.qr.energy_wh]
    if dynamic:
        return _from_qr(dynamic[0], shots, serial=serial, account=account, model=model,
                        tariffs=tariffs, taken_at=taken_at, collector=collector)
    return _from_displays(shots, serial=serial, account=account, model=model, tariffs=tariffs,
                          taken_at=taken_at, collector=collector)


def _read(path: str) -> _Shot:
    try:
        display = read_display(path)
    except ReadError as exc:
        # A photo of the QR code alone is fine when the code carries the registers.
        try:
            qr = read_qr(path)
        except ReadError:
            raise exc from None
        if not qr.energy_wh:
            raise exc from None
        return _Shot(path, None, qr)
    return _Shot(path, display, display.qr)


def _from_qr(shot: _Shot, shots: list[_Shot], *, serial: str, account: str, model: str,
             tariffs: int | None, taken_at: datetime | None, collector: str) -> Reading:
    assert shot.qr is not None
    energy = dict(shot.qr.energy_wh)
    # A display photographed beside the code must agree with it, to the digits it shows.
    for other in shots:
        read = other.display
        if read is None or read.tariff is None or read.tariff not in energy:
            continue
        if not read.shows(energy[read.tariff]):
            raise ReadError(f"the display shows {read.text} kWh for {read.tariff} but the QR code "
                            f"says {energy[read.tariff]} Wh: photograph both again", path=other.path)
    moment = taken_at or shot.qr.taken_at or datetime.now(timezone.utc)
    return _reading(energy, "qr", 1.0, serial=serial, account=account, model=model,
                    tariffs=tariffs, taken_at=moment, collector=collector)


def _from_displays(shots: list[_Shot], *, serial: str, account: str, model: str,
                   tariffs: int | None, taken_at: datetime | None, collector: str) -> Reading:
    energy: dict[str, int] = {}
    confidence = 1.0
    for shot in shots:
        read = shot.display
        if read is None:
            continue
        if read.tariff is None:
            raise ReadError("no tariff mark (T1, T2, T3, TOTAL) could be read beside the digits: "
                            "photograph the display with its mark", path=shot.path)
        seen = energy.get(read.tariff)
        if seen is not None and seen != read.energy_wh:
            raise ReadError(f"two photos of {read.tariff.upper()} show different values "
                            f"({seen} and {read.energy_wh} Wh): send one photo per tariff",
                            path=shot.path)
        energy[read.tariff] = read.energy_wh
        confidence = min(confidence, read.confidence)
    moment = taken_at or datetime.now(timezone.utc)
    return _reading(energy, "photo", confidence, serial=serial, account=account, model=model,
                    tariffs=tariffs, taken_at=moment, collector=collector)


def _reading(energy: dict[str, int], source: str, confidence: float, *, serial: str,
             account: str, model: str, tariffs: int | None, taken_at: datetime,
             collector: str) -> Reading:
    read_tariffs = sum(1 for k in TARIFF_REGISTERS if k in energy)
    count = read_tariffs if tariffs is None else tariffs
    if not 0 <= count <= len(TARIFF_REGISTERS):
        raise ReadError(f"a meter has 0 to {len(TARIFF_REGISTERS)} tariffs, not {count}")
    flags: list[str] = []
    if confidence < LOW_CONFIDENCE:
        flags.append("low_confidence")
    if read_tariffs < count:
        flags.append("missing_tariff")
    return Reading(meter=MeterRef(serial, model, account), taken_at=taken_at,
                   source=source,  # type: ignore[arg-type]
                   energy_wh=energy, tariffs=count,
                   quality=Quality(tuple(flags), round(confidence, 3)), collector=collector)
