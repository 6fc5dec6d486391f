"""Photo → ``DisplayRead``: the entry point that ties loading, finding, reading and QR together.

An image shaped like a reading field (wide and low, as other tools export crops) is read as it
is; a photo is searched for display glass, and each candidate is cut out upright and read until
one reads confidently. A reading is only returned when every digit was read: a digit lost to
glare raises ``ReadError`` rather than becoming a guess, and a doubtful one lowers the
confidence so the resident can be asked for a better photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import numpy as np

from drivers.errors import ReadError
from ocr.digits import Classifier
from ocr.field import WORK_HEIGHT, FieldRead, read_field
from ocr.locate import digit_rows, display_candidates, rectify, row_surroundings
from ocr.photo_file import PhotoSource, load_photo
from ocr.qr import QrPayload, find_qr

LOW_CONFIDENCE = 0.7        # below this a reading is flagged and the resident asked again
UNREADABLE = 0.15           # a digit below this is not read at all
_GOOD_ENOUGH = 0.9          # stop trying candidates once a read is this sure
_FIELD_ASPECT = 2.6         # wider than this (w / h) and the image may itself be the field
_INTEGER_DIGITS = (4, 10)


@dataclass(frozen=True)
class DisplayRead:
    """What the display shows, as exact values, with how sure the reader is of each part."""

    text: str                               # as shown, e.g. "012345.67"
    value_kwh: Decimal                      # exactly the shown number
    energy_wh: int                          # the shown value in Wh: int(value_kwh * 1000), exact
    decimals: int
    tariff: str | None                      # "t1", "t2", "t3", "total", or None when no mark is seen
    digit_confidence: tuple[float, ...]
    tariff_confidence: float
    confidence: float
    display_box: tuple[tuple[float, float], ...]   # corners in the photo, clockwise from top left
    qr: QrPayload | None

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE

    def to_dict(self) -> dict[str, object]:
        """The stable ``--json`` form."""
        return {
            "text": self.text, "value_kwh": str(self.value_kwh), "energy_wh": self.energy_wh,
            "decimals": self.decimals, "tariff": self.tariff,
            "confidence": round(self.confidence, 3),
            "digit_confidence": [round(c, 3) for c in self.digit_confidence],
            "tariff_confidence": round(self.tariff_confidence, 3),
            "low_confidence": self.low_confidence,
            "display_box": [[round(x, 1), round(y, 1)] for x, y in self.display_box],
            "qr": self.qr.to_dict() if self.qr else None,
        }


def read_display(source: PhotoSource, *, classifier: Classifier = "both") -> DisplayRead:
    """Read the meter display in a photo (a path, the file's bytes, or a BGR array).

    ``classifier`` chooses how digits are told apart: ``"segments"`` (state sampling),
    ``"model"`` (the shipped model) or ``"both"`` (the default: a digit is sure only when
    they agree); the others exist so the benchmark can measure each.
    """
    path = str(source) if isinstance(source, (str, Path)) else None
    try:
        bgr = load_photo(source)
        qr = find_qr(bgr)
        field, box = _read_best(bgr, classifier)
    except ReadError as exc:
        if path is not None and exc.path is None:
            raise ReadError(exc.reason, path=path) from exc
        raise
    return _display_read(field, box, qr)


def read_qr(source: PhotoSource) -> QrPayload:
    """The QR code in a photo; raises ``ReadError`` when there is none."""
    qr = find_qr(load_photo(source))
    if qr is None:
        raise ReadError("no QR code found: photograph the code straight on, filling a third of the picture")
    return qr


def _read_best(bgr: np.ndarray, classifier: Classifier) -> tuple[FieldRead, tuple[tuple[float, float], ...]]:
    """Try the places the display may be, cheapest first, until one reads confidently."""
    best: tuple[FieldRead, np.ndarray] | None = None
    first_error: ReadError | None = None
    for quad, is_whole in regions_to_try(bgr):
        # Twice the working height, so the small tariff mark keeps its detail.
        image = bgr if is_whole else rectify(bgr, quad, 2 * WORK_HEIGHT, inset=-0.02)
        try:
            # A quadrilateral may be part of the glass, cut by a reflection's edge: its digits
            # must end well inside it. A field image is cut close around its digits.
            field = read_field(image, edge_margin=0.0 if is_whole else 0.5, crop=is_whole,
                               classifier=classifier)
            _check_plausible(field)
        except ReadError as exc:
            first_error = first_error or exc
            continue
        if best is None or field.confidence > best[0].confidence:
            best = (field, quad)
        if field.confidence >= _GOOD_ENOUGH:
            break
    if best is None:
        raise first_error or ReadError("no meter display found: photograph the display straight "
                                       "on, filling most of the picture")
    field, quad = best
    return field, tuple((float(x), float(y)) for x, y in quad)


def regions_to_try(bgr: np.ndarray) -> Iterator[tuple[np.ndarray, bool]]:
    """Quadrilaterals that may hold the display, likeliest first, each with whether it is the
    whole image read as a field: the glass outlines, then the surroundings of the rows of
    digits (searched only when no glass reads confidently: a reflection's edge can cut the
    glass outline, and faint glass can lose it)."""
    h, w = bgr.shape[:2]
    whole = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    if w / h >= _FIELD_ASPECT:
        yield whole, True
    for candidate in display_candidates(bgr)[:3]:
        yield candidate.quad, False
    for row in digit_rows(bgr):
        yield row_surroundings(row), False
    if w / h < _FIELD_ASPECT:
        yield whole, True


def _check_plausible(field: FieldRead) -> None:
    lo, hi = _INTEGER_DIGITS
    if not lo <= len(field.integer) <= hi or len(field.decimals) > 3:
        raise ReadError(f"what was found ({field.text!r}) does not look like a meter reading: "
                        "photograph the display straight on")
    for i, digit in enumerate(field.digits, 1):
        if digit.char == "?" or digit.confidence < UNREADABLE:
            raise ReadError(f"digit {i} of {len(field.digits)} cannot be read (glare, blur or a "
                            "faint segment): take another photo without reflections")


def _display_read(field: FieldRead, box: tuple[tuple[float, float], ...],
                  qr: QrPayload | None) -> DisplayRead:
    text = field.text
    value = Decimal(text)
    tariff = field.mark.tariff if field.mark else None
    tariff_conf = field.mark.confidence if field.mark else 0.0
    confidence = field.confidence if field.mark is None else min(field.confidence, tariff_conf)
    return DisplayRead(
        text=text, value_kwh=value, energy_wh=int(value * 1000), decimals=len(field.decimals),
        tariff=tariff, digit_confidence=tuple(d.confidence for d in field.digits),
        tariff_confidence=tariff_conf, confidence=confidence, display_box=box, qr=qr)
