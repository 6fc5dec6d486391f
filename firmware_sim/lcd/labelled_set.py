"""Labelled sets of display photos: every image with the text, tariff and QR payload it shows.

One sample is a pure function of ``(seed, index)`` and its arguments, so a set can be regenerated
bit for bit, extended without changing the images already made, and a single failing image can
be rebuilt on its own.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from firmware_sim.lcd.camera import Conditions, crop_field, photograph
from firmware_sim.lcd.display import BACKLIGHTS, STYLES, TARIFFS, LcdStyle, render_display

LABEL_FIELDS = ("file", "text", "tariff", "qr", "display_quad", "field_quad")
Quad = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Sample:
    """One image and its ground truth; ``tariff`` is ``""`` when the image shows no mark."""

    name: str
    encoded: bytes           # the file's bytes (JPEG or PNG)
    text: str
    tariff: str
    qr: str                  # the QR payload in the image, ``""`` when there is none
    style: str
    display_quad: Quad | None = None   # glass corners in the image; None for crops
    field_quad: Quad | None = None     # the reading field's corners (digits, point, decimals)


def random_text(rng: np.random.Generator) -> str:
    """A register as a display shows it: 5-8 integer digits with leading zeros, 0-2 decimals."""
    digits = int(rng.integers(5, 9))
    decimals = int(rng.choice([0, 1, 2], p=[0.25, 0.25, 0.5]))
    significant = int(rng.integers(1, digits + 1))
    integer = "".join(str(d) for d in rng.integers(0, 10, significant)).rjust(digits, "0")
    fraction = "".join(str(d) for d in rng.integers(0, 10, decimals))
    return f"{integer}.{fraction}" if decimals else integer


def qr_payload(rng: np.random.Generator, tariff_text: str, tariff: str) -> str:
    """The dynamic QR our meters show: serial, the three tariff registers in Wh and a timestamp."""
    registers = {t: int(rng.integers(0, 10 ** 8)) for t in ("t1", "t2", "t3")}
    # Agree with the display: the register the glass shows (or the three, for the total)
    # adds up to its value, to the Wh.
    whole, _, frac = tariff_text.partition(".")
    shown = int(whole) * 1000 + int((frac + "000")[:3])
    if tariff in registers:
        registers[tariff] = shown
    elif tariff == "total":
        cuts = sorted(int(c) for c in rng.integers(0, shown + 1, 2))
        registers = {"t1": cuts[0], "t2": cuts[1] - cuts[0], "t3": shown - cuts[1]}
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(
        seconds=int(rng.integers(0, 365 * 86400)))
    serial = str(int(rng.integers(10 ** 7, 10 ** 8)))
    body = ";".join(f"{t}={registers[t]}" for t in ("t1", "t2", "t3"))
    return f"serial={serial};{body};ts={moment.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def make_sample(seed: int, index: int, conditions: Conditions, *,
                styles: Sequence[str | LcdStyle], crop: bool = False,
                qr_chance: float = 0.0) -> Sample:
    """Render, photograph (or crop) and encode sample ``index`` of the set ``seed``; styles
    are names from ``STYLES`` or ``LcdStyle`` values of one's own."""
    rng = np.random.default_rng([seed, index])
    chosen = styles[int(rng.integers(len(styles)))]
    look = chosen if isinstance(chosen, LcdStyle) else STYLES[chosen]
    style = look.name
    text = random_text(rng)
    tariff = TARIFFS[int(rng.integers(len(TARIFFS)))]
    backlight = BACKLIGHTS[int(rng.integers(len(BACKLIGHTS)))]
    ink = rng.uniform(*conditions.ink)
    ghost = rng.uniform(*conditions.ghost)
    display = render_display(text, tariff, look, backlight=backlight,
                             digit_height=int(rng.integers(60, 110)), ghost=ghost, ink=ink)
    quality = int(rng.integers(conditions.jpeg[0], conditions.jpeg[1] + 1))
    if crop:
        rgb = crop_field(display, rng, conditions)
        as_png = rng.random() < 0.5
        qr = ""
        quad = field_quad = None
        tariff_label = ""
    else:
        qr = qr_payload(rng, text, tariff) if rng.random() < qr_chance else ""
        photo = photograph(display, rng, conditions, qr_payload=qr or None)
        rgb, quad, field_quad = photo.rgb, photo.display_quad, photo.field_quad
        as_png = False
        tariff_label = tariff
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    if as_png:
        ok, buf = cv2.imencode(".png", bgr)
        ext = "png"
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        ext = "jpg"
    if not ok:
        raise RuntimeError(f"OpenCV could not encode sample {index}")
    return Sample(f"{index:05d}.{ext}", buf.tobytes(), text, tariff_label, qr, style, quad,
                  field_quad)


def write_set(outdir: Path, count: int, seed: int, conditions: Conditions, *,
              styles: Sequence[str | LcdStyle], crop: bool = False,
              qr_chance: float = 0.0) -> list[Sample]:
    """Write ``count`` images and ``labels.csv`` into ``outdir``.

    The columns are file, text, tariff, qr, then the glass's and the reading field's corners
    in the photo (``display_quad``, ``field_quad``: eight numbers ``x y`` clockwise from top
    left, empty for crops), the ground truth a localization benchmark needs.
    """
    unknown = [s for s in styles if isinstance(s, str) and s not in STYLES]
    if unknown:
        raise ValueError(f"unknown styles {unknown}; known: {', '.join(STYLES)}")
    outdir.mkdir(parents=True, exist_ok=True)
    samples = []
    for index in range(count):
        sample = make_sample(seed, index, conditions, styles=styles, crop=crop, qr_chance=qr_chance)
        (outdir / sample.name).write_bytes(sample.encoded)
        samples.append(sample)
    with open(outdir / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(LABEL_FIELDS)
        for s in samples:
            writer.writerow((s.name, s.text, s.tariff, s.qr, _quad_text(s.display_quad),
                             _quad_text(s.field_quad)))
    return samples


def _quad_text(quad: Quad | None) -> str:
    return "" if quad is None else " ".join(f"{v:.1f}" for corner in quad for v in corner)
