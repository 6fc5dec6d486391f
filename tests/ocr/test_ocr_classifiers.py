"""The two digit classifiers, alone and together, and the model file shipped for one of them."""

from __future__ import annotations

import numpy as np
import pytest

from ocr import LOW_CONFIDENCE, read_display
from ocr.digits import MODEL_PATH, PATCH_H, PATCH_W, combine, load_model
from ocr.segments import DigitRead


@pytest.mark.parametrize("classifier", ["segments", "model", "both"])
def test_each_classifier_reads_a_clear_photo(photo_file, classifier):
    path, sample = photo_file("bold", 4)
    assert read_display(path, classifier=classifier, method="cells").text == sample.text


def test_the_model_ships_as_plain_arrays_without_pickles():
    with np.load(MODEL_PATH, allow_pickle=False) as data:
        assert set(data.files) == {"mean", "scale", "w1", "b1", "w2", "b2"}
        assert data["w1"].shape[0] == PATCH_W * PATCH_H + 1
        assert data["w2"].shape[1] == 10


def test_model_gives_a_probability_per_digit():
    rng = np.random.default_rng(0)
    probs = load_model().predict(rng.random((5, PATCH_W * PATCH_H + 1), dtype=np.float32))
    assert probs.shape == (5, 10)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def _probs(digit: int, sure: float) -> np.ndarray:
    p = np.full(10, (1.0 - sure) / 9, np.float32)
    p[digit] = sure
    return p


def test_a_digit_the_classifiers_read_differently_is_never_sure():
    seg = DigitRead("8", 1.0, 0.5, (1.0,) * 7)
    both = combine(seg, _probs(0, 0.999))
    assert both.char == "0" and both.confidence <= 0.5


def test_agreement_is_only_as_sure_as_the_doubting_classifier():
    seg = DigitRead("6", 0.25, 0.5, (1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0))
    both = combine(seg, _probs(6, 0.999))
    assert both.char == "6" and both.confidence < LOW_CONFIDENCE


def test_no_classifier_invents_a_digit_where_nothing_is_lit():
    blank = DigitRead("?", 0.0, 0.01, (0.0,) * 7)
    assert combine(blank, _probs(3, 0.99)).char == "?"
    assert combine(blank, _probs(3, 0.99), "model").char == "?"
