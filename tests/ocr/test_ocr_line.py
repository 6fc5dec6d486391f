"""The line recognizer and the mark network: the numpy forward pass, CTC decoding, the
shipped weights, and each reader alone on real rendered photos."""

from __future__ import annotations

import numpy as np
import pytest

from ocr import read_display
from ocr.convnet import ConvNet
from ocr.line import (ALPHABET, LINE_CHANNELS, LINE_H, LINE_W, MODEL_PATH, decode, line_input,
                      read_lines)
from ocr.marks import MARK_CLASSES, MARK_H, MARK_W
from ocr.marks import MODEL_PATH as MARK_MODEL


def _direct_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A convolution written out pixel by pixel ('same' padding), for one image."""
    c, h, width = x.shape
    out_c, _, kh, kw = w.shape
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros((out_c, h, width), np.float64)
    for o in range(out_c):
        for i in range(h):
            for j in range(width):
                out[o, i, j] = (padded[:, i:i + kh, j:j + kw] * w[o]).sum() + b[o]
    return out


def test_forward_pass_matches_a_convolution_written_out_by_hand():
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(3, 1, 3, 3)).astype(np.float32)
    b0 = rng.normal(size=3).astype(np.float32)
    w1 = rng.normal(size=(2, 3, 1, 5)).astype(np.float32)
    b1 = rng.normal(size=2).astype(np.float32)
    net = ConvNet({"w0": w0, "b0": b0, "pool0": np.array([2, 2]),
                   "w1": w1, "b1": b1, "pool1": np.array([1, 1])})
    x = rng.normal(size=(1, 6, 10)).astype(np.float32)
    hidden = np.maximum(_direct_conv(x[0][None], w0, b0), 0.0)
    pooled = hidden.reshape(3, 3, 2, 5, 2).max(axis=(2, 4))
    expected = _direct_conv(pooled, w1, b1)          # the last layer has no ReLU
    assert np.allclose(net.logits(x)[0], expected, atol=1e-4)


def test_a_dilated_convolution_along_the_row_skips_columns_between_its_taps():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(2, 3, 1, 3)).astype(np.float32)
    b = rng.normal(size=2).astype(np.float32)
    net = ConvNet({"w0": w, "b0": b, "pool0": np.array([1, 1]), "dil0": np.array([1, 4])})
    x = rng.normal(size=(1, 1, 12, 3)).astype(np.float32)       # N × H × W × C, channels last
    padded = np.pad(x[0, 0], ((4, 4), (0, 0)))                   # 'same': 4 columns each side
    expected = np.array([[(padded[j:j + 9:4] * w[o, :, 0, :].T).sum() + b[o] for j in range(12)]
                         for o in range(2)])
    assert np.allclose(net.logits(x)[0, :, 0, :], expected, atol=1e-4)


def test_a_kernel_as_high_as_its_input_collapses_the_height():
    net = ConvNet({"w0": np.ones((1, 1, 4, 1), np.float32), "b0": np.zeros(1, np.float32),
                   "pool0": np.array([1, 1])})
    x = np.arange(4 * 3, dtype=np.float32).reshape(1, 4, 3)
    out = net.logits(x)
    assert out.shape == (1, 1, 1, 3)
    assert out[0, 0, 0].tolist() == x[0].sum(axis=0).tolist()


def _columns(*symbols: str, sure: float = 0.96) -> np.ndarray:
    """Probabilities of one column per symbol ('-' is the blank), each this sure."""
    classes = 1 + len(ALPHABET)
    out = np.full((len(symbols), classes), (1.0 - sure) / (classes - 1), np.float32)
    for t, s in enumerate(symbols):
        out[t, 0 if s == "-" else 1 + ALPHABET.index(s)] = sure
    return out


def test_decoding_merges_repeats_and_needs_a_blank_between_equal_digits():
    assert decode(_columns("-", "0", "0", "-", "0", "1", "1", "-", ".", "5", "-")).text == "001.5"


def _column(**weights: float) -> np.ndarray:
    """One column's probabilities from weights per symbol ('blank' or a character's name)."""
    classes = 1 + len(ALPHABET)
    out = np.full(classes, 0.001, np.float32)
    for name, w in weights.items():
        out[0 if name == "blank" else 1 + ALPHABET.index(name[1:])] = w
    return out / out.sum()


def test_a_digit_nearly_showing_beside_a_character_makes_it_doubtful():
    probs = _columns("-", "4", "-", "-", "7", "-", "-")
    probs[5] = _column(blank=0.5, d8=0.45, d7=0.05)     # an 8 almost appears after the 7
    read = decode(probs)
    assert read.text == "47"
    assert read.confidence[0] == pytest.approx(0.96)
    assert read.confidence[1] == pytest.approx(probs[5, 0] + probs[5, 1 + ALPHABET.index("7")])


def test_where_a_character_starts_or_ends_is_no_doubt():
    probs = _columns("-", "4", "-", "-", "7", "-", "-")
    probs[2] = _column(blank=0.5, d4=0.48)              # the 4's last column, half blank
    probs[3] = _column(blank=0.45, d7=0.53)             # the 7's first column, half blank
    read = decode(probs)
    assert read.text == "47"
    assert min(read.confidence) > 0.9


def test_nothing_but_blanks_reads_as_nothing():
    read = decode(_columns("-", "-", "-"))
    assert (read.text, read.confidence) == ("", ())


def test_line_input_has_the_networks_size_for_any_row():
    rng = np.random.default_rng(0)
    for shape in ((48, 120, 3), (48, 900, 3), (31, 200, 3)):
        x = line_input(rng.integers(0, 255, shape, dtype=np.uint8))
        assert x.shape == (LINE_H, LINE_W, LINE_CHANNELS) and x.dtype == np.float32


def test_shipped_networks_are_plain_arrays_of_the_expected_shapes():
    for path, classes in ((MODEL_PATH, 1 + len(ALPHABET)), (MARK_MODEL, len(MARK_CLASSES))):
        with np.load(path, allow_pickle=False) as data:
            last = max(int(k[1:]) for k in data.files if k.startswith("w"))
            assert data[f"w{last}"].shape[0] == classes
    with np.load(MARK_MODEL) as data:
        net = ConvNet({k: data[k] for k in data.files})
    assert net.logits(np.zeros((1, MARK_H, MARK_W), np.float32)).shape[1] == len(MARK_CLASSES)


def test_a_blank_row_reads_as_nothing_sure():
    grey = np.full((48, 300, 3), 180, np.uint8)
    read = read_lines([grey])[0]
    assert read.text == "" or min(read.confidence) < 0.5


@pytest.mark.parametrize("method", ["line", "cells"])
@pytest.mark.parametrize("style", ["classic", "boxed", "narrow-boxed", "slanted-small"])
def test_each_reader_alone_reads_a_clear_photo(photo_file, method, style):
    path, sample = photo_file(style, 2)
    read = read_display(path, method=method)
    assert (read.text, read.tariff) == (sample.text, sample.tariff)


def test_the_line_reader_alone_reads_a_squashed_crop(photo_file):
    path, sample = photo_file("italic", 1, crop=True)
    assert read_display(path, method="line").text == sample.text


def test_a_point_the_network_half_saw_makes_a_reading_without_one_doubtful():
    probs = _columns("-", "4", "-", "2", "-", "-", "5", "-")
    clean = decode(probs)
    probs[4] = _column(blank=0.9, **{"d.": 0.1})        # a faint point between 2 and 5
    faint = decode(probs)
    assert clean.text == faint.text == "425"
    assert clean.no_point == 1.0
    assert faint.no_point == 0.0
