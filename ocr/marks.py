from __future__ import annotations
from dataclasses import dataclass
import numpy as np

@dataclass(frozen=True)
class MarkRead:
    tariff: str
    confidence: float

def read_mark(stroke: np.ndarray, *, row_top: float, row_x0: float, row_height: float) -> MarkRead | None:
    return None
