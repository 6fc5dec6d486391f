"""Export a PyTorch ``nn.Sequential`` of convolutions to the ``.npz`` that ``ocr.convnet`` runs.

Used by the training scripts only (PyTorch is not needed to read a photo). Batch norm is
folded into the convolution before it; each convolution's max pooling (the ``MaxPool2d``
before the next convolution, if any) is recorded beside its weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def export(net, path: Path) -> None:
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
    np.savez_compressed(path, **weights)
