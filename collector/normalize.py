"""Every model's register values → one ``Reading``, and the collector's checks on it.

Models differ in which registers they have (a total, or only tariffs; T4 or not), in resolution
(1 Wh, 10 Wh, a float kWh) and in capacity (the register width). This module hides those
differences and flags what a retailer would question, without dropping anything:

- ``sum_mismatch``: T1+…+Tn differs from the total by more than the registers' resolution allows;
- ``decrease``: a register went below its previous value and it is not a wrap at capacity;
- ``rollover``: a register wrapped around its capacity (previous near the top, new near zero);
- ``stale``: no energy register has moved for longer than ``stale_after_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from fractions import Fraction

from collector.reading import MeterRef, Quality, Reading
from drivers import RegisterMap
from drivers.codec import TYPE_WORDS
from drivers.plan import Value

_IMPORT = "energy.import."


def register_capacity_wh(regmap: RegisterMap, quantity: str) -> int | None:
    """The Wh at which an integer energy register wraps to zero; ``None`` for float registers."""
    reg = regmap.register(quantity)
    if reg.type.startswith("f"):
        return None
    bits = 16 * TYPE_WORDS[reg.type] - (1 if reg.type.startswith("s") else 0)
    return int((1 << bits) * reg.scale)


def register_resolution_wh(regmap: RegisterMap, quantity: str, value_wh: int) -> Fraction:
    """How far a register showing ``value_wh`` may be from the true energy, in Wh.

    An integer register truncates to its step; a float register rounds to its precision at
    that magnitude (an f32 of Wh steps by 2 Wh above 16.7 MWh) and then to the nearest Wh.
    """
    reg = regmap.register(quantity)
    if not reg.type.startswith("f"):
        return reg.scale
    raw = Fraction(value_wh) / reg.scale
    mantissa_bits = 23 if reg.type == "f32" else 52
    ulp = Fraction(2) ** (math.floor(math.log2(raw)) - mantissa_bits) if raw >= 1 else Fraction(0)
    return ulp * reg.scale + 1


@dataclass
class MeterTrack:
    """What the collector remembers of one meter between polls."""

    last: dict[str, int] = field(default_factory=dict)
    changed_at: datetime | None = None


@dataclass(frozen=True)
class Normalizer:
    """Builds readings for one meter; ``regmap`` decides resolution and capacity."""

    regmap: RegisterMap
    meter: MeterRef
    collector: str
    stale_after_s: float = 86400.0

    @cached_property
    def _fixed_resolution(self) -> dict[str, int]:
        """Integer registers' resolution (whole Wh by the loader's rule), known once per model."""
        return {q.removeprefix(_IMPORT): int(r.scale) for q in self.regmap.quantities
                if q.startswith(_IMPORT) and not (r := self.regmap.register(q)).type.startswith("f")}

    def energy(self, values: dict[str, Value]) -> dict[str, int]:
        energy: dict[str, int] = {}
        for quantity, value in values.items():
            if quantity.startswith(_IMPORT):
                assert isinstance(value, int)
                energy[quantity.removeprefix(_IMPORT)] = value
        if "total" not in energy:
            tariffs = [energy[t] for t in ("t1", "t2", "t3", "t4") if t in energy]
            energy["total"] = sum(tariffs)
        return energy

    def reading(self, values: dict[str, Value], taken_at: datetime, seq: int,
                track: MeterTrack) -> Reading:
        """A reading with its flags; ``track`` is updated to remember it."""
        energy = self.energy(values)
        flags = list(self.sum_flags(energy))
        flags += self.history_flags(energy, taken_at, track)
        serial = self.meter.serial or str(values.get("serial", ""))
        meter = MeterRef(serial, self.meter.model, self.meter.account)
        return Reading(meter=meter, taken_at=taken_at, source="modbus", energy_wh=energy,
                       tariffs=self.regmap.tariffs, quality=Quality(tuple(flags), 1.0),
                       collector=self.collector, seq=seq)

    def sum_flags(self, energy: dict[str, int]) -> list[str]:
        tariffs = [t for t in ("t1", "t2", "t3", "t4") if t in energy]
        if not tariffs or not self.has_register("total"):
            return []
        # Each register is off by up to its own resolution, independently of the others.
        tolerance = sum(self._fixed_resolution.get(r) or
                        register_resolution_wh(self.regmap, _IMPORT + r, energy[r])
                        for r in (*tariffs, "total"))
        diff = energy["total"] - sum(energy[t] for t in tariffs)
        return ["sum_mismatch"] if abs(diff) > tolerance else []

    def history_flags(self, energy: dict[str, int], taken_at: datetime,
                      track: MeterTrack) -> list[str]:
        flags: set[str] = set()
        moved = not track.last
        wrapped_any = False
        # Tariff registers first: a total derived from them wraps exactly when one of them does.
        for register in sorted(energy, key=lambda r: r == "total"):
            value, previous = energy[register], track.last.get(register)
            if previous is None or value == previous:
                continue
            moved = True
            if value < previous:
                wrapped = (wrapped_any if not self.has_register(register)
                           else self.wrapped(register, previous, value))
                wrapped_any |= wrapped
                flags.add("rollover" if wrapped else "decrease")
        if moved or track.changed_at is None:
            track.changed_at = taken_at
        elif (taken_at - track.changed_at).total_seconds() > self.stale_after_s:
            flags.add("stale")
        track.last = dict(energy)
        return sorted(flags)

    def has_register(self, register: str) -> bool:
        return _IMPORT + register in self.regmap.quantities

    def wrapped(self, register: str, previous: int, value: int) -> bool:
        capacity = register_capacity_wh(self.regmap, _IMPORT + register)
        return capacity is not None and previous > capacity * 0.9 and value < capacity * 0.1
