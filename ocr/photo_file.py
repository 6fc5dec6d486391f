"""Opening a resident's photo safely: the one place that turns bytes into pixels.

The header is read first (Pillow reads only the header on ``open``), so a 20 000 x 20 000 image
is refused before gigabytes of pixels are allocated, and a file that is not an image, or is cut
short, gets a reason the resident can act on. Pixels are decoded by OpenCV; a phone-sized JPEG
is decoded at a reduced scale straight from its DCT coefficients, which costs a fraction of a
full decode and loses nothing the reader needs.
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from drivers.errors import ReadError

MAX_PIXELS = 50_000_000      # a 50 MP phone photo; beyond that the file is not a photo of a meter
MAX_BYTES = 64 * 1024 * 1024
MIN_SIDE = 16
WORK_SIDE = 1600             # long side the reader needs at most; larger JPEGs decode reduced
PhotoSource = str | Path | bytes | np.ndarray

_FORMATS = "JPEG, PNG, WebP, BMP or TIFF"


def load_photo(source: PhotoSource) -> np.ndarray:
    """Decode a photo into a BGR ``uint8`` array, or raise ``ReadError`` saying why not."""
    if isinstance(source, np.ndarray):
        return _check_array(source)
    data = _read_bytes(source)
    if not data:
        raise ReadError("the file is empty: send the photo again")
    declared = _declared_size(data)
    if declared is not None and declared[0] * declared[1] > MAX_PIXELS:
        _refuse_size(*declared)
    with warnings.catch_warnings():
        # Pillow warns before it refuses; the size check below gives the reason instead.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as header:
                width, height = header.size
                fmt = header.format or "?"
        except Image.DecompressionBombError as exc:
            raise ReadError(f"the image is too large to be a photo of a meter ({exc}); "
                            "send the phone's normal-size photo") from exc
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise ReadError(f"this file is not an image ({_FORMATS} expected)") from exc
    if width * height > MAX_PIXELS:
        _refuse_size(width, height)
    if min(width, height) < MIN_SIDE:
        raise ReadError(f"the image is only {width}x{height} pixels: too small to show a display")
    if fmt == "PNG" and b"IEND" not in data[-4096:]:
        raise ReadError("the image file is cut short (truncated): send the photo again")
    flags = cv2.IMREAD_COLOR
    if fmt == "JPEG":
        for factor, reduced in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                                (2, cv2.IMREAD_REDUCED_COLOR_2)):
            if max(width, height) // factor >= WORK_SIDE:
                flags = reduced
                break
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:
        raise ReadError("the image file is damaged and cannot be decoded: send the photo again") from exc
    if pixels is None:
        raise ReadError("the image file is damaged or cut short (truncated): send the photo again")
    return _check_array(pixels)


def _refuse_size(width: int, height: int) -> None:
    raise ReadError(f"the image is {width}x{height} pixels ({width * height / 1e6:.0f} MP); the "
                    f"limit is {MAX_PIXELS // 1_000_000} MP: send the phone's normal-size photo")


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG or JPEG header, the formats phones write; ``None`` for
    others (Pillow's header reader checks those)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        # Start-of-frame markers carry the size; C4, C8 and CC are other tables.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length
    return None


def _read_bytes(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ReadError(f"the file is larger than {MAX_BYTES // 2 ** 20} MB: send the phone's "
                            "normal-size photo", path=str(path))
        return data
    except FileNotFoundError as exc:
        raise ReadError("no such file", path=str(path)) from exc
    except IsADirectoryError as exc:
        raise ReadError("this is a directory, not a photo", path=str(path)) from exc
    except OSError as exc:
        raise ReadError(f"cannot open the file: {exc.strerror or exc}", path=str(path)) from exc


def _check_array(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ReadError(f"expected an 8-bit image array, got {pixels.dtype} with shape {pixels.shape}")
    if pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    elif pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    elif pixels.shape[2] != 3:
        raise ReadError(f"expected 1, 3 or 4 colour channels, got {pixels.shape[2]}")
    h, w = pixels.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ReadError(f"the image is only {w}x{h} pixels: too small to show a display")
    if h * w > MAX_PIXELS:
        raise ReadError(f"the image is {w}x{h} pixels; the limit is {MAX_PIXELS // 1_000_000} MP")
    return pixels
