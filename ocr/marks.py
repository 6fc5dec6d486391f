"""The tariff mark: which register the display shows (``T1``, ``T2``, ``T3`` or ``TOTAL``).

The mark is a short printed word at the left of the digit row, above it or beside it, a few
pixels high in a phone photo. Two readers:

- ``classify_mark_windows``: a small convolutional network (``models/marks.npz``, trained on
  rendered photos by ``bench/train_ocr_marks.py``, run in numpy by ``ocr.convnet``) looks at
  the window ``mark_window`` cuts at the start of a digit row and names the mark, or says
  there is none.
- ``read_mark``: the word of small blobs nearest the row's left end, told apart by shape:
  ``TOTAL`` is a long word, ``T1``-``T3`` a short one whose second glyph is compared with
  templates of 1, 2 and 3 drawn at run time in three stroke fonts (OpenCV's Hershey fonts).

A mark either is unsure of gets a low confidence, never a guess presented as certain.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ocr.convnet import load, softmax
from ocr.locate import ROW_BASE, ROW_SIDE, ROW_TOP, DigitRow
from ocr.strokes import Box, brightest_channel, ink_scaled, normalised, stroke_map

MODEL_PATH = Path(__file__).resolve().parent / "models" / "marks.npz"
MARK_H, MARK_W = 48, 104         # the window the mark network sees
MARK_CLASSES = ("none", "t1", "t2", "t3", "total")
# The window around a row's start, in digit heights from the first digit's top-left corner:
# room for a mark printed above the digits or left of them.
_WINDOW = (-2.4, 1.6, -0.8, 1.0)    # left, right, top, bottom

_TEMPLATE_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_PLAIN)


@dataclass(frozen=True)
class MarkRead:
    """The tariff the mark names, and how sure the reader is of it."""

    tariff: str          # "t1", "t2", "t3" or "total"
    confidence: float


def read_mark(bgr: np.ndarray, *, row_top: float, row_x0: float,
              row_height: float) -> MarkRead | None:
    """The tariff mark left of or above the digit row whose top-left corner and height are
    given (in ``bgr``'s pixels); ``None`` when there is no mark there, or none can be named.

    The mark is a few pixels high where the digits are read, so it is looked at in the
    region around the row's start at the image's own resolution.
    """
    h = row_height
    x0 = int(max(0, row_x0 - 4.5 * h))
    x1 = int(min(bgr.shape[1], row_x0 + 2.5 * h))
    y0 = int(max(0, row_top - 1.0 * h))
    y1 = int(min(bgr.shape[0], row_top + 1.1 * h))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    stroke = stroke_map(brightest_channel(bgr[y0:y1, x0:x1]), 0.3 * h)
    binary = (normalised(stroke, 0.8 * h) > 0.42).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    top, left = row_top - y0, row_x0 - x0
    glyphs: list[Box] = []
    for i in range(1, n):
        x, y, bw, bh, area = (float(v) for v in stats[i])
        if not 0.12 * h <= bh <= 0.5 * h or bw > 0.8 * h or area < 4:
            continue
        above = y + bh <= top - 0.02 * h and y >= top - 0.9 * h and \
            left - 1.0 * h <= x <= left + 2.0 * h
        beside = x + bw <= left - 0.05 * h and top <= y + bh / 2 <= top + h and \
            x >= left - 4.0 * h
        if above or beside:
            glyphs.append((x, y, bw, bh))
    word = _nearest_word(glyphs, left, top)
    if word is None:
        return None
    return _classify(stroke, word)


def _nearest_word(glyphs: list[Box], row_x0: float, row_top: float) -> list[Box] | None:
    """Group glyphs into words (neighbours on one line) and take the one nearest the row's start."""
    words: list[list[Box]] = []
    for g in sorted(glyphs, key=lambda b: b[0]):
        for word in words:
            last = word[-1]
            gap = g[0] - (last[0] + last[2])
            overlap = min(g[1] + g[3], last[1] + last[3]) - max(g[1], last[1])
            tallest = max(g[3], last[3])
            if -0.2 * tallest <= gap <= 0.7 * tallest and overlap >= 0.5 * min(g[3], last[3]):
                word.append(g)
                break
        else:
            words.append([g])
    if not words:
        return None

    def distance(word: list[Box]) -> float:
        x1 = max(b[0] + b[2] for b in word)
        y1 = max(b[1] + b[3] for b in word)
        return abs(min(b[0] for b in word) - row_x0) + abs(x1 - row_x0) * 0.2 + abs(y1 - row_top)

    return min(words, key=distance)


def _classify(stroke: np.ndarray, word: list[Box]) -> MarkRead | None:
    """Compare the whole word with each mark drawn in each template font, at the word's size."""
    x0 = int(min(b[0] for b in word))
    y0 = int(min(b[1] for b in word))
    x1 = int(np.ceil(max(b[0] + b[2] for b in word)))
    y1 = int(np.ceil(max(b[1] + b[3] for b in word)))
    patch = stroke[max(0, y0):y1, max(0, x0):x1].astype(np.float32)
    if patch.size == 0:
        return None
    width = max(4, int(round(_HEIGHT * patch.shape[1] / patch.shape[0])))
    observed = _normalise(patch, width)
    scores = {}
    for tariff, drawings in _templates().items():
        scores[tariff] = max(float((observed * _normalise(t, width)).sum()) for t in drawings)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    (best, top), (_, runner) = ranked[0], ranked[1]
    # A close second means a blurred word or a font unlike any template.
    confidence = float(np.clip((top - runner) / 0.12, 0.0, 1.0) * np.clip((top - 0.45) / 0.2, 0.0, 1.0))
    if confidence < _UNREADABLE:
        return None  # a mark is there, but naming one would be a guess
    return MarkRead(best, confidence)


_HEIGHT = 16
_UNREADABLE = 0.15


def _normalise(glyphs: np.ndarray, width: int) -> np.ndarray:
    """Resize to the comparison size, blur a little, zero mean and unit norm."""
    small = cv2.resize(glyphs, (width, _HEIGHT), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 0.8)
    small = small - small.mean()
    norm = float(np.linalg.norm(small))
    return small / norm if norm > 1e-6 else small


@lru_cache(maxsize=1)
def _templates() -> dict[str, list[np.ndarray]]:
    """Each mark drawn once per template font and stroke weight, cropped to its ink."""
    out: dict[str, list[np.ndarray]] = {}
    for tariff, text in (("t1", "T1"), ("t2", "T2"), ("t3", "T3"), ("total", "TOTAL")):
        out[tariff] = []
        for font in _TEMPLATE_FONTS:
            for thickness in (2, 4):
                canvas = np.zeros((64, 256), np.uint8)
                cv2.putText(canvas, text, (8, 50), font, 1.4, 255, thickness, cv2.LINE_AA)
                ys, xs = np.nonzero(canvas)
                out[tariff].append(canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
                                   .astype(np.float32) / 255.0)
    return out


def mark_window(bgr: np.ndarray, row: DigitRow, start: float | None = None) -> np.ndarray:
    """The photo around the start of a digit row, upright, as the mark network sees it
    (``MARK_H × MARK_W`` grey, glass at 0, ink toward -1); ``start``: where in the row's image
    the first digit begins, where not where the row's contract puts it."""
    h, w = row.image.shape[:2]
    digit = (ROW_BASE - ROW_TOP) * h
    x0, top = ROW_SIDE * digit if start is None else start, ROW_TOP * h
    left, right, up, down = _WINDOW
    corners = np.array([[x0 + left * digit, top + up * digit], [x0 + right * digit, top + up * digit],
                        [x0 + right * digit, top + down * digit], [x0 + left * digit, top + down * digit]],
                       np.float32)
    to_photo = cv2.getPerspectiveTransform(
        np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32), row.quad.astype(np.float32))
    quad = cv2.perspectiveTransform(corners[None], to_photo)[0]
    # Warped at four times the size and shrunk by area, so a large photo does not alias.
    big = np.array([[0, 0], [4 * MARK_W, 0], [4 * MARK_W, 4 * MARK_H], [0, 4 * MARK_H]], np.float32)
    warped = cv2.warpPerspective(bgr, cv2.getPerspectiveTransform(quad, big),
                                 (4 * MARK_W, 4 * MARK_H), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    return ink_scaled(cv2.resize(brightest_channel(warped), (MARK_W, MARK_H),
                                 interpolation=cv2.INTER_AREA))


def classify_mark_windows(windows: list[np.ndarray]) -> list[MarkRead | None]:
    """The mark network's answer for each window: ``None`` where it sees no mark or cannot
    name one (below ``_UNREADABLE``); otherwise the tariff with its probability."""
    if not windows:
        return []
    logits = load(MODEL_PATH).logits(np.stack(windows)).mean(axis=(2, 3))
    out: list[MarkRead | None] = []
    for probs in softmax(logits, axis=1):
        best = int(probs.argmax())
        if best == 0 or probs[best] < _UNREADABLE:
            out.append(None)
        else:
            out.append(MarkRead(MARK_CLASSES[best], float(probs[best])))
    return out
