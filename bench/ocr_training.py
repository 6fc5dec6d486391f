"""What the OCR training scripts share: their command line, and the export of a trained
PyTorch ``nn.Sequential`` of convolutions to the ``.npz`` that ``ocr.convnet`` runs.

Used by the training scripts only (PyTorch is not needed to read a photo).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import cv2
import numpy as np


def run(description: str, *, make_data: Callable[[int, int, Path], None],
        train: Callable[[Path, int, Path], None], photos: int, data: Path, epochs: int,
        model: Path) -> None:
    """``SCRIPT data [--photos N --workers N --out F]`` or ``SCRIPT train [--data F --epochs N
    --out F]``, with this script's defaults."""
    parser = argparse.ArgumentParser(description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("data", help="render training photos and cut the network's inputs")
    d.add_argument("--photos", type=int, default=photos)
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--out", type=Path, default=data)
    t = sub.add_parser("train", help="train on what 'data' made and export the model")
    t.add_argument("--data", type=Path, default=data)
    t.add_argument("--epochs", type=int, default=epochs)
    t.add_argument("--out", type=Path, default=model)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.command == "data":
        make_data(args.photos, args.workers, args.out)
    else:
        train(args.data, args.epochs, args.out)


def gather(examples_of: Callable[[int], list[tuple[np.ndarray, object]]], photos: int,
           workers: int) -> tuple[np.ndarray, list[object]]:
    """Every training photo's examples, made in ``workers`` processes (each photo is a pure
    function of its index): the inputs stacked as float16, and their labels."""
    inputs: list[np.ndarray] = []
    labels: list[object] = []
    with ProcessPoolExecutor(workers) as pool:
        for examples in pool.map(examples_of, range(photos), chunksize=16):
            for x, label in examples:
                inputs.append(x.astype(np.float16))
                labels.append(label)
    return np.stack(inputs), labels


def seeded_data(data: Path, seed: int):
    """Seed PyTorch (two threads) and load what ``data`` made: a generator for every random
    draw of the run, the inputs as an ``N × C × H × W`` tensor, and the file's other arrays."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    generator = torch.Generator().manual_seed(seed)
    with np.load(data) as d:
        x = torch.from_numpy(d["x"].astype(np.float32))
        # One channel (N × H × W) or several, stored channels-last as the reader makes them.
        x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
        rest = {k: d[k] for k in d.files if k != "x"}
    return generator, x, rest


def fit(net, train_idx, *, epochs: int, batch: int, loss_of: Callable, evaluate: Callable[[], float],
        generator) -> float:
    """Train ``net`` on the examples ``train_idx`` (a tensor of indices) with AdamW and a
    one-cycle schedule, ``loss_of(indices)`` giving a batch's loss; print one JSON line per
    epoch with ``evaluate()`` on the held-back examples, and return its last value. Every
    random draw comes from ``generator`` or the seeded global generator: runs repeat."""
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * ((len(train_idx) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    started = time.perf_counter()
    score = 0.0
    for epoch in range(epochs):
        net.train()
        perm = train_idx[torch.randperm(len(train_idx), generator=generator)]
        total = 0.0
        for start in range(0, len(perm), batch):
            idx = perm[start:start + batch]
            loss = loss_of(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        net.eval()
        score = evaluate()
        print(json.dumps({"epoch": epoch + 1, "loss": round(total / len(perm), 4),
                          "held_back": round(score, 4),
                          "minutes": round((time.perf_counter() - started) / 60, 1)}), flush=True)
    return score


def export(net, path: Path) -> None:
    """Batch norm folded into the convolution before it; each convolution's max pooling (the
    ``MaxPool2d`` before the next convolution, if any) and dilation recorded beside its weights."""
    import torch.nn as nn

    layers = list(net)
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d)]
    weights: dict[str, np.ndarray] = {}
    for index, at in enumerate(convs):
        conv = layers[at]
        w = conv.weight.detach().numpy().astype(np.float64)
        b = (conv.bias.detach().numpy().astype(np.float64) if conv.bias is not None
             else np.zeros(w.shape[0]))
        following = layers[at + 1:convs[index + 1] if index + 1 < len(convs) else len(layers)]
        pool = (1, 1)
        for layer in following:
            if isinstance(layer, nn.BatchNorm2d):
                scale = layer.weight.detach().numpy() / np.sqrt(layer.running_var.numpy() + layer.eps)
                w = w * scale[:, None, None, None]
                b = (b - layer.running_mean.numpy()) * scale + layer.bias.detach().numpy()
            elif isinstance(layer, nn.MaxPool2d):
                size = layer.kernel_size
                pool = (size, size) if isinstance(size, int) else tuple(size)
        weights[f"w{index}"] = w.astype(np.float32)
        weights[f"b{index}"] = b.astype(np.float32)
        weights[f"pool{index}"] = np.array(pool, np.int64)
        weights[f"dil{index}"] = np.array(conv.dilation, np.int64)
    np.savez_compressed(path, **weights)
