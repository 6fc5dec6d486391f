"""Classifying digit cells: seven-segment state sampling, a small trained model, or both.

The two are independent ways of reading a cell. Segment sampling (``ocr.segments``) needs no
training and knows nothing of fonts; the model (``models/digits.npz``, an MLP run in numpy,
trained on rendered digits by ``bench/train_ocr_digits.py``) has seen blur, glare and ghosts
and weighs the whole cell. Used together, a digit is only as sure as their agreement: when
they disagree the model's answer is kept and the digit marked doubtful, and when they agree
the digit is only as sure as the geometric mean of the two, so one method's doubt is not
overruled by the other's certainty.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Sequence

import cv2
import numpy as np

from ocr.segments import CellBox, DigitRead, segment_reads

Classifier = Literal["segments", "model", "both"]
MODEL_PATH = Path(__file__).resolve().parent / "models" / "digits.npz"
PATCH_W, PATCH_H = 12, 20
_DISAGREE_CAP = 0.5      # a digit the two methods read differently is never sure


def classify_cells(band: np.ndarray, cells: Sequence[CellBox],
                   classifier: Classifier = "both") -> list[DigitRead]:
    """One ``DigitRead`` per cell; ``"?"`` for a cell too faint to hold a digit."""
    reads, threshold = segment_reads(band, cells)
    if classifier == "segments" or not cells:
        return reads
    probs = load_model().predict(cell_features(band, cells, reads, threshold))
    return [combine(read, p, classifier) for read, p in zip(reads, probs)]


def combine(read: DigitRead, probs: np.ndarray, classifier: Classifier = "both") -> DigitRead:
    """One cell's answer from the segment read and the model's probabilities."""
    best = int(np.argmax(probs))
    char, sure = str(best), float(probs[best])
    if read.char == "?":
        return read  # nothing lit there: no classifier may invent a digit
    if classifier == "model":
        return DigitRead(char, sure, read.lit_level, read.strengths)
    if classifier == "segments":
        return read
    if char == read.char:
        # They see the same pixels, so agreement is not independent evidence: the geometric
        # mean keeps a digit doubtful when either method doubts it (measured: fewer confident
        # mistakes than treating them as independent, see the benchmark).
        return DigitRead(char, float(np.sqrt(sure * read.confidence)), read.lit_level,
                         read.strengths)
    doubt = min(sure, 1.0 - read.confidence, _DISAGREE_CAP)
    return DigitRead(char, doubt, read.lit_level, read.strengths)


def cell_features(band: np.ndarray, cells: Sequence[CellBox], reads: Sequence[DigitRead],
                  threshold: float) -> np.ndarray:
    """The model's input per cell: the cell (with a margin) resampled to PATCH_W x PATCH_H,
    scaled by its strongest segment, and the display's lit/unlit threshold."""
    pad = 48  # a cell partly outside the band reads as bare glass there
    padded = cv2.copyMakeBorder(band, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    out = np.zeros((len(cells), PATCH_W * PATCH_H + 1), np.float32)
    for i, (cell, read) in enumerate(zip(cells, reads)):
        w, h = cell.x1 - cell.x0, cell.base - cell.top
        x0 = int(round(cell.x0 - 0.12 * w)) + pad
        x1 = max(x0 + 2, int(round(cell.x1 + 0.12 * w)) + pad)
        y0 = int(round(cell.top - 0.08 * h)) + pad
        y1 = max(y0 + 2, int(round(cell.base + 0.08 * h)) + pad)
        patch = cv2.resize(padded[max(0, y0):y1, max(0, x0):x1], (PATCH_W, PATCH_H),
                           interpolation=cv2.INTER_AREA)
        patch = np.clip(patch / max(read.lit_level, 1e-6), 0.0, 1.5)
        out[i, :-1] = patch.ravel()
        out[i, -1] = threshold
    return out


class DigitModel:
    """A two-layer perceptron: standardise, ReLU hidden layer, softmax over the ten digits."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.mean = weights["mean"]
        self.scale = weights["scale"]
        self.w1, self.b1 = weights["w1"], weights["b1"]
        self.w2, self.b2 = weights["w2"], weights["b2"]

    def logits(self, features: np.ndarray) -> np.ndarray:
        hidden = np.maximum(0.0, ((features - self.mean) / self.scale) @ self.w1 + self.b1)
        return hidden @ self.w2 + self.b2

    def predict(self, features: np.ndarray) -> np.ndarray:
        z = self.logits(features)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


@lru_cache(maxsize=1)
def load_model() -> DigitModel:
    """The shipped model, loaded once (no pickles: plain arrays only)."""
    with np.load(MODEL_PATH, allow_pickle=False) as data:
        return DigitModel({k: data[k].astype(np.float32) for k in data.files})
