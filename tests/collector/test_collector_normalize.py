"""Normalization: any model's registers become one reading, with the flags a retailer would raise."""

from datetime import datetime, timedelta, timezone

import pytest

from collector.normalize import MeterTrack, Normalizer, register_capacity_wh
from collector.reading import MeterRef
from drivers import load_profile, parse_profile

T0 = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
GENERIC = load_profile("generic")

# A meter that counts in 10 Wh steps, has only tariff registers, and a 32-bit capacity.
COARSE = parse_profile("""
[meter]
model = "coarse"
title = "t"
vendor = "v"
document = "d"
[[register]]
quantity = "energy.import.t1"
address = 0
type = "u32"
scale = 10
[[register]]
quantity = "energy.import.t2"
address = 2
type = "u32"
scale = 10
""")


def _normalizer(regmap=GENERIC, stale_after_s=3600.0):
    return Normalizer(regmap, MeterRef("42", regmap.model, "A1"), "gw-01", stale_after_s)


def _values(total, t1, t2, t3, serial="42"):
    return {"serial": serial, "energy.import.total": total, "energy.import.t1": t1,
            "energy.import.t2": t2, "energy.import.t3": t3, "power.active.total": 230.0}


def test_values_become_a_reading_with_exact_integer_wh():
    reading = _normalizer().reading(_values(1503701, 1234567, 234567, 34567), T0, 7, MeterTrack())
    assert dict(reading.energy_wh) == {"total": 1503701, "t1": 1234567, "t2": 234567, "t3": 34567}
    assert reading.tariffs == 3 and reading.seq == 7 and reading.source == "modbus"
    assert reading.quality.flags == ()
    assert all(type(v) is int for v in reading.energy_wh.values())


def test_sum_of_tariffs_off_by_more_than_resolution_is_flagged():
    reading = _normalizer().reading(_values(1503711, 1234567, 234567, 34567), T0, 1, MeterTrack())
    assert reading.quality.flags == ("sum_mismatch",)


def test_total_is_derived_when_the_model_has_only_tariffs():
    reading = _normalizer(COARSE).reading({"energy.import.t1": 1000, "energy.import.t2": 20},
                                          T0, 1, MeterTrack())
    assert reading.energy_wh["total"] == 1020
    assert reading.quality.flags == ()


def test_register_going_backwards_is_flagged_decrease():
    normalizer, track = _normalizer(), MeterTrack()
    normalizer.reading(_values(300, 100, 100, 100), T0, 1, track)
    reading = normalizer.reading(_values(299, 99, 100, 100), T0 + timedelta(minutes=1), 2, track)
    assert reading.quality.flags == ("decrease",)


def test_wrap_at_register_capacity_is_a_rollover_not_a_decrease():
    capacity = register_capacity_wh(COARSE, "energy.import.t1")
    assert capacity == 10 * 2**32
    normalizer, track = _normalizer(COARSE), MeterTrack()
    normalizer.reading({"energy.import.t1": capacity - 20, "energy.import.t2": 50}, T0, 1, track)
    reading = normalizer.reading({"energy.import.t1": 30, "energy.import.t2": 50},
                                 T0 + timedelta(minutes=1), 2, track)
    # t1 wrapped, and the total derived from it wrapped with it.
    assert reading.quality.flags == ("rollover",)


@pytest.mark.parametrize("minutes, flagged", [(59, False), (61, True)])
def test_energy_unchanged_beyond_stale_after_is_flagged_stale(minutes, flagged):
    normalizer, track = _normalizer(stale_after_s=3600), MeterTrack()
    normalizer.reading(_values(300, 100, 100, 100), T0, 1, track)
    reading = normalizer.reading(_values(300, 100, 100, 100), T0 + timedelta(minutes=minutes), 2,
                                 track)
    assert ("stale" in reading.quality.flags) is flagged


def test_serial_comes_from_the_register_when_the_config_has_none():
    normalizer = Normalizer(GENERIC, MeterRef("", "generic", "A1"), "gw-01")
    reading = normalizer.reading(_values(300, 100, 100, 100, serial="98765"), T0, 1, MeterTrack())
    assert reading.meter.serial == "98765"


def test_float_register_tolerance_grows_with_its_magnitude():
    # An f32 of Wh steps by 2 Wh above 2**24 Wh: a 3 Wh gap there is precision, not a mismatch.
    iem = load_profile("schneider-iem3255")
    normalizer = _normalizer(iem)
    values = {"energy.import.total": 2**24 + 10, "energy.import.t1": 2**24 - 100_000,
              "energy.import.t2": 60_000, "energy.import.t3": 40_000 + 7,
              "energy.import.t4": 0}
    assert normalizer.sum_flags(normalizer.energy(values)) == []
    values["energy.import.t3"] += 40
    assert normalizer.sum_flags(normalizer.energy(values)) == ["sum_mismatch"]
