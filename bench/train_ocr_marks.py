"""Train the tariff-mark network shipped in ``ocr/models/marks.npz`` from rendered photos.

    pip install -e '.[train]'                  # PyTorch, for training only
    python bench/train_ocr_marks.py data  --photos 8000 --workers 2 --out /tmp/mark-data.npz
    python bench/train_ocr_marks.py train --data /tmp/mark-data.npz [--epochs 14]

The photos (``training_sample``) have a fixed seed, tuning styles only (every other one with
a varied one among them), mild and harsh; crops are left out: they show no mark. For each
row ``digit_rows`` finds around the labelled field, the window ``ocr.marks.mark_window``
cuts at the row's start is an example of its tariff, as is the window of the row cut from
the labelled field with its edges jittered and one more with the row's corners nudged (the
finder's error in where a row starts). Windows of rows far from the field, and windows
moved right over the digits, are examples of "no mark". Training is a seeded PyTorch run
on CPU (cross-entropy, AdamW); the export is ``bench/ocr_training.py``'s. Prints JSON with
the held-back accuracy.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ocr.locate import ROW_BASE, ROW_TOP, DigitRow  # noqa: E402
from ocr.marks import MARK_CLASSES, MARK_H, MARK_W, MODEL_PATH, mark_window  # noqa: E402
from ocr.photo_file import load_photo  # noqa: E402
from ocr_training import export, fit, gather, run, seeded_data  # noqa: E402
from firmware_sim.lcd import (HARSH, MILD, STYLES, TUNING_STYLES, LcdStyle, Sample,  # noqa: E402
                              make_sample)
from train_ocr_digits import varied_style  # noqa: E402
from train_ocr_line import TRAIN_SEED, field_row, matched_rows  # noqa: E402


def training_sample(index: int) -> Sample:
    """Training photo ``index``: mild or harsh, tuning styles (with a varied one among them
    for odd indices), one in four of them a crop."""
    conditions = MILD if index % 2 == 0 else HARSH
    styles: list[str | LcdStyle] = list(TUNING_STYLES)
    if index % 2:
        styles = [STYLES[name] for name in TUNING_STYLES] + [varied_style(index)]
    return make_sample(TRAIN_SEED, index, conditions, styles=styles, crop=index % 4 == 0,
                       qr_chance=0.2)


def _moved(row: DigitRow, rng: np.random.Generator, *, along: float = 0.0,
           nudge: float = 0.15) -> DigitRow:
    """The row with its corners nudged by ``nudge`` digit heights and shifted ``along`` digit
    heights to the right in the row's own direction."""
    digit = (ROW_BASE - ROW_TOP) * row.image.shape[0]
    scale = row.digit_height / digit           # photo pixels per row-image pixel
    direction = row.quad[1] - row.quad[0]
    direction = direction / max(float(np.linalg.norm(direction)), 1e-6)
    quad = row.quad + direction * along * row.digit_height
    quad = quad + rng.normal(0.0, nudge * digit * scale, quad.shape)
    return DigitRow(row.image, quad.astype(np.float32), row.digit_height, row.slant, row.score)


def windows_of(index: int) -> list[tuple[np.ndarray, int]]:
    """Mark windows and their classes from training photo ``index``."""
    sample = training_sample(index)
    if sample.field_quad is None:
        return []
    bgr = load_photo(sample.encoded)
    rng = np.random.default_rng([TRAIN_SEED, index, 3])
    label = MARK_CLASSES.index(sample.tariff) if sample.tariff else 0
    field = np.array(sample.field_quad, np.float32)
    holding, apart = matched_rows(bgr, field)
    rows = [field_row(bgr, field, rng), *holding]
    out = [(mark_window(bgr, row), label) for row in rows]
    out += [(mark_window(bgr, _moved(row, rng)), label) for row in rows[:2]]
    out.append((mark_window(bgr, _moved(rows[0], rng, along=rng.uniform(3.0, 5.0))), 0))
    out += [(mark_window(bgr, row), 0) for row in apart if rng.random() < 0.3]
    return out


def make_data(photos: int, workers: int, out: Path) -> None:
    started = time.perf_counter()
    inputs, labels = gather(windows_of, photos, workers)
    np.savez_compressed(out, x=inputs, y=np.array(labels, np.int64))
    print(json.dumps({"photos": photos, "windows": len(labels),
                      "per_class": {c: labels.count(i) for i, c in enumerate(MARK_CLASSES)},
                      "seconds": round(time.perf_counter() - started, 1), "out": str(out)}))


def _network():
    import torch.nn as nn

    def block(cin: int, cout: int, pool: bool):
        layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        return layers + [nn.MaxPool2d(2)] if pool else layers

    return nn.Sequential(*block(1, 16, True), *block(16, 32, True), *block(32, 48, True),
                         *block(48, 64, False), nn.Conv2d(64, len(MARK_CLASSES), 1))


def train(data: Path, epochs: int, out: Path) -> None:
    import torch
    import torch.nn.functional as F

    generator, x, arrays = seeded_data(data, TRAIN_SEED)
    y = torch.from_numpy(arrays["y"])
    n = len(y)
    order = torch.randperm(n, generator=generator)
    held, train_idx = order[: n // 20], order[n // 20:]
    net = _network()

    def loss_of(idx):
        gain = torch.empty(len(idx), 1, 1, 1).uniform_(0.6, 1.4, generator=generator)
        xb = x[idx] * gain + 0.08 * torch.randn(x[idx].shape, generator=generator)
        return F.cross_entropy(net(xb).mean(dim=(2, 3)), y[idx])

    def evaluate() -> float:
        with torch.no_grad():
            return float((net(x[held]).mean(dim=(2, 3)).argmax(1) == y[held]).float().mean())

    accuracy = fit(net, train_idx, epochs=epochs, batch=128, loss_of=loss_of, evaluate=evaluate,
                   generator=generator)
    export(net, out)
    print(json.dumps({"windows": n, "held_back": len(held), "held_back_accuracy": round(accuracy, 4),
                      "input": [MARK_H, MARK_W], "model": str(out)}))


def main() -> None:
    run(__doc__.splitlines()[0], make_data=make_data, train=train, photos=8000,
        data=Path("/tmp/mark-data.npz"), epochs=14, model=MODEL_PATH)


if __name__ == "__main__":
    main()
