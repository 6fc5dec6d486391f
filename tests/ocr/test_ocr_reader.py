"""Round trips through real rendered photos: what the display shows is what the reader returns."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import cv2
import numpy as np
import pytest

from drivers.errors import MissingDigits, ReadError
from firmware_sim.lcd import (HARSH, HELD_OUT_STYLES, MILD, STYLES, Conditions, Sample,
                              crop_field, make_sample, photograph, render_display)
from ocr import LOW_CONFIDENCE, read_display
from ocr.field import FieldRead, read_field
from ocr.line import LINE_EXTRA, LineRead, read_lines
from ocr.qr import parse_qr_payload
from ocr.locate import DigitRow, _cut, _Pyramid, digit_rows, row_surroundings, widened
from ocr.photo_file import load_photo
from ocr.marks import MarkRead, classify_mark_windows, mark_window
from ocr.reader import (_MARK_TRUSTED, DisplayRead, _agreed, _agreement, _checked_by_qr,
                        _confirmed_by_wider_cut, _digits_among, _display_read, _disputed, _doubted,
                        _first_digit, _held_by_qr, _kept, _LineCandidate, _outvoted, _part_of,
                        _point_placed, _read_by_line, _read_longer, _row_mark, _stands_alone,
                        _with_half_seen_point)
from ocr.segments import DigitRead


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("index", [0, 1])
def test_photo_of_every_style_reads_back_its_text_and_tariff(photo_file, style, index):
    path, sample = photo_file(style, index)
    read = read_display(path)
    assert (read.text, read.tariff) == (sample.text, sample.tariff)
    # Every digit sure; the mark is sure only from _MARK_TRUSTED, which one of these is not.
    assert min(read.digit_confidence) >= LOW_CONFIDENCE


@pytest.mark.parametrize("style", sorted(STYLES))
def test_crop_of_every_style_reads_back_its_text(photo_file, style):
    path, sample = photo_file(style, 0, crop=True)
    read = read_display(path)
    assert read.text == sample.text
    assert read.tariff is None  # a crop of the digits shows no mark …
    assert read.tariff_confidence == 0.0  # … and none is made up from its edge


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("seed", [0, 5])
def test_a_crop_of_a_whole_kwh_reading_reads_sure(style, seed):
    # Read squeezed to its narrowest width, such a crop shows a point that is not there.
    display = render_display("07913177", None, STYLES[style])
    crop = crop_field(display, np.random.default_rng(seed), MILD)
    read = read_display(np.ascontiguousarray(crop[..., ::-1]))
    assert (read.text, read.low_confidence) == ("07913177", False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_small_decimal_one_the_cell_reader_cannot_tell_leaves_the_line_read_sure(seed):
    # The cell reader lays out as many digits as the line read has, and cannot make out the
    # last: the line read lost none, so it stands as the only one that could read.
    display = render_display("0088037.1", None, STYLES["slanted-small"])
    crop = crop_field(display, np.random.default_rng(seed), MILD)
    read = read_display(np.ascontiguousarray(crop[..., ::-1]))
    assert (read.text, read.low_confidence) == ("0088037.1", False)


def test_value_is_exact_decimal_and_whole_watt_hours(photo_file):
    path, sample = photo_file("classic", 3)
    read = read_display(path)
    assert read.value_kwh == Decimal(sample.text)
    assert read.energy_wh == int(Decimal(sample.text) * 1000)
    assert isinstance(read.energy_wh, int)
    assert read.decimals == len(sample.text.partition(".")[2])


def test_display_box_lies_on_the_rendered_glass(photo_file):
    path, sample = photo_file("italic", 0)
    read = read_display(path)
    found = np.array(read.display_box).mean(axis=0)
    truth = np.array(sample.display_quad)
    width = np.linalg.norm(truth[1] - truth[0])
    assert np.linalg.norm(found - truth.mean(axis=0)) < 0.15 * width


def test_reading_an_array_or_bytes_gives_the_same_result_as_the_file(photo_file):
    path, _ = photo_file("slim", 1)
    data = path.read_bytes()
    from_array = read_display(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    assert read_display(data) == read_display(path)
    assert from_array.text == read_display(path).text


def test_never_a_wrong_number_with_high_confidence_on_harsh_held_out_photos():
    wrong = []
    for index in range(24):
        sample = make_sample(31, index, HARSH, styles=HELD_OUT_STYLES, qr_chance=0.2)
        try:
            read = read_display(sample.encoded)
        except ReadError:
            continue  # refusing is allowed; guessing is not
        if read.text != sample.text and not read.low_confidence:
            wrong.append((sample.name, sample.text, read.text, read.confidence))
    assert wrong == []


def test_never_a_wrong_number_with_high_confidence_on_harsh_squashed_crops():
    wrong = []
    for index in range(24):
        sample = make_sample(32, index, HARSH, styles=sorted(STYLES), crop=True)
        try:
            read = read_display(sample.encoded)
        except ReadError:
            continue
        if read.text != sample.text and read.confidence >= LOW_CONFIDENCE:
            wrong.append((sample.name, sample.text, read.text, read.confidence))
    assert wrong == []


def test_reading_twice_gives_identical_results(photo_file):
    path, _ = photo_file("bold", 2)
    assert read_display(path) == read_display(path)


def test_display_box_lies_inside_the_photo(photo_file):
    for index in range(4):
        path, _ = photo_file("classic", index)
        h, w = cv2.imread(str(path)).shape[:2]
        box = np.array(read_display(path).display_box)
        assert (box >= 0).all() and (box[:, 0] <= w).all() and (box[:, 1] <= h).all()


def test_the_cell_reader_leaves_the_mark_out_when_asked_and_reads_the_same_digits():
    display = render_display("0045678.12", "t2", STYLES["classic"])
    glass = np.ascontiguousarray(display.rgb[..., ::-1])
    with_mark = read_field(glass)
    without = read_field(glass, mark=False)
    assert with_mark.mark is not None and with_mark.mark.tariff == "t2"
    assert without.mark is None and without.text == with_mark.text == "0045678.12"


@pytest.mark.parametrize("cut", [0.1, 0.25])
def test_digits_running_off_the_edge_of_the_region_read_count_as_missing_digits(cut):
    # A region cut through the reading (a row the finder began late, a glare band's edge) may
    # have lost digits past its edge: the line read of that region is then never sure alone.
    display = render_display("0012345.6", "t1", STYLES["classic"])
    glass = np.ascontiguousarray(display.rgb[..., ::-1])
    assert read_field(glass, edge_margin=0.5).text == "0012345.6"
    short = glass[:, int(display.field.x + cut * display.field.w):]
    with pytest.raises(MissingDigits, match="run off the edge"):
        read_field(short, edge_margin=0.5)


def _reading(text: str, confidence: float, point: float | None = None) -> FieldRead:
    """A field read with every digit ``confidence`` sure; ``point``: how sure of the point
    (or, without one, that none is lit)."""
    whole, _, frac = text.partition(".")
    digits = lambda s: tuple(DigitRead(c, confidence, 1.0, ()) for c in s)  # noqa: E731
    if point is None:
        point = confidence if frac else 1.0
    return FieldRead(digits(whole), digits(frac), point, None)


@pytest.mark.parametrize("style", ["boxed", "italic"])          # a mark left of the digits, above them
@pytest.mark.parametrize("tariff", ["t1", "t2", "t3", "total"])
def test_the_mark_is_read_where_the_line_reads_the_first_digit_when_the_row_begins_early(style, tariff):
    display = render_display("0012345.6", tariff, STYLES[style], ghost=0.15)
    bgr = np.ascontiguousarray(photograph(display, np.random.default_rng(7), MILD).rgb[..., ::-1])
    row = digit_rows(bgr)[0]
    # The finder's row begun three digit heights early, at a word beside the digits.
    early = replace(row, quad=row_surroundings(row, above=0.0, below=0.0, left=3.0, right=0.0))
    early = _cut(_Pyramid(bgr), early, row.image.shape[0])
    read = read_lines(widened(bgr, [early], LINE_EXTRA))[0]
    assert read.text == "0012345.6"
    at_the_finders_start = classify_mark_windows([mark_window(bgr, early)])[0]
    assert at_the_finders_start is None or at_the_finders_start.confidence < _MARK_TRUSTED
    mark = _row_mark(bgr, early, _first_digit(early, read))
    assert mark is not None and mark.tariff == tariff and mark.confidence >= _MARK_TRUSTED


def test_a_tariff_mark_read_below_the_trusted_bar_leaves_the_reading_unsure():
    box = ((0.0, 0.0),) * 4
    doubted = _display_read(replace(_reading("012345.6", 1.0), mark=MarkRead("t2", 0.9)), box, None)
    assert (doubted.tariff, doubted.low_confidence, doubted.doubtful) == ("t2", True, ("tariff mark",))
    trusted = _display_read(replace(_reading("012345.6", 1.0), mark=MarkRead("t2", 0.97)), box, None)
    assert (trusted.tariff, trusted.tariff_confidence, trusted.low_confidence) == ("t2", 0.97, False)


def test_of_two_different_readings_the_longer_is_kept_then_the_surer():
    dropped_point = _reading("0001388", 0.95)
    whole = _reading("00013.88", 0.55)
    assert _kept(dropped_point, whole) is whole and _kept(whole, dropped_point) is whole
    sure, unsure = _reading("00013.88", 0.9), _reading("00018.88", 0.6)
    assert _kept(unsure, sure) is sure


def test_a_longer_reading_its_own_reader_all_but_rejected_is_not_kept():
    by_line = _reading("52824139.0", 0.99)
    box_edge_as_digit = _reading("52824139.00", 0.9, point=0.0)
    assert _kept(by_line, box_edge_as_digit) is by_line
    assert _kept(box_edge_as_digit, by_line) is by_line


def test_a_reading_longer_only_by_a_leading_one_is_not_kept_over_a_sure_one():
    by_line = _reading("00008.41", 0.97)
    bezel_as_one = _reading("100008.41", 0.95)
    assert _kept(by_line, bezel_as_one) is by_line and _kept(bezel_as_one, by_line) is by_line
    assert _kept(_reading("00008.41", 0.6), bezel_as_one) is bezel_as_one
    last_decimal = _reading("00008.411", 0.6)        # a trailing 1 is as likely a lost digit
    assert _kept(by_line, last_decimal) is last_decimal


def test_the_cell_readers_digits_take_the_point_the_line_reader_surely_saw():
    by_line = _reading("0611088.8", 0.98)
    unplaced_dot = _reading("06110888", 0.9, point=0.0)   # a dot seen, placed nowhere
    placed = _point_placed(by_line, unplaced_dot)
    assert placed is not None and placed.text == "0611088.8"
    assert _agreed(by_line, placed).confidence == pytest.approx(0.98)
    # Not when the cell reader is sure no point is lit, the line reader unsure of its point,
    # or the digits differ.
    assert _point_placed(by_line, _reading("06110888", 0.9, point=0.8)) is None
    assert _point_placed(_reading("0611088.8", 0.98, point=0.5), unplaced_dot) is None
    assert _point_placed(by_line, _reading("06110883", 0.9, point=0.0)) is None


def test_an_agreed_reading_without_a_point_is_sure_only_where_the_line_network_is_certain():
    doubting_cells = _reading("0089950", 0.99, point=0.0)
    certain = _agreed(_reading("0089950", 0.99, point=0.999), doubting_cells)
    assert certain.point_confidence == pytest.approx(0.999)
    fairly_sure = _agreed(_reading("0089950", 0.99, point=0.93), doubting_cells)
    assert fairly_sure.point_confidence == 0.0


def test_a_point_the_line_network_half_saw_is_put_back_where_it_saw_it_but_never_sure():
    half_seen = LineRead("0000005", (0.99,) * 7, no_point=0.2, point_at=5)
    read = _with_half_seen_point(half_seen)
    assert read.text == "00000.05" and read.confidence[5] == pytest.approx(0.4)
    assert read.confidence[5] < LOW_CONFIDENCE
    barely_seen = LineRead("0000005", (0.99,) * 7, no_point=0.8, point_at=5)
    assert _with_half_seen_point(barely_seen) == barely_seen


def test_where_two_readings_split_alike_only_the_digits_read_differently_are_doubted():
    kept = _doubted(_reading("050271.95", 0.99), _reading("050211.95", 0.9))
    assert [d.confidence for d in kept.digits] == [0.99] * 4 + [0.5] + [0.99] * 3
    assert kept.text == "050271.95" and kept.confidence == 0.5
    # Split differently (a digit or the point lost by one reader): no digit can be matched.
    lost_digit = _doubted(_reading("050271.95", 0.99), _reading("50271.95", 0.9))
    assert all(d.confidence == 0.5 for d in lost_digit.digits)


def test_a_doubtful_reading_names_what_the_resident_should_photograph_again():
    def read(digits: tuple[float, ...], tariff: float, overall: float) -> DisplayRead:
        return DisplayRead("050271.95", Decimal("50271.95"), 50271950, 2, "t1", digits, tariff,
                           overall, ((0.0, 0.0),) * 4, None)
    assert read((0.99,) * 8, 0.99, 0.99).doubtful == ()
    assert read((0.99,) * 4 + (0.5,) + (0.99,) * 3, 0.4, 0.4).doubtful == ("digit 5", "tariff mark")
    assert read((0.5,) * 8, 0.99, 0.5).doubtful == ("all digits",)
    assert read((0.99,) * 8, 0.99, 0.3).doubtful == ("decimal point",)


def _shown(text: str, tariff: str | None, qr: str | None, *, digits: float = 0.6,
           mark: float = 0.6) -> DisplayRead:
    """A doubtful display reading of ``text`` beside a QR code carrying ``qr``."""
    value = Decimal(text)
    n = len(text.replace(".", ""))
    return DisplayRead(text, value, int(value * 1000), len(text.partition(".")[2]), tariff,
                       (digits,) * n, mark if tariff else 0.0, min(digits, mark), ((0.0, 0.0),) * 4,
                       parse_qr_payload(qr) if qr else None)


_QR = "serial=12345678;t1=12345678;t2=2000500;t3=7;ts=2026-11-22T14:00:00Z"


def test_a_qr_code_holding_the_displayed_value_confirms_the_digits_and_the_mark():
    confirmed = _checked_by_qr(_shown("012345.6", "t1", _QR))   # 12 345 678 Wh, to 0.1 kWh
    assert (confirmed.tariff, confirmed.confidence, confirmed.tariff_confidence) == ("t1", 1.0, 1.0)
    assert set(confirmed.digit_confidence) == {1.0}
    # The mark misread (or not seen): the register that holds the value names it.
    assert _checked_by_qr(_shown("0002000.50", "t3", _QR)).tariff == "t2"
    assert _checked_by_qr(_shown("0002000.50", None, _QR)).tariff == "t2"
    # The total is the registers' sum.
    total = _checked_by_qr(_shown("14346.18", "total", _QR))
    assert (total.tariff, total.confidence) == ("total", 1.0)


def test_a_display_that_contradicts_its_qr_code_is_never_sure():
    sure = _shown("012345.6", "t1", _QR, digits=0.99, mark=0.99)
    for misread in ("012845.6", "01234.56", "0123456"):
        read = _checked_by_qr(replace(sure, text=misread, value_kwh=Decimal(misread),
                                      energy_wh=int(Decimal(misread) * 1000),
                                      decimals=len(misread.partition(".")[2])))
        assert read.low_confidence and max(read.digit_confidence) <= 0.5


def test_a_reading_without_decimals_a_register_holds_only_cut_to_whole_kwh_is_not_confirmed():
    # 12 345 678 Wh: the glass may show 012345.678, its point and decimals lost to glare.
    read = _shown("012345", "t1", _QR, digits=0.99, mark=0.99)
    assert _checked_by_qr(read) == read
    assert not _held_by_qr("012345", parse_qr_payload(_QR))
    whole = "serial=12345678;t1=12345000;t2=2000500;t3=7;ts=2026-11-22T14:00:00Z"
    assert _checked_by_qr(_shown("012345", "t3", whole)).confidence == 1.0
    assert _held_by_qr("012345", parse_qr_payload(whole))


def test_a_qr_code_without_registers_changes_nothing():
    read = _shown("012345.6", "t1", "12345678")
    assert _checked_by_qr(read) == read
    assert _checked_by_qr(_shown("012345.6", "t1", None)) == _shown("012345.6", "t1", None)


def test_a_photo_with_the_meters_dynamic_qr_code_reads_sure_and_names_the_register(photo_file):
    path, sample = photo_file("classic", 4, qr_chance=1.0)
    read = read_display(path)
    assert read.qr is not None and read.qr.raw == sample.qr
    assert (read.text, read.tariff, read.confidence) == (sample.text, sample.tariff, 1.0)


def test_a_reading_is_held_by_a_qr_register_cut_to_the_digits_the_glass_shows():
    qr = parse_qr_payload("serial=12345678;t1=1234567;t2=89012;t3=5;ts=2026-11-22T14:00:00Z")
    assert _held_by_qr("0001234.56", qr) and _held_by_qr("0001234.5", qr)
    assert not _held_by_qr("0001234.57", qr)            # cut, never rounded
    assert _held_by_qr("0001323.584", qr)                # the total: the tariffs added up
    assert not _held_by_qr("0001234.56", None)
    assert not _held_by_qr("0001234.56", parse_qr_payload("12345678"))   # a plain serial


def test_a_sure_line_read_of_a_photo_stands_when_a_wider_cut_reads_the_same(photo_file):
    path, sample = photo_file("classic", 2)
    bgr = load_photo(path)
    by_line = _read_by_line(bgr, digit_rows(bgr))
    assert by_line is not None and by_line.field.text == sample.text
    assert _confirmed_by_wider_cut(by_line, None)
    unsure = replace(by_line, field=_reading(sample.text, 0.95))
    assert not _confirmed_by_wider_cut(unsure, None)
    # Where a register of the display's QR code holds it, the wider cut need only read the same …
    wh = int(Decimal(sample.text) * 1000)
    qr = parse_qr_payload(f"serial=12345678;t1={wh};t2=7;t3=9;ts=2026-11-22T14:00:00Z")
    assert _confirmed_by_wider_cut(unsure, qr)
    # … which a read that lost leading zeros (the value the code holds) does not.
    short = replace(by_line, field=_reading("0" + sample.text.lstrip("0"), 0.95))
    assert short.field.text != sample.text and not _confirmed_by_wider_cut(short, qr)


def test_a_crop_is_always_checked_by_the_cell_reader(photo_file):
    path, sample = photo_file("classic", 0, crop=True)
    bgr = load_photo(path)
    by_line = _read_by_line(bgr, digit_rows(bgr))
    assert by_line is not None and by_line.field.text == sample.text
    assert not _confirmed_by_wider_cut(by_line, None)


def test_of_two_different_readings_the_one_a_qr_register_holds_is_kept():
    qr = parse_qr_payload("serial=41353295;t1=23566210;t2=5636813;t3=0;ts=2026-11-22T14:00:00Z")
    by_line, point_misplaced = _reading("23566.21", 0.91), _reading("235662.1", 0.99)
    assert _kept(by_line, point_misplaced) is point_misplaced
    assert _kept(by_line, point_misplaced, qr) is by_line
    assert _kept(point_misplaced, by_line, qr) is by_line
    # The code holds the value, not the leading zeros: a reading that lost one is not kept.
    zero_lost, misread = _reading("2356.21", 0.99), _reading("02358.21", 0.6)
    qr = parse_qr_payload("serial=41353295;t1=2356210;t2=0;t3=0;ts=2026-11-22T14:00:00Z")
    assert _kept(zero_lost, misread, qr) is misread


def test_in_a_crop_only_a_read_of_the_whole_image_stands_without_the_cell_reader():
    crop = np.full((31, 200, 3), 180, np.uint8)
    box = np.array([[0, 0], [200, 0], [200, 31], [0, 31]], np.float32)
    inside = DigitRow(crop[:, 80:], box + [80, 0], 20.0, 0.0, 1.0)   # a row found in the crop
    sure = _reading("9254.45", 0.993)
    assert _stands_alone(_LineCandidate(sure, crop, None, box), crop)
    assert not _stands_alone(_LineCandidate(sure, crop, inside, box), crop)
    assert not _stands_alone(_LineCandidate(_reading("9254.45", 0.98), crop, None, box), crop)


def test_in_a_crop_a_row_reading_part_of_what_the_whole_image_reads_is_part_of_the_field():
    whole = _reading("07018014", 0.999)
    assert _part_of(_reading("070180", 1.0), whole)
    assert not _part_of(_reading("070180", 1.0), _reading("07018014", 0.6))    # whole in doubt
    assert not _part_of(_reading("07018014", 1.0), whole)                      # as long
    assert not _part_of(_reading("0701.84", 1.0), whole)                      # other digits


def test_a_crop_read_is_in_doubt_where_another_width_surely_reads_more_digits():
    squeezed = _reading("0000001.1", 0.998)
    wider = [squeezed, _reading("00000001.1", 0.52), _reading("00000001.11", 0.99)]
    assert _read_longer(squeezed, wider)
    assert not _read_longer(squeezed, [squeezed, _reading("00000001.11", 0.88)])
    assert not _read_longer(_reading("00000001.11", 0.99), wider)


def test_a_digit_both_read_alike_stays_in_doubt_where_one_reader_all_but_rejected_it():
    assert _agreement(0.99, 0.42) < LOW_CONFIDENCE and _agreement(0.42, 0.99) < LOW_CONFIDENCE
    assert _agreement(0.99, 0.6) == 0.99


def test_a_digit_at_the_cell_readers_doubt_bar_is_sure_only_where_the_line_reader_alone_would_be():
    assert _agreement(0.93, 0.5) < LOW_CONFIDENCE and _agreement(0.5, 0.93) < LOW_CONFIDENCE
    assert _agreement(0.995, 0.5) == 0.995
    assert _agreement(0.93, 0.51) == 0.93


def _tuning_photo(seed: int, index: int, conditions: Conditions = HARSH) -> Sample:
    """Photo ``index`` of a tuning set made by ``python -m firmware_sim.lcd`` in the held-out
    styles, with QR codes on three photos in ten."""
    return make_sample(seed, index, conditions, styles=HELD_OUT_STYLES, qr_chance=0.3)


@pytest.mark.parametrize("index, text", [
    # Glare on a small display: a dark stretch of the plate chained at the coarse scale as a
    # row six times the digits' height and hid their own row, and a line of small print just
    # below the digits was stacked onto them. Read as 0959.7, unsure.
    (0, "0000959.7"),
    # Glare fades the digits: the finder's rows missed them, and the glass found around them
    # gave no row either (its darkest band now does). Refused.
    (213, "077286.11"),
])
def test_harsh_tuning_photos_whose_digits_the_finder_lost_are_read_sure(index, text):
    sample = _tuning_photo(20601, index)
    read = read_display(sample.encoded)
    assert read.text == sample.text == text
    assert not read.low_confidence


def test_a_row_found_on_the_glass_reading_part_of_the_photos_row_does_not_replace_it():
    assert _digits_among(_reading("000000", 0.99), _reading("00000075.41", 0.55))
    assert not _digits_among(_reading("00000075.41", 0.99), _reading("00000075.41", 0.55))
    assert not _digits_among(_reading("000008", 0.99), _reading("00000075.41", 0.55))
    # A mild tuning photo: a glare band ended the glass's row after the zeros, read at 0.99,
    # where the photo's row read 00000075.41 with its 4 at 0.55; reported 000000 at 1.0.
    sample = _tuning_photo(20604, 99, MILD)
    assert read_display(sample.encoded).text == sample.text == "00000075.41"


def test_mark_windows_naming_different_marks_leave_the_mark_unsure():
    t1, t2 = MarkRead("t1", 0.955), MarkRead("t2", 0.52)
    assert _disputed(t1, [t1, t2])
    assert not _disputed(t1, [t1, MarkRead("t2", 0.45)]) and not _disputed(t1, [t1, MarkRead("t1", 0.6)])
    # The harsh tuning photo: its T2 was reported as T1, sure at 0.955.
    sample = _tuning_photo(20601, 79)
    read = read_display(sample.encoded)
    assert read.tariff == sample.tariff or read.tariff_confidence < _MARK_TRUSTED


def test_a_sure_line_read_stands_alone_where_the_cell_readers_other_reading_is_in_doubt():
    assert _outvoted(_reading("000073.07", 0.999), _reading("000078.07", 0.4))
    assert not _outvoted(_reading("000073.07", 0.98), _reading("000078.07", 0.4))
    assert not _outvoted(_reading("000073.07", 0.999), _reading("000078.07", 0.75))
    assert _outvoted(_reading("000688.26", 0.999), _reading("000688.526", 0.301))  # a box's edge
    # A harsh tuning crop: the whole image read at 1.0, the cell reader 000073.31 at 0.19.
    sample = make_sample(20602, 35, HARSH, styles=HELD_OUT_STYLES, crop=True)
    read = read_display(sample.encoded)
    assert read.text == sample.text == "000073.07"
    assert not read.low_confidence
