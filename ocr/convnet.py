"""The forward pass of the small convolutional networks the reader ships, in numpy.

The networks are trained with PyTorch by the scripts in ``bench/`` and exported as ``.npz``
files of plain arrays (``w0``, ``b0``, ``pool0``, ``w1``, …) with batch norm folded into the
convolutions, so reading a photo needs neither a framework nor a download. Every
convolution is 'same'-padded along the width; one as high as its input collapses the height.
Each is followed by a ReLU except the last, and by max pooling where ``pool`` is not 1 × 1.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np


class ConvNet:
    """A stack of convolutions loaded from an exported ``.npz``."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self._layers: list[tuple[np.ndarray, np.ndarray, tuple[int, int]]] = []
        index = 0
        while f"w{index}" in weights:
            self._layers.append((weights[f"w{index}"].astype(np.float32),
                                 weights[f"b{index}"].astype(np.float32),
                                 (int(weights[f"pool{index}"][0]), int(weights[f"pool{index}"][1]))))
            index += 1
        if not self._layers:
            raise ValueError("no layers in the network's weights")

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """``N × H × W`` inputs → ``N × classes × H' × W'`` outputs of the last convolution."""
        x = batch[:, None].astype(np.float32)
        last = len(self._layers) - 1
        for i, (w, b, pool) in enumerate(self._layers):
            x = _conv(x, w, b)
            if i < last:
                np.maximum(x, 0.0, out=x)
            if pool != (1, 1):
                x = _max_pool(x, pool)
        return x


def softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


@lru_cache(maxsize=4)
def load(path: Path) -> ConvNet:
    with np.load(path) as data:
        return ConvNet({k: data[k] for k in data.files})


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    n, c, h, width = x.shape
    out_c, _, kh, kw = w.shape
    ph = 0 if kh == h else kh // 2
    pw = kw // 2
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(2, 3))
    oh, ow = windows.shape[2], windows.shape[3]
    # n, c, oh, ow, kh, kw → rows of (c·kh·kw) per output pixel, one matrix product
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
    out = cols @ w.reshape(out_c, -1).T + b
    return out.reshape(n, oh, ow, out_c).transpose(0, 3, 1, 2)


def _max_pool(x: np.ndarray, pool: tuple[int, int]) -> np.ndarray:
    n, c, h, w = x.shape
    ph, pw = pool
    x = x[:, :, :h - h % ph, :w - w % pw]
    return x.reshape(n, c, h // ph, ph, w // pw, pw).max(axis=(3, 5))
