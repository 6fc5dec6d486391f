"""Dark strokes on bright glass, and the blobs they form: shared by finding and reading.

The stroke map is how much darker each pixel is than its local background (a morphological
closing), relative to that background: colour casts, uneven light and the backlight colour
drop out, and only features thinner than the closing kernel remain, which is what segments
are. Blobs are its connected parts with a digit's segments stacked back together.
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[float, float, float, float]   # x, y, width, height


def brightest_channel(bgr: np.ndarray) -> np.ndarray:
    """Grey levels in 0..1 from the brightest channel: every backlight colour gives contrast there."""
    b, g, r = cv2.split(bgr)
    return cv2.max(cv2.max(b, g), r).astype(np.float32) * (1.0 / 255.0)


def ink_scaled(grey: np.ndarray) -> np.ndarray:
    """Grey levels rescaled for the reader's networks: the glass (the 60th percentile) at 0
    and the darkest ink (the 2nd) at -1, whatever the photo's contrast, clipped to -1.5..1."""
    glass = float(np.percentile(grey, 60))
    ink = float(np.percentile(grey, 2))
    return np.clip((grey - glass) / max(glass - ink, 0.04), -1.5, 1.0).astype(np.float32)


def stroke_map(gray: np.ndarray, kernel: int) -> np.ndarray:
    """Relative darkening against the local background: 0 on bare glass, toward 1 on ink."""
    # The background is smooth, so it is estimated at half size, where a square closing
    # (separable, unlike a disc) costs little, and blurred back up.
    h, w = gray.shape
    half = cv2.resize(gray, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    k = odd(kernel / 2)
    background = cv2.morphologyEx(half, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    background = cv2.blur(background, (k // 2 + 1, k // 2 + 1))
    background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    background = np.maximum(background, gray)
    stroke = np.clip((background - gray) / (background + 0.04), 0.0, 1.0)
    return cv2.GaussianBlur(stroke, (0, 0), 1.0)


def normalised(stroke: np.ndarray, size: float) -> np.ndarray:
    """The stroke map divided by its local maximum, so a dim corner reads like a bright one."""
    k = odd(size)
    local = cv2.blur(cv2.dilate(stroke, np.ones((k, k), np.uint8)), (k, k))
    floor = max(0.03, 0.3 * float(np.percentile(stroke[::3, ::3], 99.5)))
    return stroke / np.maximum(local, floor)


def digit_blobs(binary: np.ndarray, min_height: float, max_height: float, *,
                max_aspect: float = 0.9) -> list[Box]:
    """Bounding boxes of digit-like blobs: segments stacked together, frames and lines left out.

    ``max_aspect`` is the widest a digit may be, in heights (a crop stretched sideways widens
    its digits).
    """
    joined = cv2.morphologyEx(binary, cv2.MORPH_CLOSE,
                              np.ones((odd(max(3.0, 0.04 * max_height)), 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    keep = ((stats[1:, 3] >= 0.3 * min_height) & (stats[1:, 3] <= max_height)
            & (stats[1:, 2] <= max_aspect * max_height)
            & (stats[1:, 4] >= max(6.0, 0.05 * min_height ** 2)))
    boxes = stacked(stats[1:][keep][:, :4].astype(np.float64))
    return [(x, y, w, h) for x, y, w, h in boxes.tolist()
            if min_height <= h <= max_height and w <= max_aspect * h + 4]


def stacked_groups(boxes: np.ndarray) -> np.ndarray:
    """For boxes (rows of x, y, w, h, …), a group id each: boxes stacked closely above each
    other share one. They are the segments of one digit when the glass leaves visible gaps
    between them; a legend above the digits sits further away."""
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    x0, y0, w, h = (boxes[:, k] for k in range(4))
    x1, y1 = x0 + w, y0 + h
    order = np.argsort(x0)
    for pos, i in enumerate(order):
        for j in order[pos + 1:]:
            if x0[j] >= x1[i]:
                break
            overlap = min(x1[i], x1[j]) - max(x0[i], x0[j])
            gap = max(y0[i], y0[j]) - min(y1[i], y1[j])
            tallest = max(h[i], h[j])
            # Two halves of one digit (alike in width and height) may be further apart: the
            # middle segment between them lost to glare or too faint to ink.
            halves = min(w[i], w[j]) >= 0.75 * max(w[i], w[j]) and min(h[i], h[j]) >= 0.6 * tallest
            reach = (0.4 if halves else 0.15) * tallest
            if overlap < 0.5 * min(w[i], w[j]) or not -0.1 * tallest <= gap <= reach:
                continue
            # Parts of one digit (or of a run of digits merged by blur) are alike in width,
            # or the wider is no wider than the two make one digit: not a line of small
            # print just below the digits, which would swallow them.
            wider = max(w[i], w[j])
            if min(w[i], w[j]) >= 0.5 * wider or \
                    wider <= 0.9 * (max(y1[i], y1[j]) - min(y0[i], y0[j])):
                parent[root(int(j))] = root(int(i))
    return np.array([root(i) for i in range(len(boxes))], np.int64)


def stacked(boxes: np.ndarray) -> np.ndarray:
    """The boxes (rows of x, y, w, h[, area]) with those stacked closely above each other
    (``stacked_groups``) joined: each group's bounding box (and its areas added up), in the
    order of each group's first box."""
    _, first, inverse = np.unique(stacked_groups(boxes), return_index=True, return_inverse=True)
    row = np.argsort(np.argsort(first))[inverse]       # each box's group, in output order
    lo = np.full((len(first), 2), np.inf)
    hi = np.full((len(first), 2), -np.inf)
    np.minimum.at(lo, row, boxes[:, :2])
    np.maximum.at(hi, row, boxes[:, :2] + boxes[:, 2:4])
    joined = [lo, hi - lo]
    if boxes.shape[1] > 4:
        joined.append(np.bincount(row, weights=boxes[:, 4], minlength=len(first))[:, None])
    return np.hstack(joined).astype(boxes.dtype)


def fit_line(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Theil-Sen line (slope, intercept): one stray blob (a box, a glare spot) cannot tilt it."""
    if len(xs) < 3 or np.ptp(xs) < 1:
        return np.array([0.0, float(np.median(ys))])
    i, j = np.triu_indices(len(xs), 1)
    dx = xs[j] - xs[i]
    ok = np.abs(dx) > 1e-6
    slope = float(np.median((ys[j] - ys[i])[ok] / dx[ok]))
    return np.array([slope, float(np.median(ys - slope * xs))])


def odd(value: float) -> int:
    v = max(3, int(round(value)))
    return v if v % 2 else v + 1
