"""Finding the display in a photo, and cutting it out upright.

No per-meter set-up: the glass of an LCD is a bright, flat rectangle inside a darker bezel (or
a darker one in a light housing), so its outline is a strong closed edge whose corners a
perspective transform maps back to a rectangle. Candidates come from edge contours at two
scales of smoothing; the reader tries them in order and keeps the one whose digits it reads
best, so a QR code, a label or the housing's own outline costs time, not a wrong reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ocr.strokes import Box, brightest_channel, digit_blobs, fit_line, normalised, stroke_map

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


ROW_SIDE = 800             # rows of digits are searched for at this long side …
ROW_KERNEL = 15            # … with this closing, and again at half the size


def row_candidates(bgr: np.ndarray) -> list[Candidate]:
    """Regions around rows of digit-like blobs, for when the glass outline cannot be seen.

    The digits are the largest row of similar dark blobs on the meter; a region around them
    (room for the tariff mark above and the decimals and unit to the right) is cut out along
    the row's own slant.
    """
    h, w = bgr.shape[:2]
    factor = min(1.0, ROW_SIDE / max(h, w))
    gray = _shrunk(brightest_channel(bgr), factor)
    found: list[Candidate] = []
    for level in (1.0, 0.5):
        g = gray if level == 1.0 else cv2.resize(gray, None, fx=level, fy=level,
                                                 interpolation=cv2.INTER_AREA)
        stroke = stroke_map(g, ROW_KERNEL)
        binary = ((normalised(stroke, 3 * ROW_KERNEL) > 0.45) & (stroke > 0.04)).astype(np.uint8)
        blobs = digit_blobs(binary, 8.0, 4.0 * ROW_KERNEL)
        for chain in _chains(blobs):
            quad = _row_quad(chain) / (factor * level)
            heights = [b[3] for b in chain]
            found.append(Candidate(quad.astype(np.float32),
                                   float(len(chain) * np.median(heights) / (factor * level))))
    return _distinct(sorted(found, key=lambda c: -c.score))[:MAX_CANDIDATES]


def _chains(blobs: list[Box]) -> list[list[Box]]:
    """Sequences of blobs of similar height, each following the last closely to the right."""
    ordered = sorted(blobs, key=lambda b: b[0])
    used: set[int] = set()
    chains = []
    for start in range(len(ordered)):
        if start in used:
            continue
        chain = [start]
        while True:
            a = ordered[chain[-1]]
            best, best_dx = None, None
            for j in range(chain[-1] + 1, len(ordered)):
                b = ordered[j]
                dx = b[0] - (a[0] + a[2])
                if dx > 1.2 * a[3]:
                    break
                dy = abs((b[1] + b[3] / 2) - (a[1] + a[3] / 2))
                if dx >= -0.2 * a[3] and dy <= 0.45 * a[3] and 0.75 <= b[3] / a[3] <= 1.33:
                    if best_dx is None or dx < best_dx:
                        best, best_dx = j, dx
            if best is None:
                break
            chain.append(best)
        if len(chain) >= 3:
            used.update(chain)
            chains.append([ordered[i] for i in chain])
    return chains


def _row_quad(chain: list[Box]) -> np.ndarray:
    xs = np.array([b[0] + b[2] / 2 for b in chain])
    ys = np.array([b[1] + b[3] / 2 for b in chain])
    slope, intercept = fit_line(xs, ys)
    height = float(np.median([b[3] for b in chain]))
    along = np.array([1.0, slope]) / np.hypot(1.0, slope)
    across = np.array([-along[1], along[0]])
    # Generous along the row: glare can hide digits at either end of the chain found.
    x0 = chain[0][0] - 2.5 * height
    x1 = chain[-1][0] + chain[-1][2] + 3.0 * height
    p0 = np.array([x0, slope * x0 + intercept])
    p1 = np.array([x1, slope * x1 + intercept])
    up, down = 1.25 * height, 0.95 * height
    return np.array([p0 - across * up, p1 - across * up, p1 + across * down, p0 + across * down],
                    np.float32)
