"""Fixtures for the OCR tests: real rendered photos, written where a test can open them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from firmware_sim.lcd import MILD, STYLES, Sample, make_sample, photograph, render_display

# One seed for the whole suite: the images are regenerated bit for bit on every run.
SEED = 7


@pytest.fixture
def photo_file(tmp_path: Path):
    """Write sample ``index`` of a style to ``tmp_path`` and return its path and ground truth."""

    def write(style: str, index: int = 0, *, crop: bool = False, qr_chance: float = 0.0,
              seed: int = SEED) -> tuple[Path, Sample]:
        sample = make_sample(seed, index, MILD, styles=[style], crop=crop, qr_chance=qr_chance)
        path = tmp_path / f"{style}-{index}-{sample.name}"
        path.write_bytes(sample.encoded)
        return path, sample

    return write


@pytest.fixture
def meter_photo(tmp_path: Path):
    """Photograph a display showing ``text`` under ``tariff``, optionally with a QR code."""

    def write(name: str, text: str, tariff: str, *, style: str = "classic", qr: str | None = None,
              seed: int = SEED) -> Path:
        rng = np.random.default_rng(seed)
        display = render_display(text, tariff, STYLES[style], ghost=0.15)
        photo = photograph(display, rng, MILD, qr_payload=qr)
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(photo.rgb[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        path = tmp_path / name
        path.write_bytes(buf.tobytes())
        return path

    return write
