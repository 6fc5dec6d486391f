"""Read plans: the fewest requests within each meter's limits, computed once per model."""

from __future__ import annotations

import pytest

from drivers import ReadPlan, load_profile, parse_profile
from drivers.plan import one_request_per_value, rtu_wire_time_s


def _regmap(registers: str, meter_extra: str = ""):
    return parse_profile(f"""
[meter]
model = "plan-test"
title = "t"
vendor = "t"
document = "t"
{meter_extra}
{registers}""")


def _reg(quantity: str, address: int, kind: str = "u32", function: int = 3) -> str:
    return (f'[[register]]\nquantity = "{quantity}"\naddress = {address}\ntype = "{kind}"\n'
            f"function = {function}\n")


def _shape(plan: ReadPlan) -> list[tuple[int, int, int]]:
    return [(b.function, b.address, b.count) for b in plan.blocks]


def test_contiguous_registers_share_one_request() -> None:
    regmap = _regmap(_reg("energy.import.total", 0, "u64") + _reg("energy.import.t1", 4, "u64")
                     + _reg("energy.import.t2", 8, "u64"))
    assert _shape(ReadPlan.for_map(regmap)) == [(3, 0, 12)]


def test_small_gap_is_bridged_and_large_gap_splits() -> None:
    regmap = _regmap(_reg("energy.import.total", 0) + _reg("energy.import.t1", 10)
                     + _reg("energy.import.t2", 30), meter_extra="max_gap = 8")
    assert _shape(ReadPlan.for_map(regmap)) == [(3, 0, 12), (3, 30, 2)]


def test_block_never_exceeds_the_meters_register_limit() -> None:
    regs = "".join(_reg(f"energy.import.t{i}", 2 * (i - 1)) for i in range(1, 5))
    regmap = _regmap(_reg("energy.import.total", 8) + regs, meter_extra="max_registers = 4")
    plan = ReadPlan.for_map(regmap)
    assert _shape(plan) == [(3, 0, 4), (3, 4, 4), (3, 8, 2)]


def test_holding_and_input_registers_are_separate_requests() -> None:
    regmap = _regmap(_reg("energy.import.total", 0, function=4) + _reg("serial", 2, function=3))
    assert _shape(ReadPlan.for_map(regmap)) == [(3, 2, 2), (4, 0, 2)]


def test_plan_is_computed_once_per_model() -> None:
    assert ReadPlan.for_map(load_profile("generic")) is ReadPlan.for_map(load_profile("generic"))


def test_baseline_plan_asks_once_per_value() -> None:
    regmap = load_profile("schneider-iem3255")
    baseline = one_request_per_value(regmap)
    assert len(baseline.blocks) == len(regmap.registers)
    assert len(ReadPlan.for_map(regmap).blocks) == 1


def test_decode_refuses_a_missing_reply() -> None:
    plan = ReadPlan.for_map(load_profile("abb-a43"))
    with pytest.raises(ValueError, match="expected 2 replies"):
        plan.decode([[0] * plan.blocks[0].count])


def test_decode_refuses_a_short_reply() -> None:
    plan = ReadPlan.for_map(load_profile("abb-a43"))
    with pytest.raises(ValueError, match="expected 8 registers"):
        plan.decode([[0] * 7, [0, 1]])


def test_rtu_wire_time_counts_frames_and_silences() -> None:
    # One request of 2 registers: 8 + (5 + 4) bytes and 2 × 3.5 characters of silence = 24 chars.
    regmap = _regmap(_reg("energy.import.total", 0))
    assert rtu_wire_time_s(ReadPlan.for_map(regmap), 9600) == pytest.approx(24 * 11 / 9600)
    assert rtu_wire_time_s(ReadPlan.for_map(regmap), 9600, bits_per_char=10) == pytest.approx(
        24 * 10 / 9600)
