"""The tariff clock: zone boundaries, validation of a program, cutting intervals at boundaries."""

from datetime import datetime, timedelta

import pytest

from firmware_sim import TariffClock, TariffSegment

DAY = datetime(2026, 1, 5)  # a Monday


@pytest.mark.parametrize(("hhmmss", "tariff"), [
    ("00:00:00", 2), ("06:59:59", 2), ("07:00:00", 1), ("09:59:59", 1), ("10:00:00", 3),
    ("16:59:59", 3), ("17:00:00", 1), ("20:59:59", 1), ("21:00:00", 3), ("22:59:59", 3),
    ("23:00:00", 2), ("23:59:59", 2),
])
def test_default_day_switches_tariff_exactly_at_each_boundary(hhmmss, tariff):
    at = datetime.combine(DAY.date(), datetime.strptime(hhmmss, "%H:%M:%S").time())
    assert TariffClock.default().tariff_at(at) == tariff


def test_tariff_follows_the_wall_clock_of_an_aware_time():
    from datetime import timezone
    moscow = timezone(timedelta(hours=3))
    assert TariffClock.default().tariff_at(datetime(2026, 1, 5, 7, 0, tzinfo=moscow)) == 1


@pytest.mark.parametrize(("zones", "complaint"), [
    ([("00:00", "07:00", 2), ("08:00", "24:00", 1)], "nothing covers 07:00–08:00"),
    ([("07:00", "23:00", 1)], "nothing covers 23:00–07:00"),
    ([("00:00", "12:00", 1), ("11:00", "24:00", 2)], "overlap"),
    ([("22:00", "08:00", 2), ("07:00", "22:00", 1)], "overlap"),
    ([("07:00", "07:00", 1)], "empty"),
    ([], "at least one zone"),
])
def test_a_program_that_does_not_cover_the_day_exactly_once_is_rejected(zones, complaint):
    with pytest.raises(ValueError, match=complaint):
        TariffClock(zones)


@pytest.mark.parametrize("bad", ["7:00", "24:30", "25:00", "07:60", "0700", 700])
def test_a_zone_time_must_be_hh_mm(bad):
    with pytest.raises(ValueError, match="HH:MM"):
        TariffClock([(bad, "07:00", 1), ("07:00", "00:00", 2)])


@pytest.mark.parametrize("tariff", [0, 5, "1", True])
def test_a_zone_tariff_must_be_1_to_4(tariff):
    with pytest.raises(ValueError, match="tariff must be 1..4"):
        TariffClock([("00:00", "24:00", tariff)])


def test_a_single_zone_may_cover_the_whole_day():
    clock = TariffClock([("00:00", "24:00", 4)])
    assert clock.tariff_at(DAY) == clock.tariff_at(DAY.replace(hour=23, minute=59)) == 4


def test_a_weekday_program_overrides_that_day_only():
    clock = TariffClock(TariffClock.default().zones(), {6: [("00:00", "24:00", 2)]})
    sunday_peak = datetime(2026, 1, 11, 8, 0)
    assert clock.tariff_at(sunday_peak) == 2
    assert clock.tariff_at(sunday_peak - timedelta(days=1)) == 1
    assert clock.tariff_at(sunday_peak + timedelta(days=1)) == 1


def test_segments_cut_an_interval_at_every_boundary_and_merge_the_night():
    start, end = DAY.replace(hour=9), DAY + timedelta(days=1, hours=8)
    assert TariffClock.default().segments(start, end) == [
        TariffSegment(start, DAY.replace(hour=10), 1),
        TariffSegment(DAY.replace(hour=10), DAY.replace(hour=17), 3),
        TariffSegment(DAY.replace(hour=17), DAY.replace(hour=21), 1),
        TariffSegment(DAY.replace(hour=21), DAY.replace(hour=23), 3),
        TariffSegment(DAY.replace(hour=23), DAY + timedelta(days=1, hours=7), 2),
        TariffSegment(DAY + timedelta(days=1, hours=7), end, 1),
    ]


def test_segments_of_an_interval_inside_one_zone_is_that_interval():
    start = DAY.replace(hour=11, minute=0, second=1, microsecond=5)
    end = start + timedelta(microseconds=1)
    assert TariffClock.default().segments(start, end) == [TariffSegment(start, end, 3)]


def test_segments_of_an_empty_interval_are_none():
    assert TariffClock.default().segments(DAY, DAY) == []
