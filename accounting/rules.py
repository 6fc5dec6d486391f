"""The retailer's rules, as pure functions of readings: what the store applies on every commit.

- Billing values are whole kWh, truncated (``billing_kwh``): 12345.99 kWh bills as 12345. Energy is
  an ``int`` of Wh throughout; nothing here divides into a float.
- ``check_step`` compares a reading with the one taken before it (or after it, when it arrives
  late): a register that went down is a ``decrease`` — rejected — unless it wrapped at the
  register's capacity (``rollover``); a rise beyond what the supply can physically deliver in the
  elapsed time, or beyond ``jump_multiple`` times the meter's typical daily consumption, is kept
  and flagged ``jump``.
- ``check_registers``: the tariff count is fixed per meter, and T1+T2+T3(+T4) must match the total
  within the registers' resolution (``sum_mismatch``).
- ``parse_kwh``: kWh typed by a person ("12345.99") to exact Wh, for commissioning and corrections.

Order is always by ``taken_at``, never by arrival: a shared subscription keeps order only within
one worker, and a spool drains after live readings of other meters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Mapping

from collector.reading import REGISTERS, TARIFF_REGISTERS

DAY_MS = 86_400_000
_MIN_CAPACITY_WH = 1_000_000
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Rules:
    """The tunable parts of the rules; the defaults are a household supply."""

    jump_multiple: int = 10
    """A rise above this many typical days' consumption is a ``jump``."""
    max_power_w: int = 15_000
    """The supply's physical maximum; a meter may override it."""
    resolution_wh: int = 10
    """Register resolution (0.01 kWh): T1+T2+T3 may differ from the total by this per register."""
    correction_window_ms: int = 24 * HOUR_MS
    """Corrections within this time of submission need no operator."""
    typical_span_ms: int = 30 * DAY_MS
    """How far back the typical daily consumption is measured."""


@dataclass(frozen=True)
class Point:
    """One meter's registers at one moment: a stored reading or a commissioning record."""

    taken_ms: int
    energy_wh: Mapping[str, int]


@dataclass(frozen=True)
class Typical:
    """Consumption of the total register over a span of history, for the ``jump`` rule."""

    wh: int
    span_ms: int


@dataclass(frozen=True)
class Verdict:
    """What the rules say about one reading: rejected (with a reason) or accepted with flags."""

    reason: str = ""
    flags: tuple[str, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return not self.reason


def billing_kwh(energy_wh: int) -> int:
    """Whole kWh the retailer bills: the fraction is dropped, never rounded."""
    return energy_wh // 1000


def parse_kwh(text: str) -> int:
    """``"12345.99"`` kWh → 12345990 Wh, exactly; more than three decimals would be below a Wh."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number of kWh: {text!r}") from exc
    wh = value * 1000
    if not value.is_finite() or value < 0 or wh != wh.to_integral_value():
        raise ValueError(f"expected kWh >= 0 with at most 3 decimals, got {text!r}")
    return int(wh)


def check_registers(energy_wh: Mapping[str, int], tariffs: int, meter_tariffs: int | None,
                    rules: Rules) -> Verdict:
    """The register set against the meter's fixed tariff count, and T1+…+Tn against the total."""
    if meter_tariffs is not None and tariffs != meter_tariffs:
        return Verdict(f"tariff_count: the meter has {meter_tariffs} tariffs, the reading says {tariffs}")
    extra = [r for r in TARIFF_REGISTERS[tariffs:] if r in energy_wh]
    if extra:
        return Verdict(f"tariff_count: {', '.join(extra)} beyond the meter's {tariffs} tariffs")
    present = [r for r in TARIFF_REGISTERS[:tariffs] if r in energy_wh]
    flags: list[str] = []
    if len(present) < tariffs:
        flags.append("missing_tariff")
    if "total" in energy_wh and present and len(present) == tariffs:
        gap = abs(sum(energy_wh[r] for r in present) - energy_wh["total"])
        if gap > rules.resolution_wh * tariffs:
            flags.append("sum_mismatch")
    return Verdict(flags=tuple(flags))


def check_step(before: Point, after: Point, *, capacity_wh: int | None, max_power_w: int,
               typical: Typical | None, rules: Rules) -> Verdict:
    """Compare two readings of one meter, ``before`` taken earlier than ``after``.

    The verdict is about ``after`` when it is the new reading, and about the new reading
    ``before`` when a later one is already stored (a late arrival must not exceed it).
    """
    elapsed_ms = max(after.taken_ms - before.taken_ms, 0)
    physical_wh = max_power_w * elapsed_ms // HOUR_MS
    flags: list[str] = []
    deltas: dict[str, int] = {}
    for register in REGISTERS:
        if register not in before.energy_wh or register not in after.energy_wh:
            continue
        old, new = before.energy_wh[register], after.energy_wh[register]
        if new >= old:
            deltas[register] = new - old
            continue
        capacity = capacity_wh if capacity_wh is not None else register_capacity(old)
        if capacity is None or capacity <= old or new + capacity - old > physical_wh:
            return Verdict(f"decrease: {register} {old} Wh at {before.taken_ms} → {new} Wh at "
                           f"{after.taken_ms}")
        deltas[register] = new + capacity - old
        if "rollover" not in flags:
            flags.append("rollover")
    rise = deltas.get("total", sum(deltas.values()))
    if rise > physical_wh:
        flags.append("jump")
    elif typical is not None and typical.span_ms > 0 and typical.wh > 0 and \
            rise * typical.span_ms > rules.jump_multiple * typical.wh * max(elapsed_ms, DAY_MS):
        flags.append("jump")
    return Verdict(flags=tuple(flags))


def register_capacity(value: int) -> int | None:
    """Where a register showing ``value`` is about to wrap, when its capacity is not known.

    A register of N decimal digits wraps at 10**N of its unit (Wh is the finest we see), so a
    value whose leading digit is 9 is close to its wrap. Displays hold at least 1000 kWh.
    """
    capacity = _MIN_CAPACITY_WH
    while capacity <= value:
        capacity *= 10
    return capacity if value * 10 >= capacity * 9 else None
