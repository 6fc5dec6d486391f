"""The reading schema: exact integers, deterministic ids, and payload validation that names fields."""

from datetime import datetime, timezone

import pytest

from collector.reading import MeterRef, PayloadError, Reading, reading_from_dict, reading_from_json


def _reading(**overrides):
    fields = dict(
        meter=MeterRef("12345678", "abb-b23", "5001234567"),
        taken_at=datetime(2026, 11, 22, 14, 0, tzinfo=timezone.utc),
        source="modbus",
        energy_wh={"total": 1503701, "t1": 1234567, "t2": 234567, "t3": 34567},
        tariffs=3,
    )
    fields.update(overrides)
    return Reading(**fields)


def test_design_example_round_trips_through_json():
    reading = _reading()
    again = reading_from_json(reading.to_json())
    assert again == reading
    assert again.id == reading.id
    assert reading.to_dict()["taken_at"] == "2026-11-22T14:00:00Z"


def test_id_depends_on_serial_time_and_source_only():
    assert _reading().id == _reading(seq=99, collector="gw-02").id
    assert _reading().id != _reading(source="photo").id
    assert _reading().id != _reading(meter=MeterRef("87654321")).id


def test_billing_truncates_the_fraction():
    reading = _reading(energy_wh={"total": 12345999})
    assert reading.billing_kwh("total") == 12345


def test_sub_millisecond_time_keeps_its_id_through_the_wire():
    moment = datetime(2026, 11, 22, 14, 0, 0, 123456, tzinfo=timezone.utc)
    reading = _reading(taken_at=moment)
    assert reading_from_json(reading.to_json()).id == reading.id


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.update(schema="x/2"), "schema"),
        (lambda d: d["energy_wh"].update(t1=1.5), "energy_wh.t1"),
        (lambda d: d["energy_wh"].update(t9=1), "energy_wh.t9"),
        (lambda d: d.update(taken_at="yesterday"), "taken_at"),
        (lambda d: d.update(source="pigeon"), "source"),
        (lambda d: d["meter"].pop("serial"), "meter.serial"),
        (lambda d: d.update(id="0" * 32), "id"),
        (lambda d: d.update(tariffs=7), "tariffs"),
    ],
)
def test_malformed_payload_names_the_field(mutate, field):
    data = _reading().to_dict()
    mutate(data)
    with pytest.raises(PayloadError, match=field.replace(".", r"\.")):
        reading_from_dict(data)


def test_not_json_is_a_payload_error():
    with pytest.raises(PayloadError, match="not JSON"):
        reading_from_json(b"\xff{")
