"""The tariff mark: named from its shape, and never sure when it had to be guessed at."""

from __future__ import annotations

import cv2
import numpy as np

from ocr.marks import _MATCH_SURE, _match
from ocr.strokes import brightest_channel, stroke_map


def test_a_mark_whose_letters_blur_together_is_named_but_never_sure():
    canvas = np.full((120, 400, 3), 200, np.uint8)
    cv2.putText(canvas, "T2", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (40, 40, 40), 2, cv2.LINE_AA)
    for x in range(120, 380, 50):  # the digit row, below and right of the mark
        cv2.rectangle(canvas, (x, 55), (x + 28, 110), (40, 40, 40), 6)
    blurred = cv2.GaussianBlur(canvas, (0, 0), 2.0)
    stroke = stroke_map(brightest_channel(blurred), 20)
    mark = _match(stroke, top=55.0, left=120.0, h=60.0)
    assert mark is not None and mark.tariff == "t2"
    assert mark.confidence <= _MATCH_SURE
