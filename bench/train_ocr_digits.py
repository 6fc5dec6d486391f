"""Train the digit model shipped in ``ocr/models/digits.npz`` from rendered photos.

    python bench/train_ocr_digits.py [--samples 3000] [--workers 2]

Reproducible: the photos come from ``firmware_sim.lcd`` with a fixed seed (``TRAIN_SEED``,
never used by the evaluation sets), in the styles the reader was tuned on (``TUNING_STYLES``)
and, for every other photo, one of them with its proportions varied and its glyph forms (6,
7, 9) drawn at random; half under mild and half under harsh conditions, a third of them
crops. The held-out styles are never used. Each photo goes through the reader's own pipeline up to the digit cells, so the
model learns cells as the reader cuts them; a photo whose cell count differs from its label
is left out; every cell is also taken twice more with its box nudged. The network is a numpy
MLP (standardise, 64 ReLU units, softmax over ten digits) trained with Adam and input noise
from a seeded start. Prints a JSON summary with the held-back accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.errors import ReadError  # noqa: E402
from firmware_sim.lcd import HARSH, MILD, STYLES, TUNING_STYLES, LcdStyle, make_sample  # noqa: E402
from ocr.digits import MODEL_PATH, PATCH_H, PATCH_W, DigitModel, cell_features  # noqa: E402
from ocr.field import WORK_HEIGHT, Cell, layout_field  # noqa: E402
from ocr.locate import rectify  # noqa: E402
from ocr.photo_file import load_photo  # noqa: E402
from ocr.reader import regions_to_try  # noqa: E402
from ocr.segments import segment_reads  # noqa: E402

TRAIN_SEED = 90_001
HIDDEN = 64
JITTERS = 2


def _nudged(cell: Cell, rng: np.random.Generator) -> Cell:
    w, h = cell.x1 - cell.x0, cell.base - cell.top
    dx0, dx1 = rng.uniform(-0.1, 0.1, 2) * w
    dt, db = rng.uniform(-0.06, 0.06, 2) * h
    return Cell(cell.x0 + dx0, cell.x1 + dx1, cell.top + dt, cell.base + db)


def varied_style(index: int) -> LcdStyle:
    """A tuning style with its proportions varied and glyph forms drawn at random: the model
    should know a digit by its segments, not by one glass's proportions or one form of 7."""
    rng = np.random.default_rng([TRAIN_SEED, index, 1])
    base = STYLES[TUNING_STYLES[int(rng.integers(len(TUNING_STYLES)))]]
    return replace(base, name=f"{base.name}-varied",
                   thickness=base.thickness * rng.uniform(0.8, 1.3),
                   digit_aspect=base.digit_aspect * rng.uniform(0.88, 1.12),
                   gap=base.gap * rng.uniform(0.7, 1.3),
                   slant_deg=max(0.0, base.slant_deg + rng.uniform(-4.0, 4.0)),
                   tails=bool(rng.random() < 0.5), seven_with_f=bool(rng.random() < 0.5))


def cells_of(index: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every digit cell in training photo ``index``."""
    conditions = MILD if index % 2 == 0 else HARSH
    styles = [*TUNING_STYLES, varied_style(index)] if index % 2 else list(TUNING_STYLES)
    sample = make_sample(TRAIN_SEED, index, conditions, styles=styles, crop=index % 3 == 0,
                         qr_chance=0.2)
    digits = sample.text.replace(".", "")
    bgr = load_photo(sample.encoded)
    for quad, is_whole in regions_to_try(bgr):
        image = bgr if is_whole else rectify(bgr, quad, 2 * WORK_HEIGHT, inset=-0.02)
        try:
            layout = layout_field(image, edge_margin=0.0 if is_whole else 0.5, crop=is_whole)
        except ReadError:
            continue
        if len(layout.cells) != len(digits):
            continue
        reads, threshold = segment_reads(layout.band, layout.cells)
        if any(r.char == "?" for r in reads):
            continue
        labels = np.array([int(d) for d in digits], np.int64)
        # Each cell also with its box nudged, as the reader places cells on glass of other
        # proportions: the model must not depend on where exactly the cell edges fall.
        rng = np.random.default_rng([TRAIN_SEED, index])
        variants = [layout.cells]
        for _ in range(JITTERS):
            variants.append(tuple(_nudged(c, rng) for c in layout.cells))
        features = np.concatenate([cell_features(layout.band, cells, reads, threshold)
                                   for cells in variants])
        return features, np.tile(labels, len(variants))
    return np.zeros((0, PATCH_W * PATCH_H + 1), np.float32), np.zeros(0, np.int64)


def train(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, epochs: int = 30,
          batch: int = 256, rate: float = 2e-3, decay: float = 5e-4,
          noise: float = 0.3) -> dict[str, np.ndarray]:
    """Adam on softmax cross-entropy, weights initialised from ``rng``; Gaussian noise on the
    standardised inputs keeps the model from leaning on single pixels of the training glass."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-3
    xs = (x - mean) / scale
    n, d = xs.shape
    params = {
        "w1": rng.normal(0, np.sqrt(2.0 / d), (d, HIDDEN)).astype(np.float32),
        "b1": np.zeros(HIDDEN, np.float32),
        "w2": rng.normal(0, np.sqrt(1.0 / HIDDEN), (HIDDEN, 10)).astype(np.float32),
        "b2": np.zeros(10, np.float32),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(n)
        lr = rate * (0.5 ** (epoch // 10))
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            xb = xs[idx] + rng.normal(0.0, noise, (len(idx), d)).astype(np.float32)
            yb = y[idx]
            hidden_in = xb @ params["w1"] + params["b1"]
            hidden = np.maximum(0.0, hidden_in)
            z = hidden @ params["w2"] + params["b2"]
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1.0
            dz = p / len(yb)
            grads = {"w2": hidden.T @ dz + decay * params["w2"], "b2": dz.sum(axis=0)}
            dh = (dz @ params["w2"].T) * (hidden_in > 0)
            grads["w1"] = xb.T @ dh + decay * params["w1"]
            grads["b1"] = dh.sum(axis=0)
            step += 1
            for k, g in grads.items():
                m, v = moments[k]
                m[:] = 0.9 * m + 0.1 * g
                v[:] = 0.999 * v + 0.001 * g * g
                m_hat = m / (1 - 0.9 ** step)
                v_hat = v / (1 - 0.999 ** step)
                params[k] -= (lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)
    return {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32), **params}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000, help="rendered photos to learn from")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        parts = list(pool.map(cells_of, range(args.samples), chunksize=16))
    used = sum(1 for _, labels in parts if len(labels))
    # Every tenth photo is held back whole, so no nudged copy of a held cell is trained on.
    x_fit = np.concatenate([f for i, (f, _) in enumerate(parts) if i % 10])
    y_fit = np.concatenate([lab for i, (_, lab) in enumerate(parts) if i % 10])
    x_held = np.concatenate([f for i, (f, _) in enumerate(parts) if i % 10 == 0])
    y_held = np.concatenate([lab for i, (_, lab) in enumerate(parts) if i % 10 == 0])
    rng = np.random.default_rng(TRAIN_SEED)
    weights = train(x_fit, y_fit, rng)
    model = DigitModel(weights)
    held_acc = float((model.predict(x_held).argmax(axis=1) == y_held).mean())
    fit_acc = float((model.predict(x_fit).argmax(axis=1) == y_fit).mean())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **weights)
    print(json.dumps({
        "photos": args.samples, "photos_used": used, "cells": int(len(y_fit) + len(y_held)),
        "train_accuracy": round(fit_acc, 4), "held_back_accuracy": round(held_acc, 4),
        "model": str(args.out), "bytes": args.out.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
