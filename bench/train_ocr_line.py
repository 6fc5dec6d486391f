"""Train the line recognizer shipped in ``ocr/models/line.npz`` from rendered photos.

    pip install -e '.[train]'                  # PyTorch, for training only
    python bench/train_ocr_line.py data  --photos 24000 --workers 2 --out /tmp/line-data.npz
    python bench/train_ocr_line.py train --data /tmp/line-data.npz [--epochs 14]

Reproducible: photos come from ``firmware_sim.lcd`` with a fixed seed (``TRAIN_SEED``, never
used by the evaluation sets). Half are in the styles the reader was tuned on (half of those
with one more among them: a tuning style with its proportions and glyph forms varied); the
other half in a style drawn at random from the ranges real glass spans (``random_style``:
digit proportions, stroke weight, spacing, slant, smaller or boxed decimals, round or square
point, glyph forms), never one close to a held-out style. A third of the photos are under
mild conditions and two thirds under harsh ones, a third of them crops. The held-out styles
are never used.

Each photo goes through ``ocr.locate.digit_rows`` as the reader does, and each row is cut
again ``ocr.line.LINE_EXTRA`` digit heights wider (``ocr.locate.widened``), so the network
learns rows as the reader gives them: a row that holds the labelled reading field is a
positive example, a row far from it (a label, the brand, a QR code) an example of "no
reading" (empty text), and a row cut from the labelled field itself with its edges jittered
one more positive, for rows the finder places a little off. Crops are read whole.

Training uses PyTorch's CTC loss on CPU with a fixed seed; the weights are exported by
``bench/ocr_training.py`` for the numpy forward pass in ``ocr.convnet``.
Prints a JSON summary with the held-back row accuracy.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware_sim.lcd import (HARSH, HELD_OUT_STYLES, MILD, STYLES, TUNING_STYLES,  # noqa: E402
                              LcdStyle, Sample, make_sample)
from ocr.line import (ALPHABET, LINE_CHANNELS, LINE_EXTRA, LINE_H, LINE_W, MODEL_PATH,  # noqa: E402
                      decode, line_input)
from ocr.locate import (ROW_BASE, ROW_HEIGHT, ROW_SIDE, ROW_TOP, DigitRow, digit_rows,  # noqa: E402
                        row_surroundings, widened)
from ocr.photo_file import load_photo  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocr_training import export, fit, gather, run, seeded_data  # noqa: E402
from train_ocr_digits import varied_style  # noqa: E402

TRAIN_SEED = 90_017
MAX_TEXT = 16


def _inside(quad: np.ndarray, point: np.ndarray, margin: float) -> bool:
    contour = quad.reshape(-1, 1, 2).astype(np.float32)
    return cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), True) >= -margin


def field_row(bgr: np.ndarray, field: np.ndarray, rng: np.random.Generator,
              extra: tuple[float, float] | None = None) -> DigitRow:
    """The row the finder would cut around the labelled field, edges jittered, with a further
    ``extra`` digit heights (drawn from that range) each side: the line reader's wider cut."""
    tl, tr, br, bl = field
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    digit = height / 1.16
    row_h = digit / (ROW_BASE - ROW_TOP)
    side = ROW_SIDE * digit * rng.uniform(0.6, 1.3, 2)
    if extra is not None:
        side += digit * rng.uniform(*extra, 2)
    top = (row_h - height) / 2 + rng.uniform(-0.08, 0.08) * row_h
    bottom = (row_h - height) / 2 + rng.uniform(-0.08, 0.08) * row_h
    unit = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    to_photo = cv2.getPerspectiveTransform(unit, field.astype(np.float32))
    grown = np.array([[-side[0], -top], [width + side[1], -top],
                      [width + side[1], height + bottom], [-side[0], height + bottom]], np.float32)
    grown += rng.normal(0, 0.03 * digit, grown.shape).astype(np.float32)
    quad = cv2.perspectiveTransform(grown[None], to_photo)[0]
    out_w = max(8, int(round(ROW_HEIGHT * (width + side.sum()) / (height + top + bottom))))
    dest = np.array([[0, 0], [out_w, 0], [out_w, ROW_HEIGHT], [0, ROW_HEIGHT]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad, dest)
    image = cv2.warpPerspective(bgr, matrix, (out_w, ROW_HEIGHT), flags=cv2.INTER_AREA,
                                borderMode=cv2.BORDER_REPLICATE)
    return DigitRow(image, quad, float(digit), 0.0, 1.0)


def matched_rows(bgr: np.ndarray, field: np.ndarray, extra: float = 0.0
                 ) -> tuple[list[DigitRow], list[DigitRow]]:
    """The rows ``digit_rows`` finds that hold the labelled field (once widened by ``extra``
    digit heights each side), and those far from it (rows that overlap it only in part are
    neither)."""
    centre = field.mean(axis=0)
    digit = np.linalg.norm(field[3] - field[0]) / 1.16
    holding, apart = [], []
    for row in digit_rows(bgr):
        quad = row_surroundings(row, above=0.0, below=0.0, left=extra, right=extra)
        if 0.75 < row.digit_height / digit < 1.33 and \
                all(_inside(quad, corner, 0.25 * digit) for corner in field):
            holding.append(row)
        elif not _inside(quad, centre, 1.5 * digit) and \
                not any(_inside(field, corner, 0.5 * digit) for corner in quad):
            apart.append(row)
    return holding, apart


# What real glass spans (lengths in digit heights): each drawn uniformly from its range.
_RANGES = {"digit_aspect": (0.4, 0.62), "thickness": (0.075, 0.17), "gap": (0.01, 0.028),
           "spacing": (0.28, 0.65), "slant_deg": (3.0, 14.0), "decimal_scale": (0.6, 0.95)}
_TUNING_FONTS = tuple(sorted({STYLES[name].mark_font for name in TUNING_STYLES}))


def _too_close(style: LcdStyle) -> bool:
    """Whether a drawn style is near a held-out one: the same decimals and point, and within a
    tenth of each range of its proportions, weight, spacing and slant."""
    for name in HELD_OUT_STYLES:
        held = STYLES[name]
        if (style.decimals_boxed, style.round_point) != (held.decimals_boxed, held.round_point):
            continue
        if all(abs(getattr(style, key) - getattr(held, key)) < 0.1 * (hi - lo)
               for key, (lo, hi) in _RANGES.items() if key != "decimal_scale"):
            return True
    return False


def random_style(index: int) -> LcdStyle:
    """A style drawn from ``_RANGES`` for training photo ``index``, with its marks in the
    tuning styles' fonts; drawn again while it is close to a held-out style."""
    rng = np.random.default_rng([TRAIN_SEED, index, 7])
    while True:
        value = {key: float(rng.uniform(lo, hi)) for key, (lo, hi) in _RANGES.items()}
        style = LcdStyle(
            f"random-{index}", digit_aspect=value["digit_aspect"], thickness=value["thickness"],
            gap=value["gap"], spacing=value["spacing"],
            slant_deg=value["slant_deg"] if rng.random() < 0.5 else 0.0,
            bevel=bool(rng.random() < 0.5),
            decimal_scale=value["decimal_scale"] if rng.random() < 0.6 else 1.0,
            decimals_boxed=bool(rng.random() < 0.3), round_point=bool(rng.random() < 0.5),
            mark_position="above" if rng.random() < 0.5 else "left",
            mark_font=int(_TUNING_FONTS[int(rng.integers(len(_TUNING_FONTS)))]),
            unit_position="right" if rng.random() < 0.6 else "below",
            tails=bool(rng.random() < 0.6), seven_with_f=bool(rng.random() < 0.3),
            point_ghosts=bool(rng.random() < 0.8))
        if not _too_close(style):
            return style


def line_sample(index: int) -> Sample:
    """Line training photo ``index``: even ones in the tuning styles (every other one of them
    with a ``varied_style`` among them), odd ones in a ``random_style``; two in three under
    harsh conditions, one in three a crop."""
    conditions = MILD if index % 3 == 0 else HARSH
    if index % 2 == 0:
        styles: list[str | LcdStyle] = list(TUNING_STYLES)
        if index % 4 == 2:
            styles = [STYLES[name] for name in TUNING_STYLES] + [varied_style(index)]
    else:
        styles = [random_style(index)]
    return make_sample(TRAIN_SEED, index, conditions, styles=styles, crop=index % 3 == 1,
                       qr_chance=0.2)


def rows_of(index: int) -> list[tuple[np.ndarray, str]]:
    """Network inputs and their texts from training photo ``index``: rows cut as the reader
    cuts them (``LINE_EXTRA`` wider than the finder's), one cut from the labelled field with
    its sides drawn around that width."""
    sample = line_sample(index)
    bgr = load_photo(sample.encoded)
    if sample.field_quad is None:
        return [(line_input(bgr), sample.text)]
    rng = np.random.default_rng([TRAIN_SEED, index, 2])
    field = np.array(sample.field_quad, np.float32)
    reach = (0.3 * LINE_EXTRA, 1.4 * LINE_EXTRA)
    out = [(line_input(field_row(bgr, field, rng, reach).image), sample.text)]
    holding, apart = matched_rows(bgr, field, LINE_EXTRA)
    out += [(line_input(image), sample.text) for image in widened(bgr, holding, LINE_EXTRA)]
    out += [(line_input(image), "") for image in widened(bgr, apart, LINE_EXTRA)
            if rng.random() < 0.5]
    return out


def make_data(photos: int, workers: int, out: Path) -> None:
    started = time.perf_counter()
    inputs, texts = gather(rows_of, photos, workers)
    np.savez_compressed(out, x=inputs, text=np.array(texts))
    print(json.dumps({"photos": photos, "rows": len(texts),
                      "empty": sum(1 for t in texts if not t),
                      "seconds": round(time.perf_counter() - started, 1), "out": str(out)}))


def _network():
    """Four 3 × 3 blocks bring the row to one column per 4 pixels, then dilated convolutions
    along the row (each column seeing about the whole row: a box edge or a bezel at one end
    tells a 1 from an edge, a digit's neighbours tell its size) before each column's class."""
    import torch.nn as nn

    def block(cin: int, cout: int, kernel: tuple[int, int], pool: tuple[int, int] | None,
              dilation: int = 1):
        pad = (kernel[0] // 2, dilation * (kernel[1] // 2))
        layers = [nn.Conv2d(cin, cout, kernel, padding=pad, dilation=(1, dilation), bias=False),
                  nn.BatchNorm2d(cout), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d(pool))
        return layers

    classes = 1 + len(ALPHABET)
    return nn.Sequential(
        *block(LINE_CHANNELS, 16, (3, 3), (2, 2)),    # 16 × 128
        *block(16, 32, (3, 3), (2, 2)),               # 8 × 64
        *block(32, 64, (3, 3), None),
        *block(64, 64, (3, 3), (2, 1)),               # 4 × 64
        nn.Conv2d(64, 128, (LINE_H // 8, 3), padding=(0, 1), bias=False),   # 1 × 64
        nn.BatchNorm2d(128), nn.ReLU(),
        *block(128, 128, (1, 3), None, dilation=2),
        *block(128, 128, (1, 3), None, dilation=4),
        *block(128, 128, (1, 3), None, dilation=8),
        nn.Conv2d(128, classes, (1, 1)),
    )


def _augment(batch, generator):
    """Contrast, offset, horizontal scale and noise: what other photos do to a row."""
    import torch
    import torch.nn.functional as F

    n = batch.shape[0]
    gain = torch.empty(n, LINE_CHANNELS, 1, 1).uniform_(0.6, 1.4, generator=generator)
    offset = torch.empty(n, 1, 1, 1).uniform_(-0.2, 0.2, generator=generator)
    x = batch * gain
    x[:, :1] += offset         # the glass level moves in the grey channel only
    stretch = float(torch.empty(1).uniform_(0.7, 1.35, generator=generator))
    width = int(LINE_W * stretch)
    x = F.interpolate(x, size=(LINE_H, width), mode="bilinear", align_corners=False)
    if width >= LINE_W:
        x = x[..., :LINE_W]
    else:
        x = F.pad(x, (0, LINE_W - width))
    x = x + 0.08 * torch.randn(x.shape, generator=generator)
    return x


def train(data: Path, epochs: int, out: Path) -> None:
    import torch
    import torch.nn.functional as F

    generator, x, arrays = seeded_data(data, TRAIN_SEED)
    texts = [str(t) for t in arrays["text"]]
    targets = [torch.tensor([ALPHABET.index(c) + 1 for c in t], dtype=torch.long) for t in texts]
    n = len(texts)
    order = torch.randperm(n, generator=generator)
    held = order[: min(max(200, n // 20), n // 5)]
    train_idx = order[len(held):]
    net = _network()

    def loss_of(idx):
        logp = F.log_softmax(net(_augment(x[idx], generator))[:, :, 0, :], dim=1).permute(2, 0, 1)
        tb = [targets[i] for i in idx.tolist()]                  # logp: T, N, C
        lengths = torch.tensor([len(t) for t in tb], dtype=torch.long)
        flat = torch.cat(tb) if int(lengths.sum()) else torch.zeros(0, dtype=torch.long)
        return F.ctc_loss(logp, flat, torch.full((len(idx),), logp.shape[0], dtype=torch.long),
                          lengths, blank=0, zero_infinity=True)

    accuracy = fit(net, train_idx, epochs=epochs, batch=64, loss_of=loss_of, generator=generator,
                   evaluate=lambda: _accuracy(net, x[held], [texts[i] for i in held.tolist()]))
    net.eval()
    export(net, out)
    print(json.dumps({"rows": n, "held_back": len(held), "held_back_exact": round(accuracy, 4),
                      "model": str(out)}))


def _accuracy(net, x, texts: list[str]) -> float:
    import torch

    net.eval()
    with torch.no_grad():
        probs = torch.softmax(net(x)[:, :, 0, :], dim=1).permute(0, 2, 1).numpy()
    return sum(decode(p).text == t for p, t in zip(probs, texts)) / len(texts)


def main() -> None:
    run(__doc__.splitlines()[0], make_data=make_data, train=train, photos=24000,
        data=Path("/tmp/line-data.npz"), epochs=14, model=MODEL_PATH)


if __name__ == "__main__":
    main()
