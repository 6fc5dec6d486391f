"""QR codes beside the display: decoding with OpenCV and parsing the three payload forms meters use.

- a plain serial: ``12345678``
- a URL whose query names the meter and, on some meters, its registers:
  ``https://meter.example/r?serial=12345678&t1=1234567``
- the key=value form of meters with a dynamic QR (our simulator renders it):
  ``serial=12345678;t1=1234567;t2=234567;t3=34567;ts=2026-11-22T14:00:00Z``

Register values are integers of Wh; a value written with a decimal point is kWh, as the display
shows it, and is converted exactly (``Decimal``), never through a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Literal, Mapping
from urllib.parse import parse_qsl, urlsplit

import cv2
import numpy as np

from drivers.errors import ReadError

REGISTER_KEYS = ("total", "t1", "t2", "t3", "t4")
_SERIAL_KEYS = ("serial", "sn", "meter", "id")
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{3,31}$")


@dataclass(frozen=True)
class QrPayload:
    """A parsed QR code: who the meter is and, for a dynamic code, its registers."""

    raw: str
    kind: Literal["serial", "url", "fields"]
    serial: str | None
    energy_wh: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    taken_at: datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {"raw": self.raw, "kind": self.kind, "serial": self.serial,
                "energy_wh": dict(self.energy_wh),
                "taken_at": self.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.taken_at else None}


def parse_qr_payload(text: str) -> QrPayload:
    """Parse any of the three forms; raises ``ReadError`` for a code that is none of them."""
    raw = text.strip()
    if not raw:
        raise ReadError("the QR code is empty")
    if re.match(r"^https?://", raw, re.IGNORECASE):
        parts = urlsplit(raw)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        payload = _from_pairs(raw, "url", pairs)
        if payload.serial is None:
            last = parts.path.rstrip("/").rsplit("/", 1)[-1]
            if _SERIAL.match(last):
                payload = QrPayload(raw, "url", last, payload.energy_wh, payload.taken_at)
        if payload.serial is None:
            raise ReadError(f"the QR code's link does not name a meter: {raw!r}")
        return payload
    if "=" in raw:
        pairs = []
        for item in raw.split(";"):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep:
                raise ReadError(f"the QR code's field {item.strip()!r} has no '=': {raw!r}")
            pairs.append((key, value))
        payload = _from_pairs(raw, "fields", pairs)
        if payload.serial is None and not payload.energy_wh:
            raise ReadError(f"the QR code names neither a meter nor a register: {raw!r}")
        return payload
    if _SERIAL.match(raw):
        return QrPayload(raw, "serial", raw)
    raise ReadError(f"the QR code does not hold a meter serial, link or register fields: {raw!r}")


def _from_pairs(raw: str, kind: Literal["url", "fields"], pairs: list[tuple[str, str]]) -> QrPayload:
    serial: str | None = None
    energy: dict[str, int] = {}
    taken_at: datetime | None = None
    seen: set[str] = set()
    for key, value in pairs:
        key, value = key.strip().lower(), value.strip()
        if key in seen:
            raise ReadError(f"the QR code repeats the field {key!r}: {raw!r}")
        seen.add(key)
        if key in _SERIAL_KEYS and serial is None:
            if not _SERIAL.match(value):
                raise ReadError(f"the QR code's serial {value!r} is not a meter serial")
            serial = value
        elif key in REGISTER_KEYS:
            energy[key] = _energy_wh(key, value)
        elif key == "ts":
            taken_at = _timestamp(value)
    return QrPayload(raw, kind, serial, MappingProxyType(energy), taken_at)


def _energy_wh(key: str, value: str) -> int:
    if re.fullmatch(r"\d{1,15}", value):
        return int(value)
    if re.fullmatch(r"\d{1,12}\.\d{1,3}", value):
        try:
            return int(Decimal(value) * 1000)  # kWh with at most three decimals: whole Wh, exactly
        except InvalidOperation as exc:
            raise ReadError(f"the QR code's {key}={value!r} is not a number") from exc
    raise ReadError(f"the QR code's {key}={value!r} is not a register value (Wh, or kWh with a point)")


def _timestamp(value: str) -> datetime:
    if re.fullmatch(r"\d{9,11}", value):
        return datetime.fromtimestamp(int(value), timezone.utc)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ReadError(f"the QR code's ts={value!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise ReadError(f"the QR code's ts={value!r} has no time zone")
    return moment.astimezone(timezone.utc)


def find_qr(bgr: np.ndarray) -> QrPayload | None:
    """The QR code in the photo, parsed; ``None`` when the photo shows none.

    Codes are looked for on a copy at most ``_SEARCH_SIDE`` pixels long (a code beside a
    display has modules of two or three pixels there, fewer at smaller sizes and the finder
    patterns are lost). The one found is decoded from the full-resolution photo, warped
    square and upright by its corners with room for its quiet zone (``_decoded``).
    """
    h, w = bgr.shape[:2]
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    factor = min(1.0, _SEARCH_SIDE / max(h, w))
    small = gray if factor == 1.0 else cv2.resize(
        gray, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
    try:
        found, corners = cv2.QRCodeDetectorAruco().detect(small)
        if not found or corners is None:
            return None
        text = _decoded(_upright(gray, corners.reshape(-1, 2)[:4] / factor))
    except cv2.error as exc:
        raise ReadError("the QR code could not be decoded: photograph it straight on") from exc
    return parse_qr_payload(text) if text else None


def _decoded(square: np.ndarray) -> str:
    """The text of the upright code, empty when it cannot be decoded. Each rendering
    (``_renderings``) is decoded at the corners it was warped to first, with no search
    (on mild photos as many codes in a third of the time); the decoders' own search, which
    finds corners a little off, is the fallback."""
    images = _renderings(square)
    plain = cv2.QRCodeDetector()
    for image in images:
        text = plain.decode(image, _CORNERS)[0]
        if text:
            return text
    decoders = (plain, cv2.QRCodeDetectorAruco())
    for image in images:
        for decoder in decoders:
            text = decoder.detectAndDecode(image)[0]
            if text:
                return text
    return ""


_SEARCH_SIDE = 1024
_SQUARE = 300          # side of the upright code that is decoded …
_QUIET = 0.12          # … of which this much on each side is quiet zone
# Where the code's corners lie in the upright square, as the decoder takes them (1 × 4 × 2).
_CORNERS = ((np.array([[[0, 0], [1, 0], [1, 1], [0, 1]]], np.float32) * (1 - 2 * _QUIET) + _QUIET)
            * _SQUARE).astype(np.float32)


def _upright(gray: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The code warped square by its four detected corners, smooth (cubic) as it grows."""
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), _CORNERS[0])
    return cv2.warpPerspective(gray, matrix, (_SQUARE, _SQUARE), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)


def _renderings(square: np.ndarray) -> tuple[np.ndarray, ...]:
    """The upright code sharpened (blur and JPEG soften the module edges the decoder needs),
    as it is, and with its contrast equalized (shade and glare across the code)."""
    sharp = cv2.addWeighted(square, 2.0, cv2.GaussianBlur(square, (0, 0), 2.0), -1.0, 0)
    return sharp, square, cv2.createCLAHE(2.0, (4, 4)).apply(square)
