"""Train the digit model shipped in ``ocr/models/digits.npz`` from rendered photos.

    python bench/train_ocr_digits.py [--samples 3000] [--workers 2]

Reproducible: the photos come from ``firmware_sim.lcd`` with a fixed seed (``TRAIN_SEED``,
never used by the evaluation sets), only the styles the reader was tuned on
(``TUNING_STYLES``), half of them under mild and half under harsh conditions, a third of
them crops. Each photo goes through the reader's own pipeline up to the digit cells, so the
model learns cells as the reader cuts them; a photo whose cell count differs from its label
is left out. The network is a numpy MLP (standardise, 96 ReLU units, softmax over ten digits)
trained with Adam from a seeded start. Prints a JSON summary with the held-back accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.errors import ReadError  # noqa: E402
from firmware_sim.lcd import HARSH, MILD, TUNING_STYLES, make_sample  # noqa: E402
from ocr.digits import MODEL_PATH, PATCH_H, PATCH_W, DigitModel, cell_features  # noqa: E402
from ocr.field import WORK_HEIGHT, layout_field  # noqa: E402
from ocr.locate import rectify  # noqa: E402
from ocr.photo_file import load_photo  # noqa: E402
from ocr.reader import regions_to_try  # noqa: E402
from ocr.segments import segment_reads  # noqa: E402

TRAIN_SEED = 90_001
HIDDEN = 96


def cells_of(index: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every digit cell in training photo ``index``."""
    conditions = MILD if index % 2 == 0 else HARSH
    sample = make_sample(TRAIN_SEED, index, conditions, styles=TUNING_STYLES, crop=index % 3 == 0,
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
        features = cell_features(layout.band, layout.cells, reads, threshold)
        return features, np.array([int(d) for d in digits], np.int64)
    return np.zeros((0, PATCH_W * PATCH_H + 1), np.float32), np.zeros(0, np.int64)


def train(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, epochs: int = 40,
          batch: int = 256, rate: float = 2e-3, decay: float = 1e-4) -> dict[str, np.ndarray]:
    """Adam on softmax cross-entropy, weights initialised from ``rng``."""
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
        lr = rate * (0.5 ** (epoch // 15))
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            xb, yb = xs[idx], y[idx]
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
    x = np.concatenate([f for f, _ in parts])
    y = np.concatenate([labels for _, labels in parts])
    used = sum(1 for _, labels in parts if len(labels))
    rng = np.random.default_rng(TRAIN_SEED)
    order = rng.permutation(len(y))
    held = order[: len(y) // 10]
    fit = order[len(y) // 10:]
    weights = train(x[fit], y[fit], rng)
    model = DigitModel(weights)
    held_acc = float((model.predict(x[held]).argmax(axis=1) == y[held]).mean())
    fit_acc = float((model.predict(x[fit]).argmax(axis=1) == y[fit]).mean())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **weights)
    print(json.dumps({
        "photos": args.samples, "photos_used": used, "cells": int(len(y)),
        "train_accuracy": round(fit_acc, 4), "held_back_accuracy": round(held_acc, 4),
        "model": str(args.out), "bytes": args.out.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
