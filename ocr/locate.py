"""Finding the display in a photo, and cutting it out upright.

No per-meter set-up. Two searches:

- ``digit_rows``: the digits are the largest characters on a meter, in an evenly pitched row
  of similar dark blobs. Blobs of ink (darker than their local background, so glare, shade and
  the backlight's colour drop out) are chained into rows at two scales of an 800-pixel copy;
  the best few rows are measured again in a strip where their digits are 32 pixels high (middle
  line, height, ends, slant) and cut out upright. ``DigitRow`` and the contract
  of its image are documented on ``digit_rows``: it is what a line recognizer consumes.
- ``display_candidates``: the glass of an LCD is a bright, flat rectangle inside a darker
  bezel, so its outline is a strong closed edge whose corners a perspective transform maps
  back to a rectangle. A reflection's edge can cut the outline, and faint glass can lose it.
  On a glass cut out upright, ``glass_bands`` gives rows where its ink is densest, for digits
  the blob finder could not chain.

The reader tries regions in order and keeps the one whose digits it reads best, so a QR code,
a label or the housing's own outline costs time, not a wrong reading.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ocr.strokes import brightest_channel, fit_line, odd, stacked, stroke_map

SEARCH_SIDE = 640          # the photo is searched at this long side
MIN_AREA = 0.01            # of the photo
MAX_CANDIDATES = 4


@dataclass(frozen=True)
class Candidate:
    """A quadrilateral that may be the display glass, corners clockwise from top left."""

    quad: np.ndarray   # 4 x 2 float32, photo pixels
    score: float


def display_candidates(bgr: np.ndarray) -> list[Candidate]:
    """Quadrilaterals shaped like a display, the likeliest first."""
    h, w = bgr.shape[:2]
    factor = min(1.0, SEARCH_SIDE / max(h, w))
    # One channel first: shrinking it costs a third of shrinking the colour photo.
    gray = _shrunk(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), factor)
    area = gray.shape[0] * gray.shape[1]
    found: list[Candidate] = []
    for sigma in (1.0, 2.5):
        blurred = cv2.GaussianBlur(gray, (0, 0), sigma)
        # Thresholds from the photo's own gradients: a blurred, low-contrast photo has weak
        # edges everywhere, and the glass outline is still among the strongest of them.
        gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1)
        high = max(8.0, float(np.percentile((np.abs(gx) + np.abs(gy))[::3, ::3], 93)))
        edges = cv2.Canny(blurred, 0.4 * high, high, L2gradient=False)
        edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
        contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            quad = _quad(contour, area)
            if quad is not None:
                found.append(Candidate(quad / factor, _score(quad, area)))
    return _distinct(sorted(found, key=lambda c: -c.score))[:MAX_CANDIDATES]


def _shrunk(image: np.ndarray, factor: float) -> np.ndarray:
    if factor >= 1.0:
        return image
    h, w = image.shape[:2]
    return cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))),
                      interpolation=cv2.INTER_AREA)


def _quad(contour: np.ndarray, area: float) -> np.ndarray | None:
    contour_area = cv2.contourArea(contour)
    if contour_area < MIN_AREA * area or contour_area > 0.9 * area:
        return None
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    approx = cv2.approxPolyDP(hull, 0.03 * perimeter, True)
    if len(approx) == 4:
        quad = approx.reshape(4, 2).astype(np.float32)
    else:
        rect = cv2.minAreaRect(hull)
        if contour_area < 0.8 * rect[1][0] * rect[1][1]:
            return None
        quad = cv2.boxPoints(rect).astype(np.float32)
    quad = order_corners(quad)
    width = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    height = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    if height < 12 or not 1.5 <= width / height <= 9.0:
        return None
    return quad


def _score(quad: np.ndarray, area: float) -> float:
    # Bigger is likelier (the resident aims at the display), but not the whole housing.
    fraction = cv2.contourArea(quad) / area
    return float(min(fraction, 0.5) - max(0.0, fraction - 0.5))


def _distinct(candidates: list[Candidate]) -> list[Candidate]:
    kept: list[Candidate] = []
    for c in candidates:
        if all(np.abs(c.quad - k.quad).max() > 0.04 * np.ptp(k.quad[:, 0]) for k in kept):
            kept.append(c)
    return kept


def order_corners(quad: np.ndarray) -> np.ndarray:
    """Corners clockwise from top left, the long side first (the display is wider than high)."""
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    quad = quad[np.argsort(angles)]  # clockwise in image coordinates, starting anywhere
    for k in range(4):
        q = np.roll(quad, -k, axis=0)
        top, side = q[1] - q[0], q[3] - q[0]
        # The top edge is a long one, running left to right.
        if np.linalg.norm(top) >= np.linalg.norm(side) and top[0] > 0:
            return q.astype(np.float32)
    return quad.astype(np.float32)


def rectify(bgr: np.ndarray, quad: np.ndarray, height: int, *, inset: float = 0.0) -> np.ndarray:
    """The quadrilateral warped to an upright rectangle ``height`` pixels high.

    ``inset`` trims that fraction of the height from every side, dropping a bezel edge.
    """
    width_px = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    height_px = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    width = max(8, int(round(height * width_px / height_px)))
    # Warp from a copy no more than twice the target size, so shrinking does not alias.
    factor = min(1.0, 2.0 * height / height_px)
    source = bgr
    if factor < 1.0:
        source = cv2.resize(bgr, (max(1, round(bgr.shape[1] * factor)),
                                  max(1, round(bgr.shape[0] * factor))), interpolation=cv2.INTER_AREA)
    pad = inset * height
    dest = np.array([[-pad, -pad], [width + pad, -pad], [width + pad, height + pad],
                     [-pad, height + pad]], np.float32)
    matrix = cv2.getPerspectiveTransform((quad * factor).astype(np.float32), dest)
    return cv2.warpPerspective(source, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


# --- the digit row, found directly -------------------------------------------------------

ROW_HEIGHT = 48            # default height of a row image
ROW_TOP = 0.2              # digit tops at this fraction of the row image's height …
ROW_BASE = 0.8             # … and bases at this one
ROW_SIDE = 1.2             # room left and right of the outermost digit-like blobs, in digit heights
_FIND_SIDE = 640           # the photo is searched for rows at this long side
_FIND_KERNEL = 21          # background closing there: wider than the thickest stroke
_REFINE_HEIGHT = 32        # digits this high in the band where a row is measured


@dataclass(frozen=True)
class DigitRow:
    """A row of display digits cut out of a photo upright (see ``digit_rows``)."""

    image: np.ndarray      # BGR uint8, ``height`` rows
    quad: np.ndarray       # 4 x 2 float32: the photo region the image shows, clockwise from top left
    digit_height: float    # full-size digits' height in photo pixels
    slant: float           # shear removed (x shift per unit of height): italic glass and perspective
    score: float


@dataclass(frozen=True)
class _Chain:
    """A row of similar blobs in the search image: their middle line and height."""

    line: np.ndarray       # slope, intercept of the blobs' middles
    height: float
    x0: float
    x1: float
    score: float


def _row_chains(bgr: np.ndarray) -> list[_Chain]:
    """Rows of digit-like blobs in the photo (photo pixels), best first: searched at two
    scales, so large digits broken by glare join up at the coarse one and small ones stay
    apart at the fine one."""
    gray, factor = _search_gray(bgr)
    found: list[_Chain] = []
    for level in range(2):
        if level:
            gray = cv2.pyrDown(gray)
            factor *= 0.5
        ink = _ink_map(gray, _FIND_KERNEL)
        binary = _binary_ink(ink, 2 * _FIND_KERNEL)
        blobs = _blobs(binary, 6.0 if level == 0 else 12.0, 0.5 * max(gray.shape))
        for c in _blob_chains(blobs):
            found.append(_Chain(np.array([c.line[0], c.line[1] / factor]), c.height / factor,
                                c.x0 / factor, c.x1 / factor, c.score / factor ** 2))
    found.sort(key=lambda c: -c.score)
    kept: list[_Chain] = []
    for c in found:
        if not any(_same_row(c, k) for k in kept):
            kept.append(c)
    return kept


def _same_row(a: _Chain, b: _Chain) -> bool:
    overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
    x = (max(a.x0, b.x0) + min(a.x1, b.x1)) / 2
    dy = abs((a.line[0] - b.line[0]) * x + a.line[1] - b.line[1])
    # Not chains of very different heights: digits inside a dark patch the coarse scale took
    # for a row of large ones are a row of their own.
    alike = max(a.height, b.height) <= 2.0 * min(a.height, b.height)
    return overlap > 0.5 * min(a.x1 - a.x0, b.x1 - b.x0) and dy < 0.5 * max(a.height, b.height) \
        and alike


def _search_gray(bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """Grey photo at about ``_FIND_SIDE``: halved by pyramid (cheap, no aliasing) then resized."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    width = bgr.shape[1]
    while max(gray.shape) >= 2 * _FIND_SIDE:
        gray = cv2.pyrDown(gray)
    if max(gray.shape) > _FIND_SIDE:
        f = _FIND_SIDE / max(gray.shape)
        gray = cv2.resize(gray, (max(1, round(gray.shape[1] * f)), max(1, round(gray.shape[0] * f))),
                          interpolation=cv2.INTER_LINEAR)
    return gray, gray.shape[1] / width


def _ink_map(gray: np.ndarray, kernel: int) -> np.ndarray:
    """Darkening relative to the local background (a closing at half size), 0..255 as uint8.

    Relative, so a shaded corner and a glared one give their digits the same contrast.
    """
    h, w = gray.shape
    half = cv2.resize(gray, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    k = odd(kernel / 2)
    background = cv2.morphologyEx(half, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    background = cv2.resize(cv2.blur(background, (3, 3)), (w, h), interpolation=cv2.INTER_LINEAR)
    background = cv2.max(background, gray)
    return cv2.divide(cv2.subtract(background, gray), cv2.add(background, 10), scale=255.0)


def _binary_ink(ink: np.ndarray, size: int) -> np.ndarray:
    """Ink at least 45 % of the strongest nearby, and well above the photo's speckle (four
    times the median darkening, which is noise on bare surfaces)."""
    local = cv2.blur(cv2.dilate(ink, np.ones((size, size), np.uint8)), (size, size))
    sample = ink[::4, ::4]
    floor = max(10.0, 0.25 * float(np.percentile(sample, 99.7)), 4.0 * float(np.median(sample)) + 4)
    strong = cv2.compare(ink, floor, cv2.CMP_GT)
    relative = cv2.compare(ink.astype(np.uint16) * 100, local.astype(np.uint16) * 45, cv2.CMP_GT)
    return cv2.bitwise_and(strong, relative) // 255


def _blobs(binary: np.ndarray, min_h: float, max_h: float) -> np.ndarray:
    """Digit-like blobs as rows of x, y, w, h, count: a digit's segments, parted by a faint
    middle or by blur-thinned joints, stacked back together. Digits merged by blur (or by
    the point between them) come as one wide blob with ``count`` digits in it."""
    pieces = _pieces(binary, min_h, max_h)
    if len(pieces) > _MAX_PIECES:  # a textured background: keep the biggest pieces
        pieces = pieces[np.argsort(-pieces[:, 4])[:_MAX_PIECES]]
    boxes = stacked(pieces)
    w, h = boxes[:, 2], boxes[:, 3]
    fill = boxes[:, 4] / np.maximum(1.0, w * h)
    single = (w <= 1.1 * h) & (w >= 0.08 * h) & (fill >= 0.12)
    # A run of merged digits is half ink; a shadow beside a reflection is solid.
    merged = (w > 1.1 * h) & (w <= 4.0 * h) & (fill >= 0.2) & (fill <= 0.7)
    keep = (h >= min_h) & (h <= max_h) & (single | merged)
    boxes = boxes[keep]
    count = np.where(single[keep], 1.0, np.round(boxes[:, 2] / (0.72 * boxes[:, 3])))
    return np.column_stack([boxes[:, :4], count])


def _pieces(binary: np.ndarray, min_h: float, max_h: float) -> np.ndarray:
    """Components as rows of x, y, w, h, area. One too big to be a digit (a frame round the
    glass, a housing edge) is opened and labelled again, freeing digits that touch it; what
    is left of it as lines is dropped."""
    # The rows between a digit's upper and lower segments, thinned by blur, bridged.
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((5, 1), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    s = stats[1:].astype(np.float32)
    big = (s[:, 3] > max_h) | (s[:, 2] > 6 * np.maximum(s[:, 3], min_h))
    big &= s[:, 4] >= 0.5 * min_h ** 2
    found = [s[~big & (s[:, 3] >= 0.3 * min_h) & (s[:, 4] >= 4)]]
    for i in np.flatnonzero(big)[:_MAX_FRAMES]:
        x, y, w, h = (int(v) for v in stats[i + 1, :4])
        mask = (labels[y:y + h, x:x + w] == i + 1).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        _, _, sub, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        sub = sub[1:].astype(np.float32)
        sub[:, 0] += x
        sub[:, 1] += y
        sw, sh = sub[:, 2], sub[:, 3]
        # Digits, alone or run together; not the lines of the frame.
        compact = (sw <= 4.5 * sh) & (sh <= 4.0 * sw) & (sh >= min_h) & (sh <= max_h)
        found.append(sub[compact & (sub[:, 4] >= 0.1 * sw * sh)])
    return np.concatenate(found)


_MAX_PIECES = 400
_MAX_FRAMES = 4


def _blob_chains(blobs: np.ndarray) -> list[_Chain]:
    """Sequences of blobs of similar height each closely following the last to the right
    (a lost digit may leave a gap), three digits or more, as lines through their middles.

    The digits are the largest characters on a meter, so a chain scores by the square of its
    height. A row of digits is evenly pitched; a word of letters (a brand name) is not,
    which lowers its score.
    """
    order = np.argsort(blobs[:, 0])
    b = blobs[order]
    n = len(b)
    used = np.zeros(n, bool)
    out: list[_Chain] = []
    mid = b[:, 1] + b[:, 3] / 2
    for start in range(n):
        if used[start]:
            continue
        chain = [start]
        while True:
            a = chain[-1]
            ah = b[a, 3]
            right = b[a, 0] + b[a, 2]
            best, best_dx = -1, np.inf
            for j in range(a + 1, n):
                dx = b[j, 0] - right
                if dx > 2.2 * ah:
                    break
                if dx < -0.25 * ah or used[j]:
                    continue
                if abs(mid[j] - mid[a]) <= 0.3 * ah and 0.75 <= b[j, 3] / ah <= 1.33 and dx < best_dx:
                    best, best_dx = j, dx
            if best < 0:
                break
            chain.append(best)
        members = b[chain]
        digits = float(members[:, 4].sum())
        if digits < 3:
            continue
        used[chain] = True
        height = float(np.median(members[:, 3]))
        xs = members[:, 0] + members[:, 2] / 2
        line = fit_line(xs, members[:, 1] + members[:, 3] / 2)
        out.append(_Chain(line, height, float(members[0, 0]),
                          float(members[-1, 0] + members[-1, 2]),
                          digits * height ** 2 * _evenness(members)))
    return sorted(out, key=lambda c: -c.score)


def _evenness(members: np.ndarray) -> float:
    """1 for blobs whose right edges sit on a regular pitch (digits, a 1 included), less
    for the uneven widths and gaps of letters."""
    single = members[members[:, 4] == 1]
    if len(single) < 3:
        return 0.8
    rights = single[:, 0] + single[:, 2]
    steps = np.diff(rights)
    pitch = float(np.median(steps))
    if pitch <= 0:
        return 0.5
    ratio = steps / pitch
    off = np.abs(ratio - np.maximum(1, np.round(ratio)))
    return float(np.clip(1.0 - 1.5 * np.median(off) - 0.5 * np.mean(off), 0.3, 1.0))


def digit_rows(bgr: np.ndarray, *, height: int = ROW_HEIGHT, limit: int = 3) -> list[DigitRow]:
    """The rows of display digits in a photo, cut out upright, the likeliest first.

    Contract of each ``DigitRow.image`` (what a line recognizer is given):

    - BGR ``uint8``, exactly ``height`` rows; the width follows the row's own proportions
      (about ``6 * height`` for eight digits).
    - Upright: the row runs left to right, horizontal, and upright strokes are upright —
      rotation and the glass's italic slant are taken out. Under perspective the far end's
      digits stay a little smaller: the row is cut at one height (see ``_refine``).
    - Full-size digits' tops on row ``ROW_TOP * height`` and bases on ``ROW_BASE * height``
      (to about ±5 % of the height, ±15 % at the ends of a row seen at an angle); smaller
      decimals share the base, a box drawn round decimals and the point fit inside the
      image, a tariff mark printed above the digits mostly does not.
    - ``ROW_SIDE`` digit heights of the display beyond the outermost digit-like blobs on
      each side (glass, the bezel, a tariff mark or the unit printed beside the digits may
      show there), so a digit the finder missed at either end is still in the picture.
    - The colours are the photo's (no binarization): backlight, ghost segments, glare and
      colour cast are the recognizer's to handle.

    ``DigitRow.quad`` is the photo region shown (so the image is
    ``cv2.warpPerspective(photo, getPerspectiveTransform(quad, corners of the image))``),
    and ``digit_height`` the digits' height in photo pixels. Raises nothing: a photo without
    digits gives an empty list, and the caller says why it cannot read.
    """
    pyramid = _Pyramid(bgr)
    rows: list[DigitRow] = []
    chains = _row_chains(bgr)[:_REFINE_CANDIDATES]
    for chain in chains:
        fit = _refine(pyramid, chain)
        if fit is not None:
            rows.append(fit)
    if not rows and chains:
        rows.append(_unrefined(chains[0]))
    rows.sort(key=lambda r: -r.score)
    out: list[DigitRow] = []
    for row in rows:
        if all(np.abs(row.quad - k.quad).max() > 0.5 * row.digit_height for k in out):
            out.append(_cut(pyramid, row, height))
    return out[:limit]


_REFINE_CANDIDATES = 4


def glass_bands(glass: np.ndarray, *, height: int = ROW_HEIGHT) -> list[DigitRow]:
    """Rows across an upright display glass (``rectify``) where its ink is densest, one for
    digits of each of ``_BAND_FRACTIONS`` of the glass's height, cut as ``digit_rows`` cuts
    (its contract, with no slant taken out).

    The blob finder needs digits that stand out as blobs: where glare fades some of them, or
    ghosts join them, it finds no row even on a well-found glass, and a harsh photo was
    refused. On the glass alone the digits are the darkest band: its rows are the ones whose
    ink the line recognizer is given.
    """
    h, w = glass.shape[:2]
    ink = stroke_map(brightest_channel(glass), max(9, h // 6))
    # The bezel at the glass's edges is as dark as the digits.
    ink[:max(2, int(0.06 * h))] = 0
    ink[h - max(2, int(0.06 * h)):] = 0
    ink[:, :max(2, int(0.03 * w))] = 0
    ink[:, w - max(2, int(0.03 * w)):] = 0
    profile = ink.mean(axis=1)
    pyramid = _Pyramid(glass)
    rows: list[DigitRow] = []
    for fraction in _BAND_FRACTIONS:
        digit = max(4, int(fraction * h))
        top = int(np.convolve(profile, np.ones(digit), mode="valid").argmax())
        columns = ink[top:top + digit].mean(axis=0)
        inked = np.flatnonzero(columns > 0.25 * columns.max())
        x0, x1 = (float(inked[0]), float(inked[-1])) if len(inked) else (0.0, float(w))
        level = _Chain(np.array([0.0, top + digit / 2]), float(digit), x0, x1, 0.0)
        rows.append(_cut(pyramid, _unrefined(level), height))
    return rows


_BAND_FRACTIONS = (0.3, 0.42, 0.55)


@dataclass(frozen=True)
class _Band:
    """An upright strip of the photo around a row, and the affine map back to the photo."""

    gray: np.ndarray
    to_photo: np.ndarray   # 2 x 3


def _band(pyramid: _Pyramid, chain: _Chain, *, before: float, after: float, half: float) -> _Band:
    """The strip along ``chain``'s middle line, digits ``_REFINE_HEIGHT`` high."""
    m, b = float(chain.line[0]), float(chain.line[1])
    along = np.array([1.0, m]) / np.hypot(1.0, m)
    across = np.array([-along[1], along[0]])
    start = np.array([chain.x0, m * chain.x0 + b]) - along * before * chain.height
    length = (chain.x1 - chain.x0) / along[0] + (before + after) * chain.height
    scale = _REFINE_HEIGHT / chain.height
    width, rows = max(8, int(length * scale)), max(8, int(2 * half * chain.height * scale))
    origin = start - across * half * chain.height
    to_photo = np.column_stack([along / scale, across / scale, origin]).astype(np.float64)
    source, shrink = pyramid.for_scale(scale)
    to_source = to_photo.copy()
    to_source *= shrink
    gray = cv2.warpAffine(source, to_source, (width, rows), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    return _Band(gray, to_photo)


class _Pyramid:
    """The photo and its halvings, made once and only as far as a warp needs them: warping
    straight from a much larger image would alias the strokes away."""

    def __init__(self, bgr: np.ndarray) -> None:
        self.levels = [bgr]

    def for_scale(self, scale: float) -> tuple[np.ndarray, float]:
        """The level to warp from at ``scale`` output pixels per photo pixel, and its size
        relative to the photo."""
        level = 0
        while scale * 2 ** level < 0.5 and min(self.levels[level].shape[:2]) > 64:
            level += 1
            if level == len(self.levels):
                self.levels.append(cv2.pyrDown(self.levels[-1]))
        return self.levels[level], 0.5 ** level


def _refine(pyramid: _Pyramid, chain: _Chain) -> DigitRow | None:
    """Measure a candidate row where its digits are ``_REFINE_HEIGHT`` high: the blobs'
    middle line, height, ends and slant."""
    band = _band(pyramid, chain, before=2.0, after=3.0, half=1.1)
    ink = _ink_map(band.gray, _FIND_KERNEL)
    binary = _binary_ink(ink, 2 * _FIND_KERNEL)
    blobs = _blobs(binary, 0.4 * _REFINE_HEIGHT, 1.8 * _REFINE_HEIGHT)
    chains = _blob_chains(blobs)
    if not chains:
        return None
    best = chains[0]
    mid_y = band.gray.shape[0] / 2
    members = blobs[(blobs[:, 3] >= 0.75 * best.height) & (blobs[:, 3] <= 1.33 * best.height)]
    cx = members[:, 0] + members[:, 2] / 2
    cy = members[:, 1] + members[:, 3] / 2
    on = np.abs(cy - (best.line[0] * cx + best.line[1])) <= 0.3 * best.height
    on &= (members[:, 0] >= best.x0 - 1) & (members[:, 0] + members[:, 2] <= best.x1 + 1)
    members = members[on]
    if len(members) < 2:
        return None
    # One height for the whole row. A height line fitted to the blobs (for the far end's
    # smaller digits under perspective) followed noise instead: smaller decimals, a box round
    # them, a digit shortened by blur. On 300 harsh tuning photos its ends were a third off in
    # 49 rows, cutting the first digits' tops off, while the fields' own ends differed by at
    # most 15 %.
    heights = float(np.percentile(members[:, 3], 75))
    middle = best.line
    left, right = _ends(binary, middle, heights, best.x0, best.x1)
    lean = _slant(ink, middle, heights, left, right)
    score = float(best.score / best.height ** 2) * chain.height * (1.0 if abs(mid_y - (
        middle[0] * (best.x0 + best.x1) / 2 + middle[1])) < 0.6 * heights else 0.5)
    # The row's corners in the band, upright strokes kept upright, then in the photo.
    corners = []
    reach = 0.5 * max(4.0, heights) / (ROW_BASE - ROW_TOP)
    for x, sign in ((left - ROW_SIDE * heights, -1), (right + ROW_SIDE * heights, -1),
                    (right + ROW_SIDE * heights, 1), (left - ROW_SIDE * heights, 1)):
        y_mid = float(middle[0] * x + middle[1])
        corners.append((x - sign * lean * reach, y_mid + sign * reach))
    pts = np.array(corners, np.float64)
    quad = (pts @ band.to_photo[:, :2].T + band.to_photo[:, 2]).astype(np.float32)
    return DigitRow(np.empty((0, 0, 3), np.uint8), quad, heights * chain.height / _REFINE_HEIGHT,
                    lean, score)


def _unrefined(chain: _Chain) -> DigitRow:
    """A row as its chain was found, where it could not be measured again (glare fading some
    of its digits below the refinement's threshold): upright along its middle line, no slant."""
    m, b = float(chain.line[0]), float(chain.line[1])
    along = np.array([1.0, m]) / np.hypot(1.0, m)
    across = np.array([-along[1], along[0]])
    reach = 0.5 * chain.height / (ROW_BASE - ROW_TOP)
    ends = [np.array([x, m * x + b]) for x in (chain.x0 - ROW_SIDE * chain.height * along[0],
                                                 chain.x1 + ROW_SIDE * chain.height * along[0])]
    quad = np.array([ends[0] - across * reach, ends[1] - across * reach,
                     ends[1] + across * reach, ends[0] + across * reach], np.float32)
    return DigitRow(np.empty((0, 0, 3), np.uint8), quad, chain.height, 0.0,
                    float(chain.score / chain.height))


def _ends(binary: np.ndarray, middle: np.ndarray, height: float, x0: float, x1: float
          ) -> tuple[float, float]:
    """The row's ends: from the chain outward while ink keeps crossing the digits' middle
    band with gaps narrower than a digit. Digits the blob finder lost (joined to a frame,
    smaller or boxed decimals, a lit point) are inked there; bare glass is not."""
    cols = np.arange(binary.shape[1], dtype=np.float32)
    centre = middle[0] * cols + middle[1]
    rows = np.arange(binary.shape[0], dtype=np.float32)[:, None]
    band = np.abs(rows - centre[None, :]) <= 0.3 * height
    inked = (binary.astype(bool) & band).sum(axis=0) >= 2
    gap = 0.9 * height
    left, right = x0, x1
    for x in range(int(x0) - 1, -1, -1):
        if x < left - gap:
            break
        if inked[x]:
            left = float(x)
    for x in range(int(x1), binary.shape[1]):
        if x > right + gap:
            break
        if inked[x]:
            right = float(x + 1)
    return left, right


def _slant(ink: np.ndarray, middle: np.ndarray, h: float, x0: float, x1: float) -> float:
    """The shear (x shift per unit of height, tops to the right positive) that makes the
    digits' upright strokes sharpest in the column profile."""
    y_mid = float(middle[0] * (x0 + x1) / 2 + middle[1])
    r0, r1 = int(max(0, y_mid - h / 2)), int(min(ink.shape[0], y_mid + h / 2))
    c0, c1 = int(max(0, x0 - 0.5 * h)), int(min(ink.shape[1], x1 + 0.5 * h))
    zone = ink[r0:r1, c0:c1].astype(np.float32)
    if zone.size == 0:
        return 0.0
    zone = (zone > 0.5 * float(zone.max())).astype(np.float32)
    centre = (r1 - r0) / 2

    def sharpness(lean: float) -> float:
        m = np.array([[1.0, lean, -lean * centre], [0.0, 1.0, 0.0]], np.float32)
        sheared = cv2.warpAffine(zone, m, (zone.shape[1], zone.shape[0]))
        return float((sheared.sum(axis=0) ** 2).sum())

    coarse = max(np.arange(-0.5, 0.51, 0.1), key=lambda v: sharpness(float(v)))
    mid = max(np.arange(coarse - 0.06, coarse + 0.061, 0.03), key=lambda v: sharpness(float(v)))
    return float(max((mid - 0.01, mid, mid + 0.01), key=lambda v: sharpness(float(v))))


def _cut(pyramid: _Pyramid, row: DigitRow, height: int) -> DigitRow:
    """The row's image, warped from the photo at ``height`` rows."""
    quad = row.quad
    width_px = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    height_px = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    width = max(8, int(round(height * width_px / height_px)))
    source, shrink = pyramid.for_scale(height / height_px)
    dest = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform((quad * shrink).astype(np.float32), dest)
    image = cv2.warpPerspective(source, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return DigitRow(image, quad, row.digit_height, row.slant, row.score)


def widened(bgr: np.ndarray, rows: list[DigitRow], extra: float, *,
            height: int = ROW_HEIGHT) -> list[np.ndarray]:
    """Each row's image cut again with ``extra`` digit heights more of the photo on either
    side, same height and slant. The blob chain a row grows from can stop a few digits short
    of the field's end (glare breaking a digit, smaller or boxed decimals): a recognizer
    given the wider cut still sees them."""
    pyramid = _Pyramid(bgr)
    return [_cut(pyramid, replace(row, quad=row_surroundings(row, above=0.0, below=0.0, left=extra,
                                                             right=extra)), height).image
            for row in rows]


def row_surroundings(row: DigitRow, *, above: float = 0.6, below: float = 0.1, left: float = 1.0,
                     right: float = 1.0) -> np.ndarray:
    """The photo quadrilateral around a digit row with room (in digit heights) for what is
    printed beside it: the tariff mark above or left of the digits, the unit right or below.
    Perspective and slant are the row's own, so it can be cut out upright like a glass."""
    h, w = row.image.shape[:2]
    digit = (ROW_BASE - ROW_TOP) * h
    rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    to_photo = cv2.getPerspectiveTransform(rect, row.quad.astype(np.float32))
    grown = np.array([[-left * digit, -above * digit], [w + right * digit, -above * digit],
                      [w + right * digit, h + below * digit], [-left * digit, h + below * digit]],
                     np.float32)
    return cv2.perspectiveTransform(grown[None], to_photo)[0]
