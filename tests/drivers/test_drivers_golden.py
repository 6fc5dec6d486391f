"""Golden vectors: register words written from each vendor document decode to the documented values.

The words live in ``fixtures/<model>/*.toml`` (see the README there); the test builds the replies a
meter would send for the model's read plan and decodes them through ``ReadPlan`` — the same path a
poll takes — so block slicing, word order, type, scale and rounding are all checked at once.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from drivers import InvalidValue, ReadPlan, list_profiles, load_profile

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(FIXTURES.glob("*/*.toml"))


def _replies(plan: ReadPlan, case: dict) -> list[list[int]]:
    """What the meter answers to each block: documented words, 0 in the bridged unused registers."""
    image: dict[tuple[int, int], int] = {}
    for entry in case["registers"]:
        for offset, word in enumerate(entry["words"]):
            image[(entry["function"], entry["address"] + offset)] = word
    for block in plan.blocks:
        for reg in block.registers:
            missing = [a for a in range(reg.address, reg.address + reg.words)
                       if (block.function, a) not in image]
            assert not missing, f"fixture lacks {reg.quantity} words at {missing}"
    return [[image.get((b.function, a), 0) for a in range(b.address, b.address + b.count)]
            for b in plan.blocks]


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_vector_decodes_to_documented_values(path: Path) -> None:
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    plan = ReadPlan.for_map(load_profile(path.parent.name))
    replies = _replies(plan, case)
    if "refused" in case:
        with pytest.raises(InvalidValue) as info:
            plan.decode(replies)
        assert info.value.register.quantity == case["refused"]["quantity"]
        return
    values = plan.decode(replies)
    assert set(values) == set(case["expected"])
    for quantity, expected in case["expected"].items():
        got = values[quantity]
        if quantity.startswith("energy."):
            assert type(got) is int, f"{quantity} must be int Wh, got {got!r}"
        if isinstance(expected, float):
            assert math.isclose(got, expected), quantity
        else:
            assert got == expected, quantity


def test_every_shipped_profile_has_golden_vectors() -> None:
    with_vectors = {p.parent.name for p in CASES}
    assert set(list_profiles()) <= with_vectors
