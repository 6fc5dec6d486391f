"""QR payloads: the three forms meters use, decoded from real rendered photos and parsed exactly."""

from __future__ import annotations

from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from drivers.errors import ReadError
from ocr import parse_qr_payload, read_display, read_qr


def test_plain_serial():
    payload = parse_qr_payload("12345678")
    assert (payload.kind, payload.serial, dict(payload.energy_wh)) == ("serial", "12345678", {})


def test_url_with_query_parameters():
    payload = parse_qr_payload("https://meter.example/r?serial=12345678&t1=1234567&t2=2345.678")
    assert payload.kind == "url"
    assert payload.serial == "12345678"
    assert dict(payload.energy_wh) == {"t1": 1234567, "t2": 2345678}


def test_url_naming_the_meter_in_its_path():
    assert parse_qr_payload("https://meter.example/m/AB-1234").serial == "AB-1234"


def test_key_value_form_of_a_dynamic_qr():
    payload = parse_qr_payload("serial=12345678;t1=1234567;t2=234567;t3=34567;ts=2026-11-22T14:00:00Z")
    assert payload.kind == "fields"
    assert payload.serial == "12345678"
    assert dict(payload.energy_wh) == {"t1": 1234567, "t2": 234567, "t3": 34567}
    assert payload.taken_at == datetime(2026, 11, 22, 14, 0, tzinfo=timezone.utc)


def test_kwh_with_a_point_converts_exactly_never_through_a_float():
    # 0.1 + 0.2 style errors would turn 4503599627.371 kWh into a wrong Wh count.
    assert parse_qr_payload("serial=1234;t1=4503599627.371").energy_wh["t1"] == 4503599627371


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("hello world!", "does not hold"),
    ("serial=12345678;t1=12abc", "not a register value"),
    ("serial=12345678;t1=1;t1=2", "repeats"),
    ("serial=12345678;ts=2026-11-22T14:00:00", "no time zone"),
    ("https://meter.example/", "does not name a meter"),
    ("t1", "does not hold"),
])
def test_payloads_that_are_no_meter_code_are_refused(text, reason):
    with pytest.raises(ReadError, match=reason):
        parse_qr_payload(text)


def test_dynamic_qr_beside_the_display_is_decoded_from_the_photo(photo_file):
    path, sample = photo_file("classic", 0, qr_chance=1.0)
    read = read_display(path)
    assert read.qr is not None
    assert read.qr.raw == sample.qr
    registers = read.qr.energy_wh
    shown = sum(registers.values()) if sample.tariff == "total" else registers[sample.tariff]
    step = 10 ** (3 - read.decimals)  # the glass truncates to the decimals it has
    assert shown // step * step == read.energy_wh


def test_a_qr_code_alone_is_read_by_read_qr():
    code = cv2.QRCodeEncoder.create().encode("serial=87654321;t1=1000;t2=2000;t3=3000")
    image = cv2.resize(np.pad(code, 4, constant_values=255), (400, 400),
                       interpolation=cv2.INTER_NEAREST)
    payload = read_qr(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    assert payload.serial == "87654321"
    assert dict(payload.energy_wh) == {"t1": 1000, "t2": 2000, "t3": 3000}


def test_read_qr_without_a_code_says_so():
    with pytest.raises(ReadError, match="no QR code"):
        read_qr(np.full((300, 300, 3), 200, np.uint8))
