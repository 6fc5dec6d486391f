"""The meter's LCD drawn as the meter draws it, before any camera sees it.

A display shows one register at a time: a tariff mark (``T1``/``T2``/``T3``/``TOTAL``), the
value in seven-segment digits with leading zeros and a decimal point, and the unit. Real
displays differ in the ways that trouble a reader, so each of those is a field of ``LcdStyle``:
segment thickness and spacing, italic slant, smaller or boxed decimals, where the tariff mark
sits, which form of 6, 7 and 9 the glass uses. Unlit segments stay faintly visible (ghosts),
which is what makes an 8 and a 0, or a 9 and a 3, hard to tell apart.

Drawing happens on a 4x supersampled coverage mask and is composited once, so the result is
antialiased and depends only on its arguments: no randomness lives here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

# Segment names follow the datasheet convention: a top, b upper right, c lower right,
# d bottom, e lower left, f upper left, g middle.
_SEGMENTS = {
    "0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg",
    "5": "acdfg", "6": "acdefg", "7": "abc", "8": "abcdefg", "9": "abcdfg",
}
TARIFFS = ("t1", "t2", "t3", "total")
MARK_TEXT = {"t1": "T1", "t2": "T2", "t3": "T3", "total": "TOTAL"}
BACKLIGHTS = ("green", "orange", "blue", "grey", "none")

# Glass colour behind the segments (RGB) per backlight, and the ink the segments turn.
_GLASS = {
    "green": (166, 212, 118), "orange": (242, 172, 84), "blue": (128, 178, 236),
    "grey": (196, 200, 194), "none": (150, 158, 146),
}
_INK = {
    "green": (28, 40, 24), "orange": (46, 30, 18), "blue": (18, 28, 60),
    "grey": (30, 32, 34), "none": (26, 30, 26),
}
_SS = 4  # supersampling factor of the coverage masks
_TEXT = re.compile(r"^\d{1,10}(\.\d{1,3})?$")


@dataclass(frozen=True)
class LcdStyle:
    """How one family of meter displays draws its digits; lengths are fractions of digit height."""

    name: str
    digit_aspect: float = 0.52        # digit width / digit height
    thickness: float = 0.12           # segment thickness
    gap: float = 0.018                # gap between neighbouring segments
    spacing: float = 0.42             # blank between digits / digit width
    slant_deg: float = 0.0            # italic lean of the tops to the right
    bevel: bool = True                # pointed segment ends (most glass) or square ends
    decimal_scale: float = 1.0        # height of the decimals / height of the integer digits
    decimals_boxed: bool = False
    round_point: bool = False
    mark_position: Literal["above", "left"] = "above"
    mark_font: int = cv2.FONT_HERSHEY_SIMPLEX
    unit_position: Literal["right", "below"] = "right"
    unit_font: int = cv2.FONT_HERSHEY_SIMPLEX
    tails: bool = True                # 6 with its top and 9 with its bottom segment
    seven_with_f: bool = False        # some glass lights the upper left segment in a 7
    point_ghosts: bool = True         # every digit gap carries a point that can ghost

    def segments(self, char: str) -> str:
        """The lit segments of one digit as this glass draws it."""
        lit = _SEGMENTS[char]
        if not self.tails and char == "6":
            lit = lit.replace("a", "")
        if not self.tails and char == "9":
            lit = lit.replace("d", "")
        if self.seven_with_f and char == "7":
            lit += "f"
        return lit


# Styles tuned on (the reader was developed against these) and held out (used only to
# evaluate): they differ in every field a reader could overfit to.
STYLES: dict[str, LcdStyle] = {s.name: s for s in (
    LcdStyle("classic"),
    LcdStyle("italic", slant_deg=9.0, digit_aspect=0.5, mark_font=cv2.FONT_HERSHEY_DUPLEX),
    LcdStyle("boxed", decimals_boxed=True, decimal_scale=0.78, thickness=0.1,
             mark_position="left", unit_position="below"),
    LcdStyle("slim", thickness=0.085, gap=0.014, digit_aspect=0.48, spacing=0.5, bevel=False,
             tails=False, mark_font=cv2.FONT_HERSHEY_PLAIN),
    LcdStyle("bold", thickness=0.155, gap=0.022, digit_aspect=0.58, spacing=0.34,
             round_point=True, mark_font=cv2.FONT_HERSHEY_COMPLEX, seven_with_f=True),
    LcdStyle("slanted-small", slant_deg=12.0, decimal_scale=0.7, thickness=0.11,
             mark_position="left", mark_font=cv2.FONT_HERSHEY_TRIPLEX, tails=False),
    LcdStyle("narrow-boxed", digit_aspect=0.44, thickness=0.095, spacing=0.55, decimals_boxed=True,
             decimal_scale=1.0, bevel=False, slant_deg=5.0, unit_position="below",
             mark_font=cv2.FONT_HERSHEY_COMPLEX_SMALL, round_point=True),
)}
TUNING_STYLES = ("classic", "italic", "boxed", "slim")
HELD_OUT_STYLES = ("bold", "slanted-small", "narrow-boxed")


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in display pixels."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class DisplayImage:
    """A rendered display and where its parts are, for crops and ground truth."""

    rgb: np.ndarray          # H x W x 3 uint8
    field: Box               # the reading field: digits, point and decimals
    text: str
    tariff: str | None


def render_display(text: str, tariff: str | None, style: LcdStyle, *, backlight: str = "green",
                   digit_height: int = 80, ghost: float = 0.18, ink: float = 1.0) -> DisplayImage:
    """Draw ``text`` (e.g. ``"012345.67"``) with its tariff mark as this style's glass shows it.

    ``ghost`` is how dark unlit segments are relative to lit ones and ``ink`` how dark lit
    segments are relative to full contrast (a fading display or a weak backlight lowers it).
    ``tariff`` is one of ``TARIFFS`` or ``None`` for a display without a mark.
    """
    if not _TEXT.match(text):
        raise ValueError(f"display text must be digits with an optional point: {text!r}")
    if tariff is not None and tariff not in TARIFFS:
        raise ValueError(f"tariff must be one of {TARIFFS} or None: {tariff!r}")
    if backlight not in BACKLIGHTS:
        raise ValueError(f"backlight must be one of {BACKLIGHTS}: {backlight!r}")
    integer, _, decimals = text.partition(".")
    layout = _Layout(style, float(digit_height), integer, decimals, tariff)
    lit = np.zeros((layout.height * _SS, layout.width * _SS), np.uint8)
    ghosts = np.zeros_like(lit)
    layout.draw(lit, ghosts)
    lit_cov = cv2.resize(lit, (layout.width, layout.height), interpolation=cv2.INTER_AREA)
    ghost_cov = cv2.resize(ghosts, (layout.width, layout.height), interpolation=cv2.INTER_AREA)
    alpha = np.maximum(lit_cov.astype(np.float32) / 255.0 * ink,
                       ghost_cov.astype(np.float32) / 255.0 * ghost * ink)[..., None]
    glass = np.array(_GLASS[backlight], np.float32)
    dark = np.array(_INK[backlight], np.float32)
    rgb = glass + (dark - glass) * alpha
    return DisplayImage(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), layout.field, text, tariff)


class _Layout:
    """Positions of every part of one display, and the drawing of them onto coverage masks."""

    def __init__(self, style: LcdStyle, height: float, integer: str, decimals: str,
                 tariff: str | None) -> None:
        self.style = style
        self.h = height
        self.integer = integer
        self.decimals = decimals
        self.tariff = tariff
        h = height
        w = style.digit_aspect * h
        self.pitch = w * (1.0 + style.spacing)
        self.dec_h = h * style.decimal_scale
        self.dec_pitch = style.digit_aspect * self.dec_h * (1.0 + style.spacing)
        self.lean = math.tan(math.radians(style.slant_deg))
        self.mark_scale = self._text_scale(MARK_TEXT["t1"], style.mark_font, 0.3 * h)
        mark_w = self._text_width("TOTAL", style.mark_font, self.mark_scale)
        mark_h = 0.3 * h
        margin_x, margin_y = 0.4 * h, 0.32 * h
        if style.mark_position == "above":
            self.mark_xy = (margin_x, margin_y + mark_h)
            self.digits_x = margin_x + self.lean * h * 0.5
            self.top = margin_y + mark_h + 0.18 * h
        else:
            self.mark_xy = (margin_x, margin_y + 0.5 * h + 0.5 * mark_h)
            self.digits_x = margin_x + mark_w + 0.35 * h
            self.top = margin_y
        self.base = self.top + h
        ints_end = self.digits_x + len(integer) * self.pitch
        self.dec_x = ints_end + (0.12 * h if decimals and style.decimals_boxed else 0.0)
        field_end = self.dec_x + len(decimals) * self.dec_pitch if decimals else ints_end
        unit_scale = self._text_scale("kWh", style.unit_font, 0.3 * h)
        self.unit_scale = unit_scale
        unit_w = self._text_width("kWh", style.unit_font, unit_scale)
        if style.unit_position == "right":
            self.unit_xy = (field_end + 0.3 * h, self.base)
            right = self.unit_xy[0] + unit_w
            bottom = self.base
        else:
            self.unit_xy = (field_end - unit_w, self.base + 0.22 * h + 0.3 * h)
            right = field_end
            bottom = self.unit_xy[1]
        self.width = int(math.ceil(right + margin_x))
        self.height = int(math.ceil(bottom + margin_y))
        pad = 0.08 * h
        box_pad = 0.1 * h if decimals and style.decimals_boxed else 0.0
        self.field = Box(self.digits_x - pad, self.top - pad - box_pad,
                         field_end - self.digits_x + self.lean * h + 2 * pad + box_pad,
                         h + 2 * pad + 2 * box_pad)

    @staticmethod
    def _text_scale(text: str, font: int, cap_height: float) -> float:
        (_, th), _ = cv2.getTextSize(text, font, 1.0, 1)
        return cap_height / th

    @staticmethod
    def _text_width(text: str, font: int, scale: float) -> float:
        (tw, _), _ = cv2.getTextSize(text, font, scale, max(1, round(scale * 1.6)))
        return float(tw)

    def draw(self, lit: np.ndarray, ghosts: np.ndarray) -> None:
        s = self.style
        for i, char in enumerate(self.integer):
            self._digit(lit, ghosts, char, self.digits_x + i * self.pitch, self.base, self.h)
        for i, char in enumerate(self.decimals):
            self._digit(lit, ghosts, char, self.dec_x + i * self.dec_pitch, self.base, self.dec_h)
        # A point can sit in every gap; the one after the integer part is lit when there are decimals.
        digit_w = s.digit_aspect * self.h
        for i in range(1, len(self.integer) + 1):
            x = self.digits_x + i * self.pitch - (self.pitch - digit_w) / 2
            target = lit if (i == len(self.integer) and self.decimals) else ghosts
            if target is lit or s.point_ghosts:
                self._point(target, x, self.base)
        if self.decimals and s.decimals_boxed:
            # The frame is printed on the same glass as the segments, so it leans with them.
            pad = 0.1 * self.h
            x0 = self.dec_x - pad
            x1 = self.dec_x + len(self.decimals) * self.dec_pitch - self.dec_pitch * s.spacing / (
                1 + s.spacing) + pad
            y0 = self.base - self.dec_h - pad
            y1 = self.base + pad
            corners = [(x0, y1), (x1, y1), (x1, y0), (x0, y0)]
            frame = np.array([_pt(x + self.lean * (self.base - y), y) for x, y in corners], np.int32)
            cv2.polylines(lit, [frame], True, 255, max(1, round(0.035 * self.h * _SS)))
        if self.tariff is not None:
            self._text(lit, MARK_TEXT[self.tariff], s.mark_font, self.mark_scale, self.mark_xy)
        self._text(lit, "kWh", s.unit_font, self.unit_scale, self.unit_xy)

    def _text(self, mask: np.ndarray, text: str, font: int, scale: float,
              xy: tuple[float, float]) -> None:
        thick = max(1, round(scale * 1.6 * _SS))
        cv2.putText(mask, text, _pt(*xy), font, scale * _SS, 255, thick, cv2.LINE_8)

    def _point(self, mask: np.ndarray, x: float, base: float) -> None:
        size = self.style.thickness * self.h * 1.1
        cx, cy = x, base - size / 2
        if self.style.round_point:
            cv2.circle(mask, _pt(cx, cy), round(size / 2 * _SS), 255, -1)
        else:
            cv2.fillPoly(mask, [np.array([_pt(cx - size / 2, cy - size / 2),
                                          _pt(cx + size / 2, cy - size / 2),
                                          _pt(cx + size / 2, cy + size / 2),
                                          _pt(cx - size / 2, cy + size / 2)], np.int32)], 255)

    def _digit(self, lit: np.ndarray, ghosts: np.ndarray, char: str, x: float, base: float,
               h: float) -> None:
        on = self.style.segments(char)
        for name, poly in self._segment_polygons(x, base, h).items():
            cv2.fillPoly(lit if name in on else ghosts, [poly], 255)

    def _segment_polygons(self, x: float, base: float, h: float) -> dict[str, np.ndarray]:
        s = self.style
        w = s.digit_aspect * h
        t = s.thickness * h
        g = s.gap * h
        half = t / 2
        top = base - h

        def shear(px: float, py: float) -> tuple[int, int]:
            return _pt(x + px + self.lean * (base - py), py)

        def horizontal(y: float) -> list[tuple[float, float]]:
            x0, x1 = half + g, w - half - g
            if s.bevel:
                return [(x0, y), (x0 + half, y - half), (x1 - half, y - half), (x1, y),
                        (x1 - half, y + half), (x0 + half, y + half)]
            return [(x0 + half * 0.3, y - half), (x1 - half * 0.3, y - half),
                    (x1 - half * 0.3, y + half), (x0 + half * 0.3, y + half)]

        def vertical(cx: float, y0: float, y1: float) -> list[tuple[float, float]]:
            y0, y1 = y0 + g, y1 - g
            if s.bevel:
                return [(cx, y0), (cx + half, y0 + half), (cx + half, y1 - half), (cx, y1),
                        (cx - half, y1 - half), (cx - half, y0 + half)]
            return [(cx - half, y0 + half * 0.3), (cx + half, y0 + half * 0.3),
                    (cx + half, y1 - half * 0.3), (cx - half, y1 - half * 0.3)]

        mid = top + h / 2
        shapes = {
            "a": horizontal(top + half), "g": horizontal(mid), "d": horizontal(base - half),
            "f": vertical(half, top + half, mid), "b": vertical(w - half, top + half, mid),
            "e": vertical(half, mid, base - half), "c": vertical(w - half, mid, base - half),
        }
        return {name: np.array([shear(px, py) for px, py in pts], np.int32)
                for name, pts in shapes.items()}


def _pt(x: float, y: float) -> tuple[int, int]:
    return (round(x * _SS), round(y * _SS))


def display_text(energy_wh: int, digits: int, decimals: int) -> str:
    """A register as the glass shows it: kWh with leading zeros, the fraction truncated, never rounded.

    Truncation is what meters do, and it keeps ``int(Decimal(text) * 1000)`` a lower bound of the
    register that is exact to the shown resolution.
    """
    if energy_wh < 0:
        raise ValueError(f"energy must be non-negative: {energy_wh}")
    if not 0 <= decimals <= 3:
        raise ValueError(f"decimals must be 0..3: {decimals}")
    kwh, frac = divmod(energy_wh, 1000)
    integer = f"{kwh % 10 ** digits:0{digits}d}"  # the glass rolls over like the register does
    return f"{integer}.{frac:03d}"[: digits + 1 + decimals] if decimals else integer


@dataclass(frozen=True)
class Autoscroll:
    """The display's cycle through T1 → T2 → T3 → total, ``dwell_s`` seconds on each register."""

    registers: dict[str, int]   # tariff (one of TARIFFS) -> Wh
    digits: int = 6
    decimals: int = 2
    dwell_s: float = 5.0

    def frame(self, seconds: float) -> tuple[str, str]:
        """The tariff and the text on the glass ``seconds`` after the cycle started."""
        shown = [t for t in TARIFFS if t in self.registers]
        if not shown:
            raise ValueError("autoscroll needs at least one register")
        tariff = shown[int(seconds // self.dwell_s) % len(shown)]
        return tariff, display_text(self.registers[tariff], self.digits, self.decimals)
