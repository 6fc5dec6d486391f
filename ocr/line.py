"""Reading a whole row of digits at once: a small convolutional network with CTC decoding.

Cutting a row into digit cells is where photos break the classic pipeline: a reflection
splits a digit in two, a blurred pair merges, a box drawn round the decimals or a faint
leading zero shifts the grid. A line recognizer never cuts: it sees the whole row image
(``ocr.locate.DigitRow``'s contract) and emits, column by column, a digit, the point or
nothing, so the characters come out of evidence spread along the row, and the point is just
one more character.

The network (``models/line.npz``, trained on rendered rows by ``bench/train_ocr_line.py``)
is fully convolutional: four 3 × 3 conv blocks (16 to 64 channels) bring the 32-pixel-high
row, in two channels (``line_input``), to one column of features per 4 pixels of width; a
convolution collapses the height, and three dilated 1-D convolutions along the row (dilation
2, 4, 8) let each column see about the whole row (a box edge or the bezel at an end, the
size of the neighbouring digits) before a last one turns it into probabilities over blank,
ten digits and the point. It runs in numpy (``ocr.convnet``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ocr.convnet import load, softmax
from ocr.strokes import brightest_channel, ink_scaled, stroke_map

MODEL_PATH = Path(__file__).resolve().parent / "models" / "line.npz"
LINE_H = 32            # rows the network sees
LINE_W = 256           # columns it sees; narrower rows are padded, wider ones squeezed
LINE_CHANNELS = 2      # the row's grey levels, and its ink against the local background
ALPHABET = "0123456789."   # index 0 of the output is CTC's blank, then these
LINE_EXTRA = 1.5       # the finder's rows are read widened by this many digit heights each side


def line_input(bgr: np.ndarray) -> np.ndarray:
    """A row image → the network's ``LINE_H × LINE_W × LINE_CHANNELS`` input, scaled to the
    height keeping its proportions and padded with glass (0), ink toward -1 in both channels:
    the grey levels of the brightest channel (every backlight colour gives contrast there)
    with the row's glass level at 0; and the ink against its local background, where a glare
    spot or a shadow across part of the row, which moves the first channel's glass level
    there, drops out."""
    grey = brightest_channel(bgr)
    h, w = grey.shape
    width = max(1, min(LINE_W, int(round(w * LINE_H / h))))
    small = cv2.resize(grey, (width, LINE_H), interpolation=cv2.INTER_AREA)
    out = np.zeros((LINE_H, LINE_W, LINE_CHANNELS), np.float32)
    out[:, :width, 0] = ink_scaled(small)
    # A closing wider than a digit's stroke and hole, narrower than a glare spot.
    stroke = stroke_map(small, _LOCAL_KERNEL)
    out[:, :width, 1] = -np.clip(stroke / max(float(np.percentile(stroke, 98)), 0.05), 0.0, 1.5)
    return out


_LOCAL_KERNEL = 10     # pixels of the ``LINE_H``-high row


@dataclass(frozen=True)
class LineRead:
    """What the row shows, with each character's probability; ``text`` may be empty."""

    text: str
    confidence: tuple[float, ...]     # one per character of ``text``

    no_point: float = 1.0             # without a point: how sure the row shows none …
    point_at: int = 0                 # … and how many characters precede its likeliest column
    first_at: float = 0.0             # the input column (of ``LINE_W``) where the first one starts


def decode(probs: np.ndarray) -> LineRead:
    """Greedy CTC decoding of one row's ``T × classes`` probabilities: the best class per
    column, repeats merged, blanks dropped.

    A character's confidence is the lower of its best column's probability (it might not
    be there at all) and, over its stretch of the row (from halfway to the previous
    character to halfway to the next; the row's ends go to the first and last character),
    the weakest column's chance of keeping the text: a column's blank, and the characters
    on either side of it, only move where a character starts or ends; anything else there
    would add or change one.
    """
    best = probs.argmax(axis=1)
    chars: list[str] = []
    runs: list[tuple[int, int, int]] = []          # class, first column, last column
    t = 0
    while t < len(best):
        k = int(best[t])
        end = t
        while end + 1 < len(best) and best[end + 1] == k:
            end += 1
        if k != 0:
            chars.append(ALPHABET[k - 1])
            runs.append((k, t, end))
        t = end + 1
    if not runs:
        return LineRead("", ())
    # A point the network saw but did not emit: read without it, the decimals would be
    # taken for whole kWh. Rows that show no point give it well under 1 % anywhere.
    point = probs[:, 1 + ALPHABET.index(".")].max()
    no_point = float(np.clip((_POINT_UNSEEN - point) / (_POINT_UNSEEN - _POINT_ABSENT), 0.0, 1.0))
    peaks = [first + int(probs[first:last + 1, k].argmax()) for k, first, last in runs]
    point_column = int(probs[:, 1 + ALPHABET.index(".")].argmax())
    point_at = sum(1 for p in peaks if p < point_column)
    keep = probs[:, 0].copy()
    for i, (k, first, last) in enumerate(runs):
        # Columns from the previous run's end to the next run's start may go to this class.
        lo = runs[i - 1][2] + 1 if i > 0 else 0
        hi = runs[i + 1][1] if i + 1 < len(runs) else len(best)
        keep[lo:hi] += probs[lo:hi, k]
    bounds = [0] + [(a + b + 1) // 2 for a, b in zip(peaks, peaks[1:])] + [len(best)]
    confs = tuple(float(min(probs[p, k], keep[bounds[i]:bounds[i + 1]].min()))
                  for i, ((k, _, _), p) in enumerate(zip(runs, peaks)))
    first_at = runs[0][1] * LINE_W / len(best)
    return LineRead("".join(chars), confs, no_point, point_at, first_at)


_POINT_ABSENT = 0.01    # a point's best column below this: no point shown
_POINT_UNSEEN = 0.05    # above this: a point may well be there


def read_lines(images: list[np.ndarray]) -> list[LineRead]:
    """Read several row images (BGR, any size) in one batch."""
    if not images:
        return []
    batch = np.stack([line_input(im) for im in images])
    logits = load(MODEL_PATH).logits(batch)[:, :, 0, :]        # N, classes, T
    return [decode(p) for p in softmax(logits, axis=1).transpose(0, 2, 1)]
