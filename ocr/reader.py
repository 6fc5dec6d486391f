"""Photo → ``DisplayRead``: the entry point that ties loading, finding, reading and QR together.

An image shaped like a reading field (wide and low, as other tools export crops) is read as it
is; a photo is searched for display glass, and each candidate is cut out upright and read until
one reads confidently. A reading is only returned when every digit was read: a digit lost to
glare raises ``ReadError`` rather than becoming a guess, and a doubtful one lowers the
confidence so the resident can be asked for a better photo.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator, Literal

import cv2
import numpy as np

from drivers.errors import MissingDigits, ReadError
from ocr.digits import Classifier
from ocr.field import WORK_HEIGHT, FieldRead, read_field
from ocr.line import LINE_EXTRA, LINE_H, LineRead, read_lines
from ocr.locate import (ROW_BASE, ROW_SIDE, ROW_TOP, DigitRow, digit_rows, display_candidates,
                        glass_bands, rectify, row_surroundings, widened)
from ocr.marks import MarkRead, classify_mark_windows, mark_window, read_mark
from ocr.segments import DigitRead
from ocr.photo_file import PhotoSource, load_photo
from ocr.qr import QrPayload, find_qr

Method = Literal["line", "cells", "both"]
LOW_CONFIDENCE = 0.7        # below this a reading is flagged and the resident asked again
UNREADABLE = 0.15           # a digit below this is not read at all
_GOOD_ENOUGH = 0.9          # stop trying candidates once a read is this sure
_DISAGREE_CAP = 0.5         # the line and cell readers differ: the reading is never sure
_ALONE_SURE = 0.99          # one reader alone (the other cannot read) is sure above this
_POINT_SURE = 0.9           # a point the line reader is this sure of can place the cell reader's
_DOUBTING = 0.5             # a reader this unsure of a digit the other is sure of keeps it in doubt
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

    def shows(self, register_wh: int) -> bool:
        """Whether a register holding ``register_wh`` appears on the glass as this reading:
        the display cuts the value to the digits it shows (it drops, never rounds)."""
        return _appears_as(register_wh, self.energy_wh, self.decimals)

    @property
    def doubtful(self) -> tuple[str, ...]:
        """What makes the reading doubtful, in words a resident can act on: each digit below
        the low-confidence bar (counted from the left, as the display shows them), the
        tariff mark, and otherwise the decimal point (the one part left that can be).
        Empty when the reading is sure."""
        if not self.low_confidence:
            return ()
        unsure = [i for i, c in enumerate(self.digit_confidence, 1) if c < LOW_CONFIDENCE]
        parts = ("all digits",) if len(unsure) == len(self.digit_confidence) else \
            tuple(f"digit {i}" for i in unsure)
        if self.tariff is not None and self.tariff_confidence < LOW_CONFIDENCE:
            parts += ("tariff mark",)
        return parts or ("decimal point",)

    def to_dict(self) -> dict[str, object]:
        """The stable ``--json`` form."""
        return {
            "text": self.text, "value_kwh": str(self.value_kwh), "energy_wh": self.energy_wh,
            "decimals": self.decimals, "tariff": self.tariff,
            "confidence": round(self.confidence, 3),
            "digit_confidence": [round(c, 3) for c in self.digit_confidence],
            "tariff_confidence": round(self.tariff_confidence, 3),
            "low_confidence": self.low_confidence, "doubtful": list(self.doubtful),
            "display_box": [[round(x, 1), round(y, 1)] for x, y in self.display_box],
            "qr": self.qr.to_dict() if self.qr else None,
        }


def read_display(source: PhotoSource, *, classifier: Classifier = "both",
                 method: Method = "both") -> DisplayRead:
    """Read the meter display in a photo (a path, the file's bytes, or a BGR array).

    ``classifier`` chooses how digits are told apart: ``"segments"`` (state sampling),
    ``"model"`` (the shipped model) or ``"both"`` (the default: a digit is sure only when
    they agree) for the cell reader; ``method`` chooses the line recognizer, the cell reader
    or both (the default); the others exist so the benchmark can measure each.
    """
    path = str(source) if isinstance(source, (str, Path)) else None
    try:
        bgr = load_photo(source)
        qr = find_qr(bgr)
        field, box = _read_best(bgr, classifier, method, qr)
    except ReadError as exc:
        if path is not None and exc.path is None:
            raise ReadError(exc.reason, path=path) from exc
        raise
    h, w = bgr.shape[:2]
    # A row's surroundings may reach past the photo's edge; the box says where in the photo.
    inside = tuple((min(max(x, 0.0), float(w)), min(max(y, 0.0), float(h))) for x, y in box)
    return _checked_by_qr(_display_read(field, inside, qr))


def read_qr(source: PhotoSource) -> QrPayload:
    """The QR code in a photo; raises ``ReadError`` when there is none."""
    qr = find_qr(load_photo(source))
    if qr is None:
        raise ReadError("no QR code found: photograph the code straight on, filling a third of the picture")
    return qr


def _read_best(bgr: np.ndarray, classifier: Classifier, method: Method, qr: QrPayload | None
               ) -> tuple[FieldRead, tuple[tuple[float, float], ...]]:
    """Read the digits two independent ways and let them check each other.

    The line recognizer (``ocr.line``) reads the rows ``digit_rows`` finds, whole. A photo's
    line read that is very sure and reads the same from a wider cut of its row stands alone
    (``_confirmed_by_wider_cut``: about half the photos, saving the cell reader), at any
    confidence where a register of the display's ``qr`` code holds it. Otherwise the
    cell reader (``ocr.field``) cuts a region into digit cells, starting with the region the
    line was read in. Where both give the same text, each digit is as sure as the surer of
    them (``_agreement``); the same digits with a point only the line reader could place count
    as agreement (``_point_placed``). Where they differ the longer reading is kept (``_kept``),
    never reported as sure (``_doubted``); where one cannot read at all, the other alone is
    sure only from ``_ALONE_SURE``, and where the cell reader saw digits wiped out, a line
    read is never sure and below ``LOW_CONFIDENCE`` refused, unless a register of the
    display's ``qr`` code holds it (``_checked_by_qr`` then confirms it). Measured on harsh
    photos: each reader alone returns wrong readings as sure (the line a few in 300 at
    0.95–0.98, a digit misread under glare or one dropped), their agreement very few.
    """
    if method == "cells":
        return _read_by_cells(bgr, classifier)
    rows = digit_rows(bgr)        # found once, for both readers
    by_line = _read_by_line(bgr, rows)
    if by_line is None:
        if method == "line":
            raise ReadError("no row of display digits could be read: photograph the display "
                            "straight on, filling most of the picture")
        alone, box = _read_by_cells(bgr, classifier, rows=rows)
        return (alone if alone.confidence >= _ALONE_SURE else _capped(alone, _DISAGREE_CAP)), box
    line_field, line_box = by_line.field, _corners(by_line.box)
    if method == "line" or _confirmed_by_wider_cut(by_line, qr):
        return line_field, line_box
    try:
        cells_field, cells_box = _read_by_cells(bgr, classifier, first=np.array(line_box, np.float32),
                                                hoped=line_field.text, rows=rows,
                                                mark=line_field.mark is None)
    except MissingDigits as exc:
        # The cell reader saw part of the reading wiped out, or running off the edge of the
        # region the line was read in: the line read may have lost a digit there too (on
        # held-out harsh crops a faint 1 under glare, read past at 0.995; on a harsh photo two
        # leading digits past a glare band, at 0.998), so it is never sure, unless the code's
        # exact values hold it; and where the line reader is unsure too, its reading would be
        # a guess, so the cell reader's reason tells the resident what to do. But where the
        # cell reader laid out as many digits, split alike, as the line read has, the line lost
        # none: the cell reader only could not tell one (a small decimal 1), as if it could
        # not read at all.
        if _held_by_qr(line_field.text, qr):
            return line_field, line_box
        if exc.layout == (len(line_field.integer), len(line_field.decimals)):
            return (line_field if _stands_alone(by_line, bgr) else
                    _capped(line_field, _DISAGREE_CAP)), line_box
        if line_field.confidence < LOW_CONFIDENCE:
            raise
        return _capped(line_field, _DISAGREE_CAP), line_box
    except ReadError:
        return (line_field if _stands_alone(by_line, bgr) else
                _capped(line_field, _DISAGREE_CAP)), line_box
    if cells_field.text == line_field.text:
        return _agreed(line_field, cells_field), line_box
    placed = _point_placed(line_field, cells_field)
    if placed is not None:
        return _agreed(line_field, placed), line_box
    if _outvoted(line_field, cells_field):
        return (line_field if _stands_alone(by_line, bgr) else
                _capped(line_field, _DISAGREE_CAP)), line_box
    if _kept(line_field, cells_field, qr) is line_field:
        return _doubted(line_field, cells_field), line_box
    # The cell reader left the mark to the line reader's (read once, beside its row).
    return _doubted(replace(cells_field, mark=cells_field.mark or line_field.mark), line_field), cells_box


def _outvoted(by_line: FieldRead, by_cells: FieldRead) -> bool:
    """Whether the cell reader's different reading counts as no reading: it is in doubt
    (below ``LOW_CONFIDENCE``) where the line reader is sure from ``_ALONE_SURE``, so the line
    read stands alone as where the cell reader cannot read (``_stands_alone``). On 1 500
    tuning images the line read was right in each of the 19 such cases (a box round the
    decimals taken for a 5 by the cell reader: 000688.526 at 0.3, where every width of a harsh
    crop read 000688.26 at 0.999), and in the 3 where the cell reader's different reading
    was surer."""
    return by_line.confidence >= _ALONE_SURE and by_cells.confidence < LOW_CONFIDENCE


def _kept(a: FieldRead, b: FieldRead, qr: QrPayload | None = None) -> FieldRead:
    """Of two different readings of one display, the one to report: of two as long, the one a
    register of the display's ``qr`` code holds (``_checked_by_qr`` then confirms it; a code
    cannot tell how many leading zeros the glass shows, so it never picks a shorter
    reading); else (as unsure) the longer, then the surer; but never one its own reader all
    but rejected (below ``UNREADABLE``) over one it did not, nor one longer by an edge taken
    for a leading 1 (``_edge_taken_for_one``). Each reader's usual slip is losing a faint
    character (a digit under glare, the point), seldom making one up; measured on harsh
    photos, where the two differ in length the longer was right in every case but the rare
    one where neither was, and where the cell reader's doubted reading was the longer (a
    point it saw but placed nowhere, a box edge taken for a digit), it was wrong every time."""
    def rank(f: FieldRead) -> tuple[bool, bool, bool, int, float]:
        other = b if f is a else a
        held = len(f.text) == len(other.text) and _held_by_qr(f.text, qr)
        return held, f.confidence >= UNREADABLE, not _edge_taken_for_one(f, other), \
            len(f.text), f.confidence
    return a if rank(a) >= rank(b) else b


def _edge_taken_for_one(longer: FieldRead, shorter: FieldRead) -> bool:
    """Whether ``longer`` is ``shorter`` with a 1 in front, where ``shorter``'s reader was
    sure: the bezel's edge left of the digits is a vertical stroke, a 1 to the cell reader,
    which sees only the cells (on harsh photos such a 1 was the edge every time the other
    reader was sure; a 1 more at the other end was as often a last decimal one reader lost)."""
    return shorter.confidence >= _GOOD_ENOUGH and longer.text == "1" + shorter.text


def _point_placed(by_line: FieldRead, by_cells: FieldRead) -> FieldRead | None:
    """The cell reader's digits split where the line reader surely saw the point, when the
    two read the same digits and the cell reader read no point only because it could not
    place a dot it saw (its no-point confidence below one half: a round point beside ghost
    dots). ``None`` otherwise. Measured on harsh photos, the line reader was right in every
    such case; without this, each was reported unsure."""
    if "." not in by_line.text or "." in by_cells.text or \
            by_line.point_confidence < _POINT_SURE or by_cells.point_confidence >= 0.5 or \
            [d.char for d in by_line.digits] != [d.char for d in by_cells.digits]:
        return None
    at = len(by_line.integer)
    return FieldRead(by_cells.digits[:at], by_cells.digits[at:], by_cells.point_confidence,
                     by_cells.mark)


def _read_by_line(bgr: np.ndarray, rows: list[DigitRow]) -> _LineCandidate | None:
    """The most confident plausible reading of the line recognizer; ``None`` when none reads.

    The ``rows`` ``digit_rows`` found in the photo are read first (with the whole image, when it
    is shaped like a reading field), in a photo the likeliest alone and the others only where
    it is not ``_SELF_SURE`` (on 1 200 tuning images no reading changed, and a photo is read
    2 to 5 % sooner); when none of them reads surely, the row found in each
    of the likeliest glass outlines, cut out upright, is read too, and the glass's darkest
    bands (``glass_bands``): on the glass alone the digits are the largest and darkest
    thing, where in the photo a label or a code may outrank them. A glass read does not
    replace a row read whose digits include its own (``_digits_among``).
    The tariff mark is read once, beside the row that won (not in a reading-field image).
    """
    h, w = bgr.shape[:2]
    whole = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    is_field = _field_shaped(bgr)
    # In a reading-field image the cell reader checks the whole image, read as a field,
    # whichever row the line was read in (a row's surroundings lie mostly off the image).
    if is_field:
        best = _best_line(bgr, rows, lambda _: whole, whole)
    else:
        best = _best_line(bgr, rows[:1], row_surroundings)
        if best is None or best.field.confidence < _SELF_SURE:
            more = _best_line(bgr, rows[1:], row_surroundings)
            if more is not None and (best is None or more.field.confidence > best.field.confidence):
                best = more
    if best is None or best.field.confidence < _GOOD_ENOUGH:
        for candidate in display_candidates(bgr)[:_GLASS_TRIED]:
            glass = rectify(bgr, candidate.quad, 2 * WORK_HEIGHT, inset=-0.02)
            rows_on_glass = digit_rows(glass, limit=1) + glass_bands(glass)
            found = _best_line(glass, rows_on_glass, lambda _: candidate.quad)
            if found is not None and (best is None or (found.field.confidence > best.field.confidence
                                                       and not _digits_among(found.field, best.field))):
                best = found
    if best is None:
        return None
    # An image shaped like a reading field is cut close round the digits: no mark to read
    # there (a weak one made up from its edge would only lower the reading's confidence).
    if best.row is None or is_field:
        return best
    return replace(best, field=replace(best.field, mark=_row_mark(best.image, best.row,
                                                                   best.first_digit)))


def _stands_alone(by_line: _LineCandidate, bgr: np.ndarray) -> bool:
    """Whether a line read the cell reader could not check is sure on its own: from
    ``_ALONE_SURE`` (measured on harsh photos where the cell reader could not read, the line
    reader alone was wrong up to 0.98, never from 0.99), and in a reading-field image only
    when read from the whole image: a row found inside a crop may be part of the field, its
    first digits cut off (four lost at 0.993, where every whole-crop read from 0.99 was right)."""
    if _field_shaped(bgr) and by_line.row is not None:
        return False
    return by_line.field.confidence >= _ALONE_SURE


def _corners(quad: np.ndarray) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in quad)


def _confirmed_by_wider_cut(by_line: _LineCandidate, qr: QrPayload | None) -> bool:
    """Whether the line read of a row in a photo stands without the cell reader: read
    ``_CHECK_EXTRA`` digit heights wider, the row reads the same, both reads at least
    ``_SELF_SURE``, or at any confidence where a register of the display's ``qr`` code holds
    the reading (its exact value confirms the digits, as ``_checked_by_qr`` then does, where
    the cell reader could only doubt them; the wider cut still shows leading zeros a short
    row lost, which the code's value cannot). The wider cut shows what the first may have cut
    off (a digit the finder missed at an end), and the network sees the digits at other
    columns. Measured on four sets
    of 300 tuning photos (held-out and tuning styles, mild and harsh), a reading both cuts
    were this sure of was never wrong (571 of them); from 0.98 both cuts once agreed on a 2
    read as 3 under glare, which the cell reader doubted (cut 2.5 or 4 digit heights wider,
    both cuts once agreed on a 6 read as 0 at 0.993). A crop is always checked by the cell
    reader (a row found in it may be part of the field, both cuts short of the same leading
    zeros)."""
    held = _held_by_qr(by_line.field.text, qr)
    if by_line.row is None or _field_shaped(by_line.image) or \
            (by_line.field.confidence < _SELF_SURE and not held):
        return False
    read = _with_half_seen_point(read_lines(widened(by_line.image, [by_line.row], _CHECK_EXTRA))[0])
    parts = _line_parts(read)
    if parts is None:
        return False
    wider = _field_from_line(read, parts)
    return wider.text == by_line.field.text and (held or wider.confidence >= _SELF_SURE)


_SELF_SURE = 0.995
_CHECK_EXTRA = 3.0


_GLASS_TRIED = 2
_FIELD_SCALES = (0.55, 0.7, 0.85, 1.0)   # widths a reading-field image is read at


@dataclass(frozen=True)
class _LineCandidate:
    """A plausible line read, where it was read (``row`` is None for a whole field image) and
    its box in the photo."""

    field: FieldRead              # without the tariff mark, read only for the winner
    image: np.ndarray
    row: DigitRow | None
    box: np.ndarray
    first_digit: float | None = None    # where in the row's image the read's first digit begins


def _best_line(image: np.ndarray, rows: list[DigitRow],
               box_of: Callable[[DigitRow], np.ndarray],
               field_box: np.ndarray | None = None) -> _LineCandidate | None:
    """The surest plausible line read among ``rows`` of ``image``, each read ``LINE_EXTRA``
    digit heights wider than the finder cut it (and of the whole image, read as a reading
    field, when ``field_box`` gives its box)."""
    sources: list[DigitRow | None] = list(rows)
    images = widened(image, rows, LINE_EXTRA)
    if field_box is not None:
        # A reading-field image is stretched to a fixed size whatever its digit count: read
        # at several widths, the narrower ones give a short reading its digits' proportions.
        h, w = image.shape[:2]
        for scale in _FIELD_SCALES:
            sources.insert(0, None)
            images.insert(0, cv2.resize(image, (max(8, round(w * scale)), h),
                                        interpolation=cv2.INTER_AREA))
    best: _LineCandidate | None = None
    wholes: list[FieldRead] = []          # the whole field image's reads, at each width
    reads = read_lines(images)
    for row, read in zip(sources, reads):
        read = _with_half_seen_point(read)
        parts = _line_parts(read)
        if parts is None:
            continue
        field = _field_from_line(read, parts)
        if row is None:
            wholes.append(field)
        elif wholes and _part_of(field, max(wholes, key=lambda f: f.confidence)):
            continue
        if best is None or field.confidence > best.field.confidence:
            best = _LineCandidate(field, image, row, field_box if row is None else box_of(row),
                                  None if row is None else _first_digit(row, read))
    if best is not None and best.row is None and _read_longer(best.field, wholes):
        best = replace(best, field=_capped(best.field, _DISAGREE_CAP))
    if best is not None and best.row is None and not best.field.decimals:
        # Read without a point: only as sure of that as the widths that read the same digits
        # are, in the middle of them, that none is lit (a faint point the network half sees
        # at most widths; else its decimals would be taken for whole kWh). Not the least
        # sure width: squeezed, whole-kWh digits show a point that is not there (on 233
        # tuning crops of whole-kWh readings, the least sure width doubted 42, the middle of
        # them 9; of 680 crops with a point, none read the digits right without one).
        digits = best.field.text
        doubt = float(np.median([r.no_point for s, r in zip(sources, reads)
                                 if s is None and r.text.replace(".", "") == digits]))
        best = replace(best, field=replace(best.field,
                                           point_confidence=min(best.field.point_confidence, doubt)))
    return best


def _first_digit(row: DigitRow, read: LineRead) -> float:
    """Where in ``row``'s image the first character of its read (of the row cut ``LINE_EXTRA``
    digit heights wider, as the same height) begins."""
    h = row.image.shape[0]
    return read.first_at * h / LINE_H - LINE_EXTRA * (ROW_BASE - ROW_TOP) * h


def _part_of(row_read: FieldRead, whole: FieldRead) -> bool:
    """Whether a row found inside a reading-field image reads only part of what the whole image
    reads (its digits among the whole read's, fewer of them), the whole read not in doubt: the
    row is then a piece of the field, however sure its own read. On a harsh tuning crop, the
    finder's row ended at a wide gap before a narrow 1 and read 070180 where every width of
    the whole crop read 07018014, both at 1.0."""
    return whole.confidence >= LOW_CONFIDENCE and _digits_among(row_read, whole)


def _digits_among(part: FieldRead, full: FieldRead) -> bool:
    """Whether ``part`` reads fewer digits than ``full``, a run of ``full``'s digits: where a
    row read 00000075.41 with one digit in doubt, the row found on the glass ended at a glare
    band and read 000000, surer (a mild tuning photo, then read so at 1.0 with the cell
    reader agreeing). A reader's usual slip is losing a character, seldom making one up
    (``_kept``)."""
    shown = part.text.replace(".", "")
    longer = full.text.replace(".", "")
    return len(shown) < len(longer) and shown in longer


def _read_longer(best: FieldRead, wholes: list[FieldRead]) -> bool:
    """Whether another width of a reading-field image reads more digits than the surest, and
    at least ``_GOOD_ENOUGH`` surely: squeezed, the field's digits can merge (a mild tuning crop
    of 00000001.11 read 0000001.1 at 0.998 at the narrowest width, 00000001.11 at 0.99 at a
    wider one). Of 900 tuning crops, two were so: both read wrong."""
    shown = len(best.text.replace(".", ""))
    return any(len(f.text.replace(".", "")) > shown and f.confidence >= _GOOD_ENOUGH for f in wholes)


def _with_half_seen_point(read: LineRead) -> LineRead:
    """A read without a point where the network more than half saw one (``no_point`` below
    0.5): the point put where it was likeliest, never surer than ``_DISAGREE_CAP``. Without
    it the decimals would be taken for whole kWh; with it the cell reader can confirm it."""
    if "." in read.text or read.no_point >= 0.5 or not 0 < read.point_at < len(read.text):
        return read
    at = read.point_at
    confidence = (*read.confidence[:at], (1.0 - read.no_point) * _DISAGREE_CAP, *read.confidence[at:])
    return replace(read, text=read.text[:at] + "." + read.text[at:], confidence=confidence,
                   no_point=1.0)


def _line_parts(read: LineRead) -> tuple[int, int] | None:
    """How many integer digits and decimals a line read has, when it looks like a reading
    whose every character was made out (a character below ``UNREADABLE`` would be a guess)."""
    if min(read.confidence, default=0.0) < UNREADABLE:
        return None
    whole, point, frac = read.text.partition(".")
    lo, hi = _INTEGER_DIGITS
    if not whole.isdigit() or not lo <= len(whole) <= hi or "." in frac or \
            (point and not 1 <= len(frac) <= 3) or (frac and not frac.isdigit()):
        return None
    return len(whole), len(frac)


def _field_from_line(read: LineRead, parts: tuple[int, int]) -> FieldRead:
    digits = [DigitRead(c, conf, 1.0, ()) for c, conf in zip(read.text, read.confidence) if c != "."]
    point = [conf for c, conf in zip(read.text, read.confidence) if c == "."]
    return FieldRead(tuple(digits[:parts[0]]), tuple(digits[parts[0]:]),
                     point[0] if point else read.no_point, None)


def _row_mark(bgr: np.ndarray, row: DigitRow, first_digit: float | None = None) -> MarkRead | None:
    """The tariff mark beside or above a row: the mark network's answer and the templates'
    (``ocr.marks.read_mark``), the surer of the two (measured on harsh photos: either alone
    names fewer marks right than the pair). The templates are consulted only where the
    network is unsure (below ``_MARK_SURE``): on held-out harsh photos, where the network
    was sure and the templates named another mark at full confidence, the network was right.

    The network looks at the row's start as the finder placed it and where the line read's
    first digit (``first_digit``) begins, and the surer answer counts:
    the finder's row can begin at a word beside the digits or a digit late, the line
    network's first digit a little off either way (on 296 harsh tuning photos each window
    alone named 250 marks right, 196 and 198 of them from ``_MARK_TRUSTED``; the surer of the
    two 268 and 224, none wrong from there), unless the two name different marks
    (``_disputed``)."""
    windows = [mark_window(bgr, row)]
    if first_digit is not None:
        windows.append(mark_window(bgr, row, first_digit))
    named = [m for m in classify_mark_windows(windows) if m is not None]
    by_network = max(named, key=lambda m: m.confidence) if named else None
    if by_network is not None and _disputed(by_network, named):
        return replace(by_network, confidence=min(by_network.confidence, _DISAGREE_CAP))
    if by_network is not None and by_network.confidence >= _MARK_SURE:
        return by_network
    above, below, left = 0.6, 0.1, 1.0       # room cut around the row, in digit heights
    image = rectify(bgr, row_surroundings(row, above=above, below=below, left=left), _MARK_HEIGHT)
    h = row.image.shape[0]
    digit = (ROW_BASE - ROW_TOP) * h
    scale = _MARK_HEIGHT / (h + (above + below) * digit)
    by_templates = read_mark(image, row_top=(above * digit + ROW_TOP * h) * scale,
                             row_x0=(left + ROW_SIDE) * digit * scale, row_height=digit * scale)
    found = [m for m in (by_network, by_templates) if m is not None]
    return max(found, key=lambda m: m.confidence) if found else None


def _disputed(surest: MarkRead, named: list[MarkRead]) -> bool:
    """Whether another mark window names another mark at even odds or better: then neither
    the surer window nor the templates are sure. On harsh tuning photos a T2 the finder's
    window read as T1 at 0.955 was so, the first digit's window reading T2 at 0.52; and where
    the windows so disputed a T3, the templates read TOTAL at 1.0. Costs 7 sure readings of
    900 harsh tuning photos."""
    return any(m.tariff != surest.tariff and m.confidence >= 0.5 for m in named)


_MARK_HEIGHT = 160   # the row's surroundings are cut this high for the templates
_MARK_SURE = LOW_CONFIDENCE   # the mark network decides alone from here on
_MARK_TRUSTED = 0.95          # a mark read below this is never reported as sure


def _agreed(by_line: FieldRead, by_cells: FieldRead) -> FieldRead:
    """Two readers gave the same text: each digit, and a point both saw, as sure as the surer
    of them; but a reading without a point only as sure as the doubting one is that no point
    is lit (a faint point is both readers' blind spot: seen by neither, a reading loses its
    decimals), unless the line network is ``_ALONE_SURE`` of it. The mark is the mark
    network's where it named one."""
    def surer(a: tuple[DigitRead, ...], b: tuple[DigitRead, ...]) -> tuple[DigitRead, ...]:
        return tuple(DigitRead(x.char, _agreement(x.confidence, y.confidence), x.lit_level,
                               x.strengths) for x, y in zip(a, b))
    if "." in by_line.text or by_line.point_confidence >= _ALONE_SURE:
        # A point both saw; or none, where the line network is all but certain of that: the
        # cell reader's doubt is then a ghost dot (on harsh photos the line network was never
        # wrong there, where it was below it missed faint points the cell reader doubted).
        point = max(by_line.point_confidence, by_cells.point_confidence)
    else:
        point = min(by_line.point_confidence, by_cells.point_confidence)
    return FieldRead(surer(by_line.integer, by_cells.integer), surer(by_line.decimals, by_cells.decimals),
                     point, by_line.mark or by_cells.mark)


def _agreement(a: float, b: float) -> float:
    """How sure a digit both readers read alike is: the surer one's confidence, unless the
    other one all but rejected it (a digit cut by the image's edge or half under glare can
    fool one reader completely); then it stays in doubt (the mean, never sure: on held-out
    harsh crops a 7 whose top glare had wiped out was read as 1 by both, the cell reader
    doubting it, at a mean just over the low-confidence bar). A digit at the bar itself (the
    cell reader's two classifiers told it apart differently) is vouched for by the other
    reader alone, so sure only from ``_ALONE_SURE``: on a held-out harsh photo a 6 whose
    lower left glare had wiped out was read as 5 by both, the line reader at 0.93."""
    lo, hi = min(a, b), max(a, b)
    if lo < _DOUBTING:
        return min((a + b) / 2, _DISAGREE_CAP)
    return hi if lo > _DOUBTING or hi >= _ALONE_SURE else _DISAGREE_CAP


def _doubted(kept: FieldRead, other: FieldRead) -> FieldRead:
    """The reading kept where two readers differ, never sure (no part above ``_DISAGREE_CAP``):
    where both split the same number of digits at the same point, only the digits they read
    differently are doubted (the resident is told which); otherwise every one is."""
    capped = _capped(kept, _DISAGREE_CAP)
    if (len(kept.integer), len(kept.decimals)) != (len(other.integer), len(other.decimals)):
        return capped
    def doubt(a: tuple[DigitRead, ...], b: tuple[DigitRead, ...],
              cut: tuple[DigitRead, ...]) -> tuple[DigitRead, ...]:
        return tuple(c if x.char != y.char else
                     DigitRead(x.char, _agreement(x.confidence, y.confidence), x.lit_level, x.strengths)
                     for x, y, c in zip(a, b, cut))
    return FieldRead(doubt(kept.integer, other.integer, capped.integer),
                     doubt(kept.decimals, other.decimals, capped.decimals),
                     capped.point_confidence, kept.mark)


def _capped(field: FieldRead, cap: float) -> FieldRead:
    """The same reading with no digit surer than ``cap``."""
    def cap_all(digits: tuple[DigitRead, ...]) -> tuple[DigitRead, ...]:
        return tuple(DigitRead(d.char, min(d.confidence, cap), d.lit_level, d.strengths)
                     for d in digits)
    return FieldRead(cap_all(field.integer), cap_all(field.decimals),
                     min(field.point_confidence, cap), field.mark)


def _read_by_cells(bgr: np.ndarray, classifier: Classifier, *, first: np.ndarray | None = None,
                   hoped: str | None = None, rows: list[DigitRow] | None = None, mark: bool = True
                   ) -> tuple[FieldRead, tuple[tuple[float, float], ...]]:
    """Try the places the display may be, cheapest first (``first`` before all), until one
    reads confidently or reads the ``hoped`` text. ``rows`` are the photo's digit rows when
    already found; ``mark=False`` leaves the tariff mark out (the caller has one)."""
    best: tuple[FieldRead, np.ndarray] | None = None
    first_error: ReadError | None = None
    regions = regions_to_try(bgr, rows)
    if first is not None:
        h, w = bgr.shape[:2]
        is_whole = bool(np.allclose(first, [[0, 0], [w, 0], [w, h], [0, h]]))
        regions = itertools.chain([(first, is_whole)], regions)
    for quad, is_whole in regions:
        # Twice the working height, so the small tariff mark keeps its detail.
        image = bgr if is_whole else rectify(bgr, quad, 2 * WORK_HEIGHT, inset=-0.02)
        try:
            # A quadrilateral may be part of the glass, cut by a reflection's edge: its digits
            # must end well inside it. A field image is cut close around its digits.
            field = read_field(image, edge_margin=0.0 if is_whole else 0.5, crop=is_whole,
                               classifier=classifier, mark=mark)
            _check_plausible(field)
        except ReadError as exc:
            first_error = first_error or exc
            continue
        if field.text == hoped:
            return field, tuple((float(x), float(y)) for x, y in quad)
        if best is None or field.confidence > best[0].confidence:
            best = (field, quad)
        if field.confidence >= _GOOD_ENOUGH:
            break
    if best is None:
        raise first_error or ReadError("no meter display found: photograph the display straight "
                                       "on, filling most of the picture")
    field, quad = best
    return field, tuple((float(x), float(y)) for x, y in quad)


def regions_to_try(bgr: np.ndarray, rows: list[DigitRow] | None = None
                   ) -> Iterator[tuple[np.ndarray, bool]]:
    """Quadrilaterals that may hold the display, likeliest first, each with whether it is the
    whole image read as a field: the glass outlines, then the surroundings of the rows of
    digits (searched only when no glass reads confidently: a reflection's edge can cut the
    glass outline, and faint glass can lose it). ``rows``: the photo's digit rows, when found
    already."""
    h, w = bgr.shape[:2]
    whole = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    is_field = _field_shaped(bgr)
    if is_field:
        yield whole, True
    for candidate in display_candidates(bgr)[:3]:
        yield candidate.quad, False
    for row in digit_rows(bgr) if rows is None else rows:
        yield row_surroundings(row), False
    if not is_field:
        yield whole, True


def _field_shaped(bgr: np.ndarray) -> bool:
    """Wide and low enough that the image may itself be a reading field (a crop)."""
    h, w = bgr.shape[:2]
    return w / h >= _FIELD_ASPECT


def _check_plausible(field: FieldRead) -> None:
    lo, hi = _INTEGER_DIGITS
    if len(field.integer) < lo:       # fewer digits than any meter shows: some are lost
        raise MissingDigits(f"what was found ({field.text!r}) is too short for a meter reading: "
                            "photograph the display straight on, without reflections")
    if len(field.integer) > hi or len(field.decimals) > 3:
        raise ReadError(f"what was found ({field.text!r}) does not look like a meter reading: "
                        "photograph the display straight on")
    for i, digit in enumerate(field.digits, 1):
        if digit.char == "?" or digit.confidence < UNREADABLE:
            raise MissingDigits(f"digit {i} of {len(field.digits)} cannot be read (glare, blur or "
                                "a faint segment): take another photo without reflections",
                                layout=(len(field.integer), len(field.decimals)))


def _qr_registers(qr: QrPayload | None) -> dict[str, int]:
    """The registers a dynamic QR code carries, the total added up where it gives only the
    tariffs; empty without a code or registers."""
    registers = dict(qr.energy_wh) if qr is not None else {}
    if "total" not in registers and {"t1", "t2", "t3"} <= registers.keys():
        registers["total"] = sum(registers[t] for t in ("t1", "t2", "t3", "t4") if t in registers)
    return registers


def _held_by_qr(text: str, qr: QrPayload | None) -> bool:
    """Whether a register of the code appears on the glass as ``text`` (``DisplayRead.shows``),
    and so confirms it (not where the match may hide lost decimals: ``_lost_decimals``)."""
    shown, decimals = int(Decimal(text) * 1000), len(text.partition(".")[2])
    return any(_appears_as(wh, shown, decimals) and not _lost_decimals(wh, decimals)
               for wh in _qr_registers(qr).values())


def _lost_decimals(register_wh: int, decimals: int) -> bool:
    """Whether a reading without decimals that a register holds, cut to whole kWh, may have
    lost decimals the glass shows: the register has Wh below the kWh, and the code cannot
    tell how many digits the glass shows (a harsh tuning photo of 08799.10, its point and
    decimals under glare, read 08799 and made sure by its code)."""
    return decimals == 0 and register_wh % 1000 != 0


def _appears_as(register_wh: int, shown_wh: int, decimals: int) -> bool:
    """The display cuts a register's value to the digits it shows: it drops, never rounds."""
    step = 10 ** (3 - decimals)
    return register_wh // step * step == shown_wh


def _checked_by_qr(read: DisplayRead) -> DisplayRead:
    """The reading checked against the registers a dynamic QR code beside the display carries.

    A QR code is decoded with error correction, so its values are exact: where the display's
    value is, to the digits it shows, the value of one register in the code, the digits are
    confirmed, and so is the mark when it names that register (or, when it named another or
    none, it is taken to be that one: the glass shows a register's value, the code says which
    register has it). Where the value is in no register, the display and the code contradict
    each other and nothing is sure. A code without registers changes nothing, nor does one
    whose registers hold a reading without decimals only cut to whole kWh (``_lost_decimals``).
    """
    registers = _qr_registers(read.qr)
    if not registers:
        return read
    holding = [t for t, wh in registers.items() if read.shows(wh)]
    if holding and all(_lost_decimals(registers[t], read.decimals) for t in holding):
        return read
    if not holding:
        return replace(read, digit_confidence=tuple(min(c, _DISAGREE_CAP) for c in read.digit_confidence),
                       confidence=min(read.confidence, _DISAGREE_CAP))
    if read.tariff in holding or len(holding) == 1:
        tariff, tariff_confidence = (read.tariff if read.tariff in holding else holding[0]), 1.0
    else:
        # Several registers hold the value, and the mark names none of them (or is not seen).
        tariff = read.tariff
        tariff_confidence = min(read.tariff_confidence, _DISAGREE_CAP) if tariff else 0.0
    # A point in the wrong place would change the value: the match confirms it too.
    return replace(read, tariff=tariff, tariff_confidence=tariff_confidence,
                   digit_confidence=(1.0,) * len(read.digit_confidence),
                   confidence=tariff_confidence if tariff is not None else 1.0)


def _display_read(field: FieldRead, box: tuple[tuple[float, float], ...],
                  qr: QrPayload | None) -> DisplayRead:
    text = field.text
    value = Decimal(text)
    tariff = field.mark.tariff if field.mark else None
    tariff_conf = field.mark.confidence if field.mark else 0.0
    if tariff_conf < _MARK_TRUSTED:
        # The mark decides the register the value is billed to: on harsh tuning photos, marks
        # read below this were wrong one time in six (13 of 79), from it none of 702 were.
        tariff_conf = min(tariff_conf, _DISAGREE_CAP)
    confidence = field.confidence if field.mark is None else min(field.confidence, tariff_conf)
    return DisplayRead(
        text=text, value_kwh=value, energy_wh=int(value * 1000), decimals=len(field.decimals),
        tariff=tariff, digit_confidence=tuple(d.confidence for d in field.digits),
        tariff_confidence=tariff_conf, confidence=confidence, display_box=box, qr=qr)
