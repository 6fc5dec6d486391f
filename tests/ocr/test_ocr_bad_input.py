"""Bad input: every kind gets a ReadError with a reason a resident can act on, never a number."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.errors import ReadError
from firmware_sim.lcd import MILD, STYLES, crop_field, render_display
from ocr import read_display


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size honestly but carries one compressed row: enough for a
    header reader, while decoding its pixels would allocate width x height."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1))) + chunk(b"IEND", b""))


def test_a_text_file_is_not_an_image(tmp_path: Path):
    path = tmp_path / "notes.jpg"
    path.write_text("meter reading: 12345\n")
    with pytest.raises(ReadError, match="not an image"):
        read_display(path)


def test_an_empty_file_is_refused(tmp_path: Path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ReadError, match="empty"):
        read_display(path)


def test_a_missing_file_names_itself(tmp_path: Path):
    path = tmp_path / "nowhere.jpg"
    with pytest.raises(ReadError, match="no such file") as info:
        read_display(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_a_truncated_file_is_refused(tmp_path: Path, ext: str):
    display = render_display("012345.67", "t1", STYLES["classic"])
    ok, buf = cv2.imencode(ext, display.rgb[..., ::-1].copy())
    assert ok
    path = tmp_path / f"cut{ext}"
    path.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(ReadError, match="truncated|cut short"):
        read_display(path)


def test_a_20000_by_20000_image_is_refused_by_its_header(tmp_path: Path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(20000, 20000))
    assert path.stat().st_size < 100_000
    with pytest.raises(ReadError, match="20000x20000"):
        read_display(path)


def test_a_photo_without_a_display_is_refused():
    rng = np.random.default_rng(5)
    wall = cv2.GaussianBlur(rng.normal(128, 40, (600, 800, 3)).clip(0, 255).astype(np.uint8),
                            (0, 0), 6)
    with pytest.raises(ReadError):
        read_display(wall)


def test_a_blank_display_is_refused():
    # Glass with no lit segment at all: nothing to read, so nothing may be invented.
    blank = np.full((120, 480, 3), (118, 212, 166), np.uint8)
    with pytest.raises(ReadError):
        read_display(blank)


def test_digits_wiped_out_by_glare_are_refused_not_guessed():
    display = render_display("0045678.12", "t2", STYLES["classic"])
    rgb = display.rgb.astype(np.float32)
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    spot = np.exp(-(((xx - 0.45 * w) / (0.16 * w)) ** 2 + ((yy - 0.55 * h) / (0.5 * h)) ** 2))
    washed = np.clip(rgb + 255 * 1.6 * spot[..., None], 0, 255).astype(np.uint8)
    with pytest.raises(ReadError):
        read_display(washed[..., ::-1].copy())


def test_segments_too_faint_to_tell_from_ghosts_are_refused_or_flagged():
    display = render_display("8801234", "t1", STYLES["classic"], ghost=0.9, ink=0.35)
    crop = crop_field(display, np.random.default_rng(1), MILD)
    try:
        read = read_display(crop[..., ::-1].copy())
    except ReadError:
        return
    assert read.low_confidence or read.text == "8801234"


def test_a_tiny_image_is_refused():
    with pytest.raises(ReadError, match="too small"):
        read_display(np.zeros((8, 8, 3), np.uint8))


def test_decimals_hidden_after_a_lit_point_are_refused_not_dropped():
    # "0012345.67" with the decimals gone (glare, a finger): "0012345" would be 100x too much.
    display = render_display("0012345.67", "t1", STYLES["classic"], ghost=0.0)
    rgb = display.rgb.copy()
    field = display.field
    pitch = 0.52 * 80 * 1.42  # the classic glass's digit pitch at the default digit height
    first_decimal = int(field.x + 0.08 * 80 + 7 * pitch) + 1
    rgb[int(field.y):int(field.y + field.h), first_decimal:int(field.x + field.w + 2)] = rgb[5, 5]
    with pytest.raises(ReadError, match="point is lit after the last digit"):
        read_display(rgb[..., ::-1].copy())
