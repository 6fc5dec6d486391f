"""The forward pass of the small convolutional networks the reader ships, in numpy.

The networks are trained with PyTorch by the scripts in ``bench/`` and exported as ``.npz``
files of plain arrays (``w0``, ``b0``, ``pool0``, ``w1``, …) with batch norm folded into the
convolutions, so reading a photo needs neither a framework nor a download. Every
convolution is 'same'-padded along the width; one as high as its input collapses the height.
Each is followed by a ReLU except the last, and by max pooling where ``pool`` is not 1 × 1;
``dil0``, … give a convolution's dilation (1 × 1 where absent): dilated convolutions along a
row let a few layers see the whole row.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np


class ConvNet:
    """A stack of convolutions loaded from an exported ``.npz``."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self._layers: list[tuple[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]]] = []
        index = 0
        while f"w{index}" in weights:
            w = weights[f"w{index}"].astype(np.float32)      # out × in × kh × kw, as PyTorch has it
            # Channels-last: kh × kw × in × out, one in × out matrix per kernel offset.
            self._layers.append((np.ascontiguousarray(w.transpose(2, 3, 1, 0)),
                                 weights[f"b{index}"].astype(np.float32),
                                 _pair(weights[f"pool{index}"]),
                                 _pair(weights.get(f"dil{index}", np.array([1, 1])))))
            index += 1
        if not self._layers:
            raise ValueError("no layers in the network's weights")

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """``N × H × W`` (one channel) or ``N × H × W × C`` inputs → ``N × classes × H' × W'``
        outputs of the last convolution.

        Runs channels-last, with no transposes between layers."""
        x = (batch[..., None] if batch.ndim == 3 else batch).astype(np.float32)
        last = len(self._layers) - 1
        for i, (w, b, pool, dilation) in enumerate(self._layers):
            x = _conv(x, w, b, dilation)
            if pool != (1, 1):
                x = _max_pool(x, pool)
            if i < last:
                # After the pooling, on a quarter of the values: max and ReLU commute.
                np.maximum(x, 0.0, out=x)
        return x.transpose(0, 3, 1, 2)


def softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


@lru_cache(maxsize=4)
def load(path: Path) -> ConvNet:
    with np.load(path) as data:
        return ConvNet({k: data[k] for k in data.files})


def _pair(values: np.ndarray) -> tuple[int, int]:
    return int(values[0]), int(values[1])


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, dilation: tuple[int, int]) -> np.ndarray:
    """``N × H × W × C`` → ``N × H' × W' × out`` with ``w`` as ``kh × kw × C × out``: 'same'
    along the width, and along the height unless the kernel is as high as the input (then
    one row).

    One matrix product per kernel offset, of the shifted input with that offset's weights,
    summed: no window matrix is laid out (copying the windows cost more than the products,
    most of all for the first layer's two channels; the line network runs about 20 % faster)."""
    n, h, _, _ = x.shape
    kh, kw, _, out_c = w.shape
    dh, dw = dilation
    ph = 0 if kh == h else dh * (kh // 2)
    pw = dw * (kw // 2)
    padded = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    oh, ow = padded.shape[1] - dh * (kh - 1), padded.shape[2] - dw * (kw - 1)
    out = np.broadcast_to(b, (n, oh, ow, out_c)).copy()
    for i in range(kh):
        for j in range(kw):
            out += padded[:, i * dh:i * dh + oh, j * dw:j * dw + ow, :] @ w[i, j]
    return out


def _max_pool(x: np.ndarray, pool: tuple[int, int]) -> np.ndarray:
    """Max over each ``pool`` block, as the elementwise maximum of its strided views (several
    times faster than a reduction over reshaped axes)."""
    _, h, w, _ = x.shape
    ph, pw = pool
    x = x[:, :h - h % ph, :w - w % pw]
    out = x[:, 0::ph, 0::pw]
    for i in range(ph):
        for j in range(pw):
            if i or j:
                out = np.maximum(out, x[:, i::ph, j::pw])
    return np.ascontiguousarray(out)
