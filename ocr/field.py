"""Reading the field: an upright image of a display (or of its digits alone) → digits, point, mark.

The steps, each robust to one thing real photos do:

1. *Stroke map* (``ocr.strokes``): how much darker each pixel is than its local background,
   relative to it. Colour casts, uneven light and the backlight colour drop out.
2. *Row*: digit-shaped blobs grouped by height and baseline; the biggest group is the digit
   row. A line through the blobs' middles (a 4 lacks the top segment, a 7 the bottom one) is
   fitted, and the row is resampled into a band where every digit is 64 pixels high. A close
   crop, squashed or stretched to a fixed size by another tool, is first given back its
   digits' proportions.
3. *Slant*: the shear that makes upright strokes upright (italic glass, residual perspective).
4. *Cells*: runs of inked columns, split or completed on the digit pitch; every seven-segment
   digit touches the right side of its cell (a 1 included), so cells sit on a grid of right
   edges, and anything off the grid (a bezel edge, a box side) is not a digit. Smaller
   decimals are found by their lower tops; a box drawn round the decimals by its line below
   the base, and erased.
5. *Digits* are classified by ``ocr.digits``; the *point* is the gap whose dot is lit as
   strongly as the segments and stands apart as a blob (every gap may show a ghost dot).

Ink left unexplained never shortens a reading: a digit-like blob just beyond the cells, a
decimal missing between the parts, or a lit point after the last digit make the field
unreadable instead (``ReadError``), so the resident is asked for another photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from drivers.errors import MissingDigits, ReadError
from ocr.digits import Classifier, DigitRead, classify_cells
from ocr.marks import MarkRead, read_mark
from ocr.strokes import brightest_channel, digit_blobs, fit_line, normalised, stroke_map

WORK_HEIGHT = 128      # the field image is scaled to this height before anything else
BAND_TOP = 16          # in the straightened band, digit tops sit on this row …
BAND_H = 64            # … and digits are this high …
BAND_ROWS = BAND_TOP + BAND_H + 28  # … with room below the base for the point and a box line
_BASE = BAND_TOP + BAND_H


@dataclass(frozen=True)
class Cell:
    """One digit's place in the straightened band: columns ``x0..x1``, rows ``top..base``."""

    x0: float
    x1: float
    top: float
    base: float


@dataclass(frozen=True)
class FieldRead:
    """What one field image shows, before it is turned into a ``DisplayRead``."""

    integer: tuple[DigitRead, ...]
    decimals: tuple[DigitRead, ...]
    point_confidence: float
    mark: MarkRead | None

    @property
    def text(self) -> str:
        whole = "".join(d.char for d in self.integer)
        frac = "".join(d.char for d in self.decimals)
        return f"{whole}.{frac}" if frac else whole

    @property
    def digits(self) -> tuple[DigitRead, ...]:
        return self.integer + self.decimals

    @property
    def confidence(self) -> float:
        return min([d.confidence for d in self.digits] + [self.point_confidence])


@dataclass(frozen=True)
class _Row:
    top: np.ndarray     # line coefficients (slope, intercept) in work-image pixels
    base: np.ndarray
    x0: float
    x1: float
    height: float
    digit_aspect: float | None = None   # typical width / height of the row's wider digits


@dataclass(frozen=True)
class FieldLayout:
    """Where the digits are: the straightened band and its cells, before any is classified."""

    band: np.ndarray                 # stroke map, digits 64 px high, upright
    integer: tuple[Cell, ...]        # full-size cells (decimals among them when full-size)
    decimals: tuple[Cell, ...]       # smaller or boxed decimals, when the glass sets them apart
    mark: MarkRead | None

    @property
    def cells(self) -> tuple[Cell, ...]:
        return self.integer + self.decimals


def layout_field(bgr: np.ndarray, *, edge_margin: float = 0.0, crop: bool = False,
                 mark: bool = True) -> FieldLayout:
    """Find the digit row of an upright display image and its cells; ``ReadError`` when none.

    ``edge_margin`` (in digit widths) is the bare glass the digits must leave at the image's
    left and right edges: a region cut out of a photo that ends right after a digit may have
    cut the reading short. ``crop`` says the image is the reading field itself, cut close
    around the digits (and perhaps squashed or stretched): no tariff mark is looked for, and
    the digits may touch its edges. ``mark=False`` skips the tariff mark (a caller that has
    it already).
    """
    stroke, row = _locate_row(bgr, crop=crop)
    band, (left_edge, right_edge) = _straighten(stroke, row)
    band, lean = _deslant(band)
    cells_int, cells_dec = _cells(band, lean)
    digit_w = cells_int[0].x1 - cells_int[0].x0
    if edge_margin > 0 and (cells_int[0].x0 - left_edge < edge_margin * digit_w or
                            right_edge - (cells_dec or cells_int)[-1].x1 < edge_margin * digit_w):
        # The region may have cut the reading short: digits past its edge are lost to it.
        raise MissingDigits("the digits run off the edge of the display found: photograph the "
                            "whole display")
    to_image = bgr.shape[0] / WORK_HEIGHT
    found = None if crop or not mark else read_mark(
        bgr, row_top=_line_at(row.top, row.x0) * to_image, row_x0=row.x0 * to_image,
        row_height=row.height * to_image)
    return FieldLayout(band, tuple(cells_int), tuple(cells_dec), found)


def read_field(bgr: np.ndarray, *, edge_margin: float = 0.0, crop: bool = False,
               classifier: Classifier = "both", mark: bool = True) -> FieldRead:
    """Read the digit row of an upright display image (see ``layout_field``)."""
    layout = layout_field(bgr, edge_margin=edge_margin, crop=crop, mark=mark)
    digits = classify_cells(layout.band, layout.cells, classifier)
    if _trailing_point(layout.band, layout.cells[-1], digits[-1]):
        raise MissingDigits("the point is lit after the last digit read, so the decimals could not "
                            "be made out: take another photo straight on, without reflections")
    integer = tuple(digits[: len(layout.integer)])
    decimals = tuple(digits[len(layout.integer):])
    point_conf, integer, decimals = _place_point(layout.band, list(layout.integer),
                                                 list(layout.decimals), integer, decimals)
    return FieldRead(integer, decimals, point_conf, layout.mark)


def _locate_row(bgr: np.ndarray, *, crop: bool) -> tuple[np.ndarray, _Row]:
    """The stroke map at ``WORK_HEIGHT`` and the digit row in it."""
    scale = WORK_HEIGHT / bgr.shape[0]
    width = max(8, int(round(bgr.shape[1] * scale)))
    work = cv2.resize(bgr, (width, WORK_HEIGHT), interpolation=cv2.INTER_AREA
                      if scale < 1 else cv2.INTER_LINEAR)
    stroke = stroke_map(brightest_channel(work), 0.22 * WORK_HEIGHT)
    row = _find_row(stroke, crop=crop)
    if crop and row.digit_aspect is not None and not 0.35 <= row.digit_aspect <= 0.7:
        # A crop stretched or squashed to a fixed size: undo it, so digits have their shape.
        width = max(8, int(round(width * 0.52 / row.digit_aspect)))
        work = cv2.resize(work, (width, WORK_HEIGHT), interpolation=cv2.INTER_AREA)
        stroke = stroke_map(brightest_channel(work), 0.22 * WORK_HEIGHT)
        row = _find_row(stroke, crop=crop)
    return stroke, row


def _field_row(stroke: np.ndarray) -> _Row:
    """The row of a close crop: the block of rows with ink, short breaks bridged (rows between
    the top and middle segments hold only the thin uprights)."""
    h, w = stroke.shape
    inked = stroke.mean(axis=1)
    floor = float(np.percentile(inked, 10))  # the glass above or below the digits, if any
    rows = np.flatnonzero(inked - floor > 0.2 * (float(inked.max()) - floor))
    if len(rows) == 0:
        raise ReadError("no row of display digits found in the image")
    blocks = np.split(rows, np.flatnonzero(np.diff(rows) > 0.04 * h) + 1)
    block = max(blocks, key=lambda b: b[-1] - b[0])
    top, base = float(block[0]), float(block[-1] + 1)
    if base - top < 0.3 * h:
        raise ReadError("no row of display digits found in the image")
    return _Row(np.array([0.0, top]), np.array([0.0, base]), 0.0, float(w), base - top)


def _find_row(stroke: np.ndarray, *, crop: bool = False) -> _Row:
    h = stroke.shape[0]
    binary = (normalised(stroke, 0.6 * h) > 0.42).astype(np.uint8)
    # In a close crop the digits fill the height and may touch its edges.
    boxes = digit_blobs(binary, 0.18 * h, (1.0 if crop else 0.97) * h,
                        max_aspect=1.8 if crop else 0.9)
    # A frame drawn around the decimals is as tall as a digit but holds other blobs inside.
    boxes = [b for b in boxes if not any(
        o is not b and b[0] < o[0] + o[2] / 2 < b[0] + b[2] and b[1] < o[1] + o[3] / 2 < b[1] + b[3]
        for o in boxes)]
    best: list[tuple[float, float, float, float]] = []
    for x, y, bw, bh in boxes:
        base = y + bh
        group = [b for b in boxes
                 if abs(b[1] + b[3] - base) <= 0.15 * bh and 0.8 <= b[3] / bh <= 1.25]
        if (len(group), sum(b[3] for b in group)) > (len(best), sum(b[3] for b in best)):
            best = group
    if len(best) < 2 and crop:
        return _field_row(stroke)
    if len(best) < 2:
        raise ReadError("no row of display digits found: photograph the meter's display straight on,"
                        " filling most of the picture")
    xs = np.array([b[0] + b[2] / 2 for b in best])
    tops = np.array([b[1] for b in best])
    bases = np.array([b[1] + b[3] for b in best])
    # A 4 lacks the top segment and a 7 the bottom one, so tops and bases wander with the
    # digits shown; the middles do not. The row is fitted through the middles.
    middle = fit_line(xs, (tops + bases) / 2)
    height = float(np.percentile(bases - tops, 75))
    top_line = middle - np.array([0.0, height / 2])
    base_line = middle + np.array([0.0, height / 2])
    x0 = min(b[0] for b in best)
    x1 = max(b[0] + b[2] for b in best)
    widths = sorted(b[2] for b in best)
    aspect = float(np.median(widths[len(widths) // 2:])) / height  # the wider half: no 1s
    return _Row(top_line, base_line, x0, x1, height, aspect)


def _line_at(line: np.ndarray, x: float) -> float:
    return float(line[0] * x + line[1])


def _straighten(stroke: np.ndarray, row: _Row) -> tuple[np.ndarray, tuple[float, float]]:
    """Resample the row so digit tops lie on ``BAND_TOP`` and bases on ``BAND_TOP + BAND_H``;
    also where the image's left and right edges fall in the band."""
    px = row.height / BAND_H  # work pixels per band pixel
    # The whole width: decimals smaller than the row, or boxed, were not part of it.
    start = min(0.0, row.x0 - row.height)
    cols = int((max(float(stroke.shape[1]), row.x1 + row.height) - start) / px)
    xs = start + np.arange(cols, dtype=np.float32) * px
    tops = row.top[0] * xs + row.top[1]
    bases = row.base[0] * xs + row.base[1]
    scale_y = (bases - tops) / BAND_H
    rows = np.arange(BAND_ROWS, dtype=np.float32) - BAND_TOP
    map_y = (tops[None, :] + rows[:, None] * scale_y[None, :]).astype(np.float32)
    map_x = np.broadcast_to(xs[None, :], map_y.shape).astype(np.float32)
    band = cv2.remap(stroke, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0)
    return band, (-start / px, (stroke.shape[1] - start) / px)


def _deslant(band: np.ndarray) -> tuple[np.ndarray, float]:
    """Undo italic slant: the shear whose column profile of the digits is sharpest.

    Searched coarse then fine; up to 0.6 because a crop stretched sideways leans further
    than its glass does.
    """
    zone = band[BAND_TOP:_BASE]
    binary = (zone > 0.5 * float(np.percentile(zone, 99))).astype(np.float32)

    def sharpness(lean: float) -> float:
        return float((_shear(binary, lean, BAND_H).sum(axis=0) ** 2).sum())

    coarse = max(np.arange(-0.16, 0.61, 0.04), key=lambda v: sharpness(float(v)))
    best = float(max(np.arange(coarse - 0.03, coarse + 0.031, 0.01), key=lambda v: sharpness(float(v))))
    return _shear(band, best, _BASE), best


def _shear(img: np.ndarray, lean: float, base_row: int) -> np.ndarray:
    # x' = x - lean * (base_row - y): tops lean right in italic glass, the base stays put.
    m = np.array([[1.0, lean, -lean * base_row], [0.0, 1.0, 0.0]], np.float32)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@dataclass(frozen=True)
class _Run:
    x0: int
    x1: int       # exclusive
    top: int
    bottom: int   # exclusive

    @property
    def width(self) -> int:
        return self.x1 - self.x0


def _cells(band: np.ndarray, lean: float) -> tuple[list[Cell], list[Cell]]:
    """Integer and decimal digit cells (decimals only when smaller or boxed).

    A box's lines are erased from ``band`` in place, so they are not sampled as segments.
    """
    level = float(np.percentile(band[BAND_TOP:_BASE], 99))
    if level < 0.05:
        raise ReadError("the display's digits are too faint to read: light the display evenly")
    # Against the local maximum, so digits under a glare spot stand out like the others.
    binary = normalised(band, BAND_H) > 0.4
    box = _box_foot(binary)
    if box is not None:
        _erase_box(band, binary, box, lean)
    runs = _runs(binary)
    # A digit spans the row from top to base (a 1, 4 or 7 falls short by a segment's end);
    # a line running beyond both (a bezel edge, a reflection's border) is not a digit.
    tall = [r for r in runs if r.bottom - r.top >= 0.45 * BAND_H and r.bottom >= _BASE - 0.2 * BAND_H
            and r.bottom <= _BASE + 6 and r.top >= BAND_TOP - 4]
    full = [r for r in tall if r.top <= BAND_TOP + 0.17 * BAND_H]
    small = [r for r in tall if r.top > BAND_TOP + 0.17 * BAND_H]
    # A 1 has no top segment, so it starts low like a smaller decimal; alone and narrow, it
    # is a full-size 1 (were it a small decimal, the point still puts it after the point).
    if box is None and len(small) == 1 and small[0].width < 0.3 * BAND_H:
        full, small = sorted(full + small, key=lambda r: r.x0), []
    if box is not None:
        small += [r for r in full if r.x0 >= box[0] - 2]
        full = [r for r in full if r.x0 < box[0] - 2]
    if not full:
        raise ReadError("no display digits found in the picture")
    width, pitch = _digit_geometry(full, BAND_H)
    full = _main_chain(full, pitch)
    width, pitch = _digit_geometry(full, BAND_H)
    integer = _place_cells(full, width, pitch, BAND_TOP)
    # Smaller decimals follow the integer part closely; small runs elsewhere are something else.
    last_full = max(r.x1 for r in full)
    small = [r for r in small if last_full - 2 < r.x0 < last_full + 2.0 * pitch or
             (box is not None and r.x0 >= box[0] - 2)]
    decimals: list[Cell] = []
    if small:
        s_top = float(np.median([r.top for r in small]))
        s_height = _BASE - s_top
        fallback = (width * s_height / BAND_H, pitch * s_height / BAND_H)
        s_width, s_pitch = _digit_geometry(small, s_height, fallback=fallback)
        small = _main_chain(small, s_pitch)
        s_width, s_pitch = _digit_geometry(small, s_height, fallback=fallback)
        decimals = _place_cells(small, s_width, s_pitch, s_top)
        # The decimals follow the integer part at about one pitch; more means one was lost.
        if decimals[0].x1 - integer[-1].x1 > 1.6 * pitch:
            raise MissingDigits("a digit between the whole and the decimal part could not be "
                                "made out: take another photo straight on, without reflections")
    last = (decimals or integer)[-1]
    if _stray_digit(binary, integer[0].x0 - 1.3 * pitch, integer[0].x0 - 0.15 * pitch) or \
            _stray_digit(binary, last.x1 + 0.15 * pitch, last.x1 + 1.3 * pitch):
        raise ReadError("a digit beside the reading could not be made out: take another photo "
                        "straight on, without reflections")
    return integer, decimals


def _stray_digit(binary: np.ndarray, x0: float, x1: float) -> bool:
    """Whether columns ``x0..x1`` hold ink where a digit's upper segments would be that belongs
    to something digit-sized: a digit the cells missed. A line through the whole band (a bezel
    edge, upright or leaning) or along it is not one."""
    c0, c1 = int(max(0, x0)), int(min(binary.shape[1], x1))
    if c1 <= c0:
        return False
    r0, r1 = BAND_TOP + 3, BAND_TOP + int(0.3 * BAND_H)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    zone = labels[r0:r1, c0:c1]
    for label in np.unique(zone[zone > 0]):
        _, y, w, h, _ = stats[label]
        if h >= binary.shape[0] - 12 or w > 3 * BAND_H:
            continue
        columns = int((zone == label).any(axis=0).sum())
        if columns >= 0.06 * BAND_H and (zone == label).sum() >= 0.3 * columns * (r1 - r0):
            return True
    return False


def _box_foot(binary: np.ndarray) -> tuple[int, int] | None:
    """The columns of a box's bottom line: a line below the base with bare glass between it and
    the digits (a digit's bottom segment ends at the base), longer than a segment's end,
    shorter than three decimals (a bezel's edge runs under the whole display), with a side
    rising from each end (a legend printed below the digits has none)."""
    best = None
    for y in range(_BASE + 1, _BASE + 22):
        span = _widest_span(binary[y])
        if span is None or not 0.42 * BAND_H <= span[1] - span[0] <= 3.2 * BAND_H:
            continue
        x0, x1 = span
        mid = (x0 + x1) // 2
        top = y
        while top > 0 and binary[top - 1, mid]:
            top -= 1
        sides = [binary[_BASE - int(0.4 * BAND_H):y, max(0, x - 4):x + 4].any(axis=1).mean()
                 for x in (x0 + 1, x1 - 1)]
        if top >= _BASE + 1 and y - top <= 0.12 * BAND_H and min(sides) > 0.7 and (
                best is None or x1 - x0 > best[1] - best[0]):
            best = span
    return best


def _erase_box(band: np.ndarray, binary: np.ndarray, span: tuple[int, int], lean: float) -> None:
    """Clear the lines of a box drawn around the decimals from ``band`` and ``binary``.

    Its top and bottom are the only lines longer than most of the box's width (a segment of a
    decimal is shorter than the box around it). Each side rises from an end of the bottom
    line, upright or leaning as the band was deslanted (the glass may draw the box upright
    while its digits lean): whichever runs through more ink is erased, as a line, so a digit
    touching it survives.
    """
    x0, x1 = span
    reach = int(0.25 * BAND_H)
    lo, hi = max(0, x0 - reach), min(binary.shape[1], x1 + reach)
    # Thin lines lose more contrast to blur than segments do: look for them at a lower level.
    faint = (band > 0.2 * float(np.percentile(band[BAND_TOP:_BASE], 99))).astype(np.uint8)
    region = faint[:, lo:hi]
    long = max(3, int(0.7 * (x1 - x0)))
    lines = cv2.morphologyEx(region, cv2.MORPH_OPEN, np.ones((1, long), np.uint8))
    rows = np.flatnonzero(lines.any(axis=1))
    bottom = rows[rows >= _BASE + 1]
    top = rows[rows < _BASE - 0.3 * BAND_H]
    top = top[top <= top[0] + 5] if len(top) else top
    yb = int(round(bottom.mean())) if len(bottom) else _BASE + 6
    yt = int(round(top.mean())) if len(top) else BAND_TOP - 8
    # Only the box's own two lines: decimals' segments joined by blur may also be long.
    keep = np.zeros(lines.shape[0], bool)
    keep[np.concatenate([top, bottom]).astype(int)] = True
    lines[~keep] = 0
    mask = np.zeros(binary.shape, np.uint8)
    mask[:, lo:hi] = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    thick = 6
    spread = cv2.dilate(faint, np.ones((3, 3), np.uint8))
    for foot in (x0 + 1, x1 - 2):
        end = _side_end(spread, foot, yb, yt, lean)
        if end is not None:
            cv2.line(mask, (foot, yb), end, 1, thick)
    erase = mask.astype(bool)
    band[erase] = 0.0
    binary[erase] = False


def _side_end(spread: np.ndarray, foot: int, yb: int, yt: int, lean: float) -> tuple[int, int] | None:
    """The top end of a box side rising from ``(foot, yb)``, upright or leaning, if one is there."""
    if not 0 <= foot < spread.shape[1]:
        return None
    for shift in (0.0, -lean * (yb - yt)):
        end = (int(round(foot + shift)), yt)
        trace = np.zeros(spread.shape, np.uint8)
        cv2.line(trace, (foot, yb), end, 1, 1)
        if float(spread[trace.astype(bool)].mean()) > 0.6:
            return end
    return None


def _widest_span(mask: np.ndarray) -> tuple[int, int] | None:
    best = None
    start = None
    for i, on in enumerate(np.append(mask, False)):
        if on and start is None:
            start = i
        elif not on and start is not None:
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def _runs(binary: np.ndarray) -> list[_Run]:
    # Above the bottom fifth: a point beside a digit must not widen its run.
    zone = binary[BAND_TOP - 4:_BASE - int(0.2 * BAND_H)]
    profile = zone.sum(axis=0)
    inked = profile >= 2
    runs = []
    start = None
    for i, on in enumerate(np.append(inked, False)):
        if on and start is None:
            start = i
        elif not on and start is not None:
            # Only near the row: a unit printed below the decimals is not part of them.
            rows = np.flatnonzero(binary[BAND_TOP - 6:_BASE + 10, start:i].any(axis=1))
            runs.append(_Run(start, i, int(rows[0]) + BAND_TOP - 6, int(rows[-1]) + BAND_TOP - 5))
            start = None
    return runs


def _digit_geometry(runs: list[_Run], height: float,
                    fallback: tuple[float, float] | None = None) -> tuple[float, float]:
    """Digit width and pitch from the runs; a run of ones or merged digits must not fool it."""
    widths = np.array([r.width for r in runs], np.float32)
    plausible = widths[(widths >= 0.3 * height) & (widths <= 0.8 * height)]
    rights = np.array(sorted(r.x1 for r in runs), np.float32)
    steps = np.diff(rights)
    steps = steps[(steps >= 0.4 * height) & (steps <= 1.2 * height)]
    pitch = float(np.median(steps)) if len(steps) else None
    if len(plausible):
        width = float(np.median(plausible))
    elif pitch is not None:
        width = 0.72 * pitch
    elif fallback is not None:
        width = fallback[0]
    else:
        width = 0.5 * height
    if pitch is None:
        pitch = fallback[1] if fallback is not None else width * 1.4
    return width, max(pitch, width * 1.05)


def _main_chain(runs: list[_Run], pitch: float) -> list[_Run]:
    """The longest sequence of runs on the digit pitch, at most one missing digit apart.

    Every digit's right edge sits on the pitch grid (a 1 included), so a bezel edge or a
    legend nearby, off the grid, is not taken for a digit; a thin line off the grid between
    digits (the side of a box round the decimals, a scratch) is stepped over, not a break.
    """
    ordered = sorted(runs, key=lambda r: r.x1)
    chains: list[list[_Run]] = [[ordered[0]]]
    for r in ordered[1:]:
        steps = (r.x1 - chains[-1][-1].x1) / pitch
        if round(steps) in (1, 2) and abs(steps - round(steps)) <= 0.3:
            chains[-1].append(r)
        elif r.width < 0.3 * BAND_H and steps < 2.5:
            continue
        else:
            chains.append([r])
    return max(chains, key=lambda c: (len(c), sum(r.width for r in c)))


def _place_cells(runs: list[_Run], width: float, pitch: float, top: float) -> list[Cell]:
    cells: list[Cell] = []
    for r in sorted(runs, key=lambda r: r.x0):
        count = max(1, int(round((r.width + pitch - width) / pitch)))
        for k in range(count - 1, -1, -1):
            right = r.x1 - k * pitch
            cells.append(Cell(right - width, right, top, float(_BASE)))
    # A digit lost to glare leaves a gap of whole pitches: mark its place rather than close it.
    filled: list[Cell] = []
    for cell in cells:
        if filled:
            missing = int(round((cell.x1 - filled[-1].x1) / pitch)) - 1
            for k in range(1, missing + 1):
                right = filled[-1].x1 + pitch
                filled.append(Cell(right - width, right, top, float(_BASE)))
        filled.append(cell)
    return filled


def point_scores(band: np.ndarray, cells: list[Cell],
                 digits: tuple[DigitRead, ...]) -> list[tuple[float, bool]]:
    """For each gap between neighbouring cells: how strongly it shows a dot at the base,
    relative to the lit segments beside it, and whether that dot stands apart as a blob.

    The gap runs from the left digit's ink to the right digit's ink, both measured in the
    upper rows where no dot is (a cell's own edges are estimates). Strength is a small patch
    at the base minus the patch above it, so a blurred digit edge (as strong above as below)
    cancels. A 3, 5 or 9 ends in a bottom segment without the lower-left upright, which can
    look like a dot if the gap is misjudged: a real dot is also a blob of its own.
    """
    size = max(3, int(round(0.1 * BAND_H)))
    blurred = cv2.blur(band, (size, size))
    binary = normalised(band, BAND_H) > 0.4
    inked_cols = binary[BAND_TOP + int(0.1 * BAND_H):_BASE - int(0.3 * BAND_H)].any(axis=0)
    scores = []
    for (left, right), (d_left, d_right) in zip(zip(cells, cells[1:]), zip(digits, digits[1:])):
        lo = int(max(0, left.x0 + 0.5 * (left.x1 - left.x0)))
        hi = int(min(band.shape[1], right.x1 - 0.5 * (right.x1 - right.x0)))
        cols = np.flatnonzero(~inked_cols[lo:hi]) + lo
        if len(cols) == 0:
            scores.append((0.0, False))
            continue
        # The widest stretch of bare columns between the two digits is the gap.
        runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
        gap = max(runs, key=len)
        x0, x1 = int(gap[0]) + 1, int(gap[-1])
        best, at = 0.0, (0, 0)
        if x1 > x0:
            for y in range(_BASE - int(0.12 * BAND_H), _BASE - int(0.02 * BAND_H) + 1):
                above = y - int(round(1.3 * size))
                diff = blurred[y, x0:x1] - blurred[above, x0:x1]
                if float(diff.max()) > best:
                    best, at = float(diff.max()), (y, x0 + int(np.argmax(diff)))
        # Bare glass between the dot and the next digit, along the dot's own row.
        y, x = at
        ahead = blurred[y, x:x + int(0.3 * BAND_H)]
        isolated = best > 0 and len(ahead) > 1 and float(ahead.min()) < 0.8 * float(blurred[y, x])
        lit = max(1e-6, (d_left.lit_level + d_right.lit_level) / 2)
        scores.append((best / lit, isolated))
    return scores


def _trailing_point(band: np.ndarray, last: Cell, digit: DigitRead) -> bool:
    """Whether a lit dot follows the last cell: the decimals after it were missed."""
    size = max(3, int(round(0.1 * BAND_H)))
    blurred = cv2.blur(band, (size, size))
    width = last.x1 - last.x0
    x0, x1 = int(last.x1 + 1), int(min(band.shape[1], last.x1 + 0.6 * width))
    if x1 <= x0:
        return False
    best = 0.0
    for y in range(int(last.base - 0.12 * BAND_H), int(last.base - 0.02 * BAND_H) + 1):
        above = y - int(round(1.3 * size))
        best = max(best, float((blurred[y, x0:x1] - blurred[above, x0:x1]).max()))
    return best / max(digit.lit_level, 1e-6) >= POINT_LIT + _POINT_MARGIN


POINT_LIT = 0.3      # a dot this strong (relative to the segments) is lit …
POINT_RATIO = 2.0    # … when it also stands out this much from the ghost dots in other gaps
_POINT_MARGIN = 0.12


def _place_point(band: np.ndarray, integer_cells: list[Cell], decimal_cells: list[Cell],
                 integer: tuple[DigitRead, ...], decimals: tuple[DigitRead, ...]
                 ) -> tuple[float, tuple[DigitRead, ...], tuple[DigitRead, ...]]:
    """Find the lit point among the gaps; it decides where the decimals start."""
    digits = integer + decimals
    if decimal_cells:
        # Smaller or boxed decimals say where the point is; a lit dot anywhere else says
        # that the cells were split wrongly.
        found = point_scores(band, integer_cells + decimal_cells, digits)
        if not found:
            return 1.0, integer, decimals
        scores = [score for score, _ in found]
        at = int(np.argmax(scores))
        runner = max([x for i, x in enumerate(scores) if i != at], default=0.0)
        elsewhere = at != len(integer_cells) - 1 and found[at][1] and \
            scores[at] >= POINT_LIT and scores[at] >= POINT_RATIO * runner
        return (0.0 if elsewhere else 1.0), integer, decimals
    found = point_scores(band, integer_cells, digits)
    if not found:
        return 1.0, integer, decimals
    scores = [score for score, _ in found]
    order = np.argsort(scores)[::-1]
    top = scores[order[0]]
    runner = scores[order[1]] if len(scores) > 1 else 0.0
    if top >= POINT_LIT and top >= POINT_RATIO * runner and found[order[0]][1]:
        at = int(order[0]) + 1
        sure = min(top - POINT_LIT, top - POINT_RATIO * runner) / _POINT_MARGIN
        return float(np.clip(sure, 0.0, 1.0)), digits[:at], digits[at:]
    # No lit dot: an integer reading, sure of it only when even the strongest dot is faint.
    return float(np.clip((POINT_LIT - top) / _POINT_MARGIN, 0.0, 1.0)), integer, decimals
