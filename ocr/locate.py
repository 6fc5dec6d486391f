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
    small = cv2.resize(bgr, (max(1, round(w * factor)), max(1, round(h * factor))),
                       interpolation=cv2.INTER_AREA) if factor < 1 else bgr
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    area = gray.shape[0] * gray.shape[1]
    found: list[Candidate] = []
    for sigma in (1.0, 2.5):
        blurred = cv2.GaussianBlur(gray, (0, 0), sigma)
        median = float(np.median(blurred))
        edges = cv2.Canny(blurred, max(5.0, 0.4 * median * 0.5), max(15.0, 0.4 * median * 1.2))
        edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
        contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            quad = _quad(contour, area)
            if quad is not None:
                found.append(Candidate(quad / factor, _score(quad, area)))
    return _distinct(sorted(found, key=lambda c: -c.score))[:MAX_CANDIDATES]


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
