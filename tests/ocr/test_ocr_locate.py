"""Finding the digit row: what ``digit_rows`` promises a line recognizer, on real rendered photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from firmware_sim.lcd import HARSH, MILD, STYLES, make_sample, render_display
from ocr.locate import (ROW_BASE, ROW_SIDE, ROW_TOP, _Chain, _same_row, _unrefined, digit_rows,
                        glass_bands, row_surroundings, widened)
from ocr.photo_file import load_photo
from ocr.strokes import stacked_groups


def _field_in_row(row, field_quad) -> np.ndarray:
    h, w = row.image.shape[:2]
    to_row = cv2.getPerspectiveTransform(row.quad, np.array([[0, 0], [w, 0], [w, h], [0, h]],
                                                            np.float32))
    return cv2.perspectiveTransform(np.array([field_quad], np.float32), to_row)[0]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_top_row_image_holds_the_whole_reading_field_filling_its_height(style):
    sample = make_sample(7, 0, MILD, styles=[style])
    rows = digit_rows(load_photo(sample.encoded), height=48)
    field = _field_in_row(rows[0], sample.field_quad)
    h, w = rows[0].image.shape[:2]
    assert field[:, 0].min() >= 0 and field[:, 0].max() <= w
    assert field[:, 1].min() >= -0.02 * h and field[:, 1].max() <= 1.02 * h
    assert np.ptp(field[:, 1]) >= 0.6 * h


def test_row_image_has_the_requested_height_and_the_row_runs_level():
    sample = make_sample(7, 1, MILD, styles=["italic"])
    row = digit_rows(load_photo(sample.encoded), height=40)[0]
    assert row.image.shape[0] == 40 and row.image.dtype == np.uint8
    field = _field_in_row(row, sample.field_quad)
    # Top and bottom edges of the field are level in the image: rotation and perspective gone.
    assert abs(field[1, 1] - field[0, 1]) < 0.08 * 40
    assert abs(field[2, 1] - field[3, 1]) < 0.08 * 40


def test_digits_sit_between_the_contract_rows():
    sample = make_sample(7, 2, MILD, styles=["classic"])
    row = digit_rows(load_photo(sample.encoded), height=64)[0]
    # The field box is the digits padded by 8 % of their height above and below.
    field = _field_in_row(row, sample.field_quad)
    pad = 0.08 / 1.16 * np.ptp(field[:, 1])
    top, base = field[:, 1].min() + pad, field[:, 1].max() - pad
    assert abs(top - ROW_TOP * 64) < 0.05 * 64
    assert abs(base - ROW_BASE * 64) < 0.05 * 64


def test_a_photo_without_digits_gives_no_rows():
    rng = np.random.default_rng(3)
    plain = cv2.GaussianBlur(rng.integers(90, 160, (480, 640, 3), dtype=np.uint8), (0, 0), 4)
    assert digit_rows(plain) == []


def test_surroundings_of_a_row_contain_the_row():
    sample = make_sample(7, 3, MILD, styles=["boxed"])
    row = digit_rows(load_photo(sample.encoded))[0]
    around = row_surroundings(row)
    for corner in row.quad:
        assert cv2.pointPolygonTest(around.reshape(-1, 1, 2), tuple(map(float, corner)), False) > 0


def test_a_widened_row_shows_more_of_the_photo_on_both_sides_at_the_same_height():
    sample = make_sample(7, 0, MILD, styles=["slim"])
    bgr = load_photo(sample.encoded)
    row = digit_rows(bgr, height=48)[0]
    image = widened(bgr, [row], 1.5, height=48)[0]
    digit = (ROW_BASE - ROW_TOP) * 48
    assert image.shape[0] == 48
    assert abs(image.shape[1] - (row.image.shape[1] + 2 * 1.5 * digit)) <= 2
    # The middle of the wider cut is the row itself, pixel for pixel up to resampling.
    x0 = round(1.5 * digit)
    inner = image[:, x0:x0 + row.image.shape[1]].astype(np.float32)
    assert np.abs(inner - row.image[:, :inner.shape[1]].astype(np.float32)).mean() < 6


def test_a_row_that_cannot_be_measured_again_is_cut_as_its_chain_was_found():
    slope, height = 0.1, 20.0
    row = _unrefined(_Chain(np.array([slope, 50.0]), height, 100.0, 300.0, 1.0))
    top_left, top_right, bottom_right, bottom_left = row.quad.astype(np.float64)
    ends = ((top_left + bottom_left) / 2, (top_right + bottom_right) / 2)
    for x, y in ends:       # the chain's middle line runs along the middle of the row …
        assert y == pytest.approx(slope * x + 50.0, abs=1e-3)
    # … its digits from ROW_TOP to ROW_BASE of the row's height, upright to the line …
    assert np.linalg.norm(bottom_left - top_left) == pytest.approx(height / (ROW_BASE - ROW_TOP), rel=1e-4)
    assert np.dot(bottom_left - top_left, [1.0, slope]) == pytest.approx(0.0, abs=1e-3)
    # … with ROW_SIDE digit heights beyond its first and last blob, measured along the line.
    along = np.linalg.norm(ends[1] - ends[0])
    assert along == pytest.approx(200.0 * np.hypot(1.0, slope) + 2 * ROW_SIDE * height, rel=1e-4)


def test_chains_on_one_line_are_one_row_only_where_their_heights_are_alike():
    digits = _Chain(np.array([0.0, 100.0]), 25.0, 100.0, 300.0, 1.0)
    assert _same_row(digits, _Chain(np.array([0.0, 104.0]), 30.0, 120.0, 320.0, 1.0))
    assert not _same_row(digits, _Chain(np.array([0.0, 110.0]), 160.0, 60.0, 400.0, 1.0))


def test_a_line_of_small_print_just_below_the_digits_is_not_stacked_onto_them():
    boxes = np.array([[287, 236, 18, 25], [182, 265, 167, 34],    # a digit, the print below
                      [400, 200, 15, 12], [400, 214, 15, 12],     # a digit's two halves
                      [500, 200, 15, 4], [511, 205, 4, 20]],      # a 7: top bar, its stroke
                     np.float64)
    groups = stacked_groups(boxes)
    assert groups[0] != groups[1]
    assert groups[2] == groups[3] and groups[4] == groups[5]


def test_a_row_is_cut_at_one_height_where_its_blobs_heights_wander():
    # Harsh photos whose fitted height line followed smaller boxed decimals or a digit
    # shortened by blur: one end of the row was cut 40 % lower than the other.
    for index in range(24, 32):
        sample = make_sample(7, index, HARSH, styles=["slanted-small", "narrow-boxed"])
        rows = digit_rows(load_photo(sample.encoded), height=48)
        field = _field_in_row(rows[0], sample.field_quad)
        left, right = field[3, 1] - field[0, 1], field[2, 1] - field[1, 1]
        assert max(left, right) <= 1.2 * min(left, right), index


@pytest.mark.parametrize("style", ["classic", "boxed", "slanted-small"])
def test_a_band_across_an_upright_glass_holds_the_reading_field(style):
    display = render_display("0012345.67", "t2", STYLES[style], ghost=0.3)
    glass = np.ascontiguousarray(display.rgb[..., ::-1])
    f = display.field
    field = np.array([[f.x, f.y], [f.x + f.w, f.y], [f.x + f.w, f.y + f.h], [f.x, f.y + f.h]],
                     np.float32)
    held = []
    for band in glass_bands(glass, height=48):
        inside = _field_in_row(band, field)
        held.append(inside[:, 0].min() >= 0 and inside[:, 0].max() <= band.image.shape[1]
                    and inside[:, 1].min() >= -0.05 * 48 and inside[:, 1].max() <= 1.05 * 48
                    and np.ptp(inside[:, 1]) >= 0.6 * 48)
    assert any(held)
