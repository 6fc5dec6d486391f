"""Seven-segment state sampling: each digit cell → which segments are lit → the digit.

A segment's strength is the stroke map's strongest line through the zone where that segment
lies (a row for a, g, d; a column for the uprights), so thickness and small misplacement do
not matter. Strengths are divided by the cell's strongest segment, so light falling off along
the display does not either. Ghosts (unlit segments faintly visible) are told from lit ones by
one threshold for the whole display, put in the widest gap between the two groups: a ghost is
always much weaker than a lit segment of the same display, even when both are faint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

SEGMENTS = "abcdefg"
# Both forms of 6, 7 and 9 that glass uses: with and without the tail segment.
PATTERNS: dict[frozenset[str], str] = {frozenset(p): d for p, d in (
    ("abcdef", "0"), ("bc", "1"), ("abdeg", "2"), ("abcdg", "3"), ("bcfg", "4"),
    ("acdfg", "5"), ("acdefg", "6"), ("cdefg", "6"), ("abc", "7"), ("abcf", "7"),
    ("abcdefg", "8"), ("abcdfg", "9"), ("abcfg", "9"),
)}
# Zones as (u0, u1, v0, v1) fractions of the cell; horizontal segments take the best row,
# upright ones the best column.
_ZONES = {
    "a": (0.3, 0.7, -0.04, 0.22, "row"), "g": (0.3, 0.7, 0.36, 0.64, "row"),
    "d": (0.3, 0.7, 0.78, 1.04, "row"),
    "f": (-0.06, 0.36, 0.14, 0.38, "col"), "b": (0.64, 1.06, 0.14, 0.38, "col"),
    "e": (-0.06, 0.36, 0.62, 0.86, "col"), "c": (0.64, 1.06, 0.62, 0.86, "col"),
}
CONFIDENT_MARGIN = 0.22   # a segment this far from the threshold is beyond doubt


class CellBox(Protocol):
    """Where a digit is in the band: columns ``x0..x1``, rows ``top..base``."""

    x0: float
    x1: float
    top: float
    base: float


@dataclass(frozen=True)
class DigitRead:
    """One classified digit: ``char`` is ``"?"`` when no digit matches its segments."""

    char: str
    confidence: float
    lit_level: float                 # the cell's strongest segment, in stroke-map units
    strengths: tuple[float, ...]     # per segment a..g, relative to ``lit_level``


def segment_strengths(band: np.ndarray, x0: float, x1: float, top: float, base: float) -> np.ndarray:
    """Raw strength of each segment a..g of the cell at columns ``x0..x1``, rows ``top..base``."""
    w = x1 - x0
    h = base - top
    out = np.zeros(7, np.float32)
    rows, cols = band.shape
    for i, name in enumerate(SEGMENTS):
        u0, u1, v0, v1, kind = _ZONES[name]
        c0 = int(np.clip(round(x0 + u0 * w), 0, cols - 1))
        c1 = int(np.clip(round(x0 + u1 * w), c0 + 1, cols))
        r0 = int(np.clip(round(top + v0 * h), 0, rows - 1))
        r1 = int(np.clip(round(top + v1 * h), r0 + 1, rows))
        zone = band[r0:r1, c0:c1]
        profile = zone.mean(axis=1) if kind == "row" else zone.mean(axis=0)
        out[i] = float(profile.max())
    return out


def segment_reads(band: np.ndarray, cells: Sequence[CellBox]) -> tuple[list[DigitRead], float]:
    """Classify every cell of one display together, so they share one lit/unlit threshold;
    also that threshold (relative to each cell's strongest segment)."""
    if not cells:
        return [], 0.5
    raw = np.array([segment_strengths(band, c.x0, c.x1, c.top, c.base) for c in cells])
    lit = raw.max(axis=1)
    display_lit = float(np.median(lit))
    rel = raw / np.maximum(lit, 1e-6)[:, None]
    threshold = _threshold(rel)
    reads = []
    for strengths, level in zip(rel, lit):
        if level < 0.2 * display_lit:
            reads.append(DigitRead("?", 0.0, float(level), tuple(float(s) for s in strengths)))
            continue
        reads.append(_classify(strengths, threshold, float(level)))
    return reads, threshold


def _threshold(rel: np.ndarray) -> float:
    """The middle of the widest gap between strengths across the display, among gaps centred
    between 0.3 and 0.7: ghosts sit below it, lit segments above."""
    values = np.concatenate(([0.0], np.sort(rel.ravel()), [1.0]))
    mids = (values[1:] + values[:-1]) / 2
    gaps = np.diff(values)
    gaps[(mids < 0.3) | (mids > 0.7)] = -1.0
    i = int(np.argmax(gaps))
    return float(mids[i]) if gaps[i] > 0 else 0.5


def _classify(strengths: np.ndarray, threshold: float, level: float) -> DigitRead:
    on = frozenset(SEGMENTS[i] for i in range(7) if strengths[i] > threshold)
    margins = np.abs(strengths - threshold)
    char = PATTERNS.get(on)
    if char is not None:
        confidence = float(np.clip(margins.min() / CONFIDENT_MARGIN, 0.0, 1.0))
        return DigitRead(char, confidence, level, tuple(float(s) for s in strengths))
    # No digit has exactly these segments: name the closest one but do not trust it.
    best, best_cost = "?", np.inf
    for pattern, digit in PATTERNS.items():
        wrong = [i for i in range(7) if (SEGMENTS[i] in pattern) != (SEGMENTS[i] in on)]
        cost = float(margins[wrong].sum())
        if cost < best_cost:
            best, best_cost = digit, cost
    confidence = float(np.clip(0.3 - best_cost, 0.0, 0.3))
    return DigitRead(best, confidence, level, tuple(float(s) for s in strengths))
