"""A resident's phone photographing the display: the meter face around it, and everything a real
photo does to it.

``photograph`` puts a rendered display into a meter face (housing, bezel, printed labels with
their own digits, an LED, optionally a QR code), views it through a perspective camera with
rotation and scale, and degrades it the way phone photos of meters are degraded: uneven light,
colour casts, low contrast, glare and reflections, blur, noise and JPEG. ``crop_field`` makes the
other kind of input readers meet: the reading field alone, stretched to a fixed size as other
tools export it. ``Conditions`` holds the ranges; ``MILD`` is what the reader was tuned on and
``HARSH`` is the held-out set's. Every random choice comes from the generator passed in, so a
seed reproduces an image bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from firmware_sim.lcd.display import DisplayImage


@dataclass(frozen=True)
class Conditions:
    """Ranges (low, high) from which each photo draws its degradations."""

    name: str
    display_fraction: tuple[float, float]   # display width / photo width
    rotation_deg: float                     # ± rotation of the whole meter
    tilt: float                             # ± corner displacement / display width (perspective)
    light_floor: tuple[float, float]        # darkest point of the uneven light, 1 = even
    cast: float                             # ± per-channel gain (colour cast)
    contrast: tuple[float, float]           # contrast kept, 1 = all
    glare: tuple[float, float]              # peak strength of a glare spot, 0 = none
    glare_chance: float
    reflection_chance: float                # a soft bright band across the display (a window)
    blur: tuple[float, float]               # Gaussian sigma / digit height
    motion_chance: float
    noise: tuple[float, float]              # sigma in 8-bit levels
    jpeg: tuple[int, int]                   # quality
    ghost: tuple[float, float]              # unlit segments' darkness relative to lit ones
    ink: tuple[float, float]                # lit segments' darkness, 1 = full contrast
    crop_sizes: tuple[tuple[int, int], ...]  # what crops are stretched to


MILD = Conditions(
    name="mild", display_fraction=(0.45, 0.8), rotation_deg=6.0, tilt=0.05,
    light_floor=(0.7, 1.0), cast=0.12, contrast=(0.7, 1.0), glare=(0.1, 0.35), glare_chance=0.3,
    reflection_chance=0.1, blur=(0.0, 0.025), motion_chance=0.1, noise=(1.0, 5.0), jpeg=(70, 95),
    ghost=(0.0, 0.25), ink=(0.75, 1.0), crop_sizes=((240, 48), (320, 64), (200, 31)),
)
HARSH = Conditions(
    name="harsh", display_fraction=(0.3, 0.9), rotation_deg=15.0, tilt=0.12,
    light_floor=(0.35, 1.0), cast=0.35, contrast=(0.35, 1.0), glare=(0.15, 0.45), glare_chance=0.5,
    reflection_chance=0.35, blur=(0.0, 0.045), motion_chance=0.3, noise=(2.0, 8.0),
    jpeg=(35, 90), ghost=(0.1, 0.4), ink=(0.5, 1.0), crop_sizes=((200, 31),),
)
CONDITIONS = {c.name: c for c in (MILD, HARSH)}


@dataclass(frozen=True)
class Photo:
    """A photographed display and where the glass and its reading field ended up in it."""

    rgb: np.ndarray                          # H x W x 3 uint8, before encoding
    display_quad: tuple[tuple[float, float], ...]  # glass corners, clockwise from top left
    field_quad: tuple[tuple[float, float], ...]    # reading field's corners (digits, point,
    #                                                decimals and their box), likewise


_FACES = ((226, 228, 224), (200, 204, 206), (236, 230, 214), (70, 74, 78), (40, 42, 44),
          (180, 186, 176))
_LABELS = ("230V 5(60)A 50Hz", "1000 imp/kWh", "Class 1", "IP54", "-40...+70 C",
           "No 19287364", "2024", "3x230/400V")


def photograph(display: DisplayImage, rng: np.random.Generator, conditions: Conditions, *,
               size: tuple[int, int] = (1024, 768), qr_payload: str | None = None) -> Photo:
    """Place the display in a meter face and take a phone photo of it."""
    face, glass, subject = _meter_face(display, rng, qr_payload)
    width, height = size
    if rng.random() < 0.25:
        width, height = height, width
    # The subject is the glass, and the QR code when the resident photographs one with it.
    sx0, sy0, sx1, sy1 = subject
    target_w = rng.uniform(*conditions.display_fraction) * width
    scale = target_w / (sx1 - sx0)
    angle = math.radians(rng.uniform(-conditions.rotation_deg, conditions.rotation_deg))
    centre = np.array([(sx0 + sx1) / 2, (sy0 + sy1) / 2])
    # Keep the subject inside the frame: its centre may wander only by the slack left around it.
    subject_h = (sy1 - sy0) * scale
    slack_x = max(0.0, (width - target_w * 1.15) / 2)
    slack_y = max(0.0, (height - subject_h * 1.3 - target_w * abs(math.sin(angle))) / 2)
    # Residents aim at what they photograph: it wanders from the centre, not to the edge.
    dest_centre = np.array([width / 2 + rng.uniform(-slack_x, slack_x) * 0.5,
                            height / 2 + rng.uniform(-slack_y, slack_y) * 0.5])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    fh, fw = face.shape[:2]
    corners = np.array([[0, 0], [fw, 0], [fw, fh], [0, fh]], np.float64)
    dest = (corners - centre) * scale @ rot.T + dest_centre
    dest += rng.uniform(-1, 1, (4, 2)) * conditions.tilt * target_w
    homography = cv2.getPerspectiveTransform(corners.astype(np.float32), dest.astype(np.float32))
    background = _background(rng, width, height)
    warped = cv2.warpPerspective(face, homography, (width, height), flags=cv2.INTER_AREA
                                 if scale < 1 else cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full(face.shape[:2], 255, np.uint8), homography, (width, height))
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    img = background * (1 - alpha) + warped.astype(np.float32) * alpha
    quad = cv2.perspectiveTransform(np.array([glass], np.float32), homography)[0]
    f = display.field
    gx, gy = glass[0]
    field = ((gx + f.x, gy + f.y), (gx + f.x + f.w, gy + f.y), (gx + f.x + f.w, gy + f.y + f.h),
             (gx + f.x, gy + f.y + f.h))
    field_quad = cv2.perspectiveTransform(np.array([field], np.float32), homography)[0]
    digit_h = (glass[2][1] - glass[0][1]) * scale * 0.5
    img = _degrade(img, rng, conditions, digit_h, quad)
    return Photo(img, _corners(quad), _corners(field_quad))


def _corners(quad: np.ndarray) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in quad)


def crop_field(display: DisplayImage, rng: np.random.Generator, conditions: Conditions) -> np.ndarray:
    """The reading field alone, degraded and stretched to one of the conditions' fixed sizes."""
    f = display.field
    jitter = rng.uniform(-0.04, 0.04, 4) * f.h
    x0 = max(0.0, f.x + jitter[0])
    y0 = max(0.0, f.y + jitter[1])
    x1 = min(display.rgb.shape[1], f.x + f.w + jitter[2])
    y1 = min(display.rgb.shape[0], f.y + f.h + jitter[3])
    angle = rng.uniform(-2.0, 2.0)
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
    rotated = cv2.warpAffine(display.rgb, rot, display.rgb.shape[1::-1],
                             borderMode=cv2.BORDER_REPLICATE)
    crop = rotated[int(y0):int(math.ceil(y1)), int(x0):int(math.ceil(x1))].astype(np.float32)
    digit_h = f.h / 1.16
    crop = _degrade(crop, rng, conditions, digit_h, None)
    sizes = conditions.crop_sizes
    w, h = sizes[int(rng.integers(len(sizes)))]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)


def _meter_face(display: DisplayImage, rng: np.random.Generator, qr_payload: str | None
                ) -> tuple[np.ndarray, tuple[tuple[float, float], ...], tuple[float, float, float, float]]:
    dh, dw = display.rgb.shape[:2]
    bezel = max(3, int(dh * rng.uniform(0.04, 0.1)))
    margin_x = int(dw * rng.uniform(0.25, 0.55))
    top = int(dh * rng.uniform(0.6, 1.2))
    bottom = int(dh * rng.uniform(1.4, 2.4))
    qr_side = 0
    if qr_payload is not None:
        qr_side = int(dh * 1.6)
        margin_x = max(margin_x, qr_side + bezel * 2 + int(dh * 0.3))
    fw = dw + 2 * margin_x
    fh = dh + top + bottom
    face_colour = np.array(_FACES[int(rng.integers(len(_FACES)))], np.float32)
    # A shallow moulding texture so the housing is not a flat colour.
    texture = cv2.GaussianBlur(rng.normal(0, 6, (fh, fw)).astype(np.float32), (0, 0), 3)
    face = np.clip(face_colour + texture[..., None], 0, 255).astype(np.uint8)
    dark_face = face_colour.mean() < 128
    ink = (225, 225, 225) if dark_face else (35, 35, 40)
    bezel_colour = tuple(float(c) for c in (face_colour * rng.uniform(0.45, 0.8)))
    x0, y0 = margin_x, top
    cv2.rectangle(face, (x0 - bezel, y0 - bezel), (x0 + dw + bezel, y0 + dh + bezel), bezel_colour, -1)
    face[y0:y0 + dh, x0:x0 + dw] = display.rgb
    # Printed legends carry digits too: a reader must not take them for the display.
    font_h = dh * rng.uniform(0.09, 0.14)
    scale = font_h / 22.0
    line_y = y0 + dh + bezel + int(font_h * 2.2)
    for label in rng.choice(_LABELS, size=3, replace=False):
        cv2.putText(face, str(label), (x0, int(line_y)), cv2.FONT_HERSHEY_SIMPLEX, scale, ink,
                    max(1, int(scale * 1.5)), cv2.LINE_AA)
        line_y += font_h * 1.9
    brand_scale = dh * 0.2 / 22.0
    cv2.putText(face, "METERLINK", (x0, int(top * 0.55)), cv2.FONT_HERSHEY_DUPLEX, brand_scale, ink,
                max(1, int(brand_scale * 2)), cv2.LINE_AA)
    led = (int(x0 + dw - dh * 0.2), int(y0 + dh + bezel + dh * 0.4))
    cv2.circle(face, led, max(2, int(dh * 0.06)), (200, 40, 30), -1, cv2.LINE_AA)
    subject = (float(x0 - bezel), float(y0 - bezel), float(x0 + dw + bezel), float(y0 + dh + bezel))
    if qr_payload is not None:
        qx = x0 + dw + bezel * 2 + int(dh * 0.2)
        _draw_qr(face, qr_payload, (qx, y0), qr_side)
        subject = (subject[0], subject[1], float(qx + qr_side), max(subject[3], float(y0 + qr_side)))
    glass = ((float(x0), float(y0)), (float(x0 + dw), float(y0)), (float(x0 + dw), float(y0 + dh)),
             (float(x0), float(y0 + dh)))
    return face, glass, subject


def _draw_qr(face: np.ndarray, payload: str, origin: tuple[int, int], side: int) -> None:
    code = cv2.QRCodeEncoder.create().encode(payload)
    modules = code.shape[0]
    quiet = 4  # the quiet zone the standard asks for, in modules
    canvas = np.full((modules + 2 * quiet, modules + 2 * quiet), 255, np.uint8)
    canvas[quiet:quiet + modules, quiet:quiet + modules] = code
    big = cv2.resize(canvas, (side, side), interpolation=cv2.INTER_NEAREST)
    x, y = origin
    h = min(side, face.shape[0] - y)
    w = min(side, face.shape[1] - x)
    face[y:y + h, x:x + w] = big[:h, :w, None]


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    base = rng.uniform(40, 200, 3).astype(np.float32)
    noise = cv2.GaussianBlur(rng.normal(0, 25, (height // 8 + 1, width // 8 + 1)).astype(np.float32),
                             (0, 0), 2)
    texture = cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(base + texture[..., None], 0, 255)


def _degrade(img: np.ndarray, rng: np.random.Generator, c: Conditions, digit_h: float,
             quad: np.ndarray | None) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Uneven light: a linear falloff in a random direction times a soft vignette.
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(direction) + yy * math.sin(direction))
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp)))
    floor = rng.uniform(*c.light_floor)
    light = floor + (1 - floor) * ramp
    img = img * light[..., None]
    img = img * (1 + rng.uniform(-c.cast, c.cast, 3)).astype(np.float32)
    keep = rng.uniform(*c.contrast)
    mean = img.mean(axis=(0, 1))
    img = mean + (img - mean) * keep + (1 - keep) * rng.uniform(-30, 60)
    if quad is not None:
        cx, cy = quad.mean(axis=0)
        span = float(np.linalg.norm(quad[1] - quad[0]))
    else:
        cx, cy, span = w / 2, h / 2, float(w)
    if rng.random() < c.glare_chance:
        gx = cx + rng.uniform(-0.5, 0.5) * span
        gy = cy + rng.uniform(-0.3, 0.3) * span * 0.4
        rx = span * rng.uniform(0.05, 0.25)
        ry = rx * rng.uniform(0.4, 1.0)
        spot = np.exp(-(((xx - gx) / rx) ** 2 + ((yy - gy) / ry) ** 2))
        img = img + spot[..., None] * 255.0 * rng.uniform(*c.glare)
    if rng.random() < c.reflection_chance:
        theta = rng.uniform(0, math.pi)
        offset = rng.uniform(-0.3, 0.3) * span
        dist = (xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta) - offset
        band = np.exp(-(dist / (span * rng.uniform(0.03, 0.12))) ** 2)
        img = img + band[..., None] * 255.0 * rng.uniform(0.1, 0.35)
    sigma = rng.uniform(*c.blur) * digit_h
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if rng.random() < c.motion_chance:
        length = max(2, int(rng.uniform(0.02, 0.06) * digit_h))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        img = cv2.filter2D(img, -1, kernel / max(1e-6, float(kernel.sum())))
    img = img + rng.normal(0, rng.uniform(*c.noise), img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
