"""The retailer's rules as pure functions, on the seeds' own numbers."""

from __future__ import annotations

import pytest

from accounting.rules import (DAY_MS, HOUR_MS, Point, Rules, Typical, billing_kwh, check_registers,
                              check_step, parse_kwh, register_capacity)

RULES = Rules()


def _step(old: int, new: int, hours: float, *, capacity: int | None = None,
          typical: Typical | None = None) -> tuple[str, tuple[str, ...]]:
    verdict = check_step(Point(0, {"total": old}), Point(int(hours * HOUR_MS), {"total": new}),
                         capacity_wh=capacity, max_power_w=15_000, typical=typical, rules=RULES)
    return verdict.reason.split(":")[0], verdict.flags


def test_12345_99_kwh_bills_as_12345() -> None:
    assert billing_kwh(parse_kwh("12345.99")) == 12345
    assert parse_kwh("12345.99") == 12_345_990


@pytest.mark.parametrize("text", ["12.3456", "-1", "lots", "nan", "inf"])
def test_kwh_below_a_watt_hour_or_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_kwh(text)


def test_a_lower_register_is_a_decrease() -> None:
    assert _step(5_000_000, 4_999_000, 1) == ("decrease", ())


def test_a_wrap_near_the_displays_capacity_is_a_rollover() -> None:
    assert _step(99_999_800, 150, 1) == ("", ("rollover",))


def test_a_declared_capacity_is_used_for_the_rollover() -> None:
    assert _step(1_999_900, 50, 1, capacity=2_000_000) == ("", ("rollover",))


def test_a_wrap_that_needs_more_energy_than_the_supply_gives_is_a_decrease() -> None:
    assert _step(99_000_000, 100, 1) == ("decrease", ())


def test_only_a_register_close_to_its_capacity_can_wrap() -> None:
    assert register_capacity(99_999_800) == 100_000_000
    assert register_capacity(1_500) is None
    assert register_capacity(55_000_000) is None


def test_more_than_the_supplys_maximum_over_the_elapsed_time_is_a_jump() -> None:
    assert _step(1_000_000, 1_015_000, 1) == ("", ())
    assert _step(1_000_000, 1_015_001, 1) == ("", ("jump",))


def test_more_than_ten_typical_days_is_a_jump() -> None:
    month = Typical(wh=300_000, span_ms=30 * DAY_MS)  # 10 kWh a day
    assert _step(1_000_000, 1_100_000, 24, typical=month) == ("", ())
    assert _step(1_000_000, 1_100_001, 24, typical=month) == ("", ("jump",))


def test_tariffs_adding_up_within_the_resolution_pass() -> None:
    energy = {"total": 1_000_000, "t1": 600_000, "t2": 300_000, "t3": 99_970}
    assert check_registers(energy, 3, 3, RULES).flags == ()
    energy["t3"] = 99_969
    assert check_registers(energy, 3, 3, RULES).flags == ("sum_mismatch",)


def test_a_tariff_register_beyond_the_meters_count_is_refused() -> None:
    verdict = check_registers({"total": 10, "t1": 5, "t2": 5}, 1, None, RULES)
    assert verdict.reason == "tariff_count: t2 beyond the meter's 1 tariffs"


def test_a_missing_tariff_register_is_flagged() -> None:
    assert check_registers({"total": 10, "t1": 5}, 2, 2, RULES).flags == ("missing_tariff",)
