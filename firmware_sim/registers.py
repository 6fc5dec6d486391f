"""Values → register words: the simulator's own encoder, the inverse of a meter reader's decoder.

A virtual meter lays its registers out from a ``RegisterMap`` (the drivers' model of a meter) but
encodes every value here, with its own code, so a bug in the drivers' decoder cannot hide behind
the same bug in the simulator. The four word orders are those of the Modbus meter world:

    big      ABCD   most significant word first, big-endian bytes (the Modbus convention)
    little   CDAB   least significant word first ("word swapped")
    swapped  BADC   bytes swapped inside each word, words most significant first
    reversed DCBA   every byte in reverse: a fully little-endian value

Energy registers count in whole units of ``scale`` Wh and wrap to zero at the type's capacity,
as a real meter's counter does; the simulator keeps the unbounded count and shows it modulo.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator

from drivers.profile import Register, RegisterMap

_BITS = {"u16": 16, "s16": 16, "u32": 32, "s32": 32, "u64": 64, "s64": 64, "f32": 32, "f64": 64}
_FLOAT_FORMAT = {"f32": ">f", "f64": ">d"}


class IllegalAddress(LookupError):
    """A read touches a register the meter does not have (a Modbus exception 02 on the wire)."""


def encode_value(value: int | float, kind: str, order: str = "big") -> tuple[int, ...]:
    """Encode one value of register type ``kind`` into words in ``order``.

    Integers must fit the type (``ValueError`` otherwise); floats are packed by IEEE 754, so an
    f32 holds the nearest single-precision value.
    """
    if kind not in _BITS:
        raise ValueError(f"unknown register type {kind!r}")
    size = _BITS[kind] // 8
    if kind in _FLOAT_FORMAT:
        raw = struct.pack(_FLOAT_FORMAT[kind], value)
    else:
        if not isinstance(value, int):
            raise ValueError(f"{kind} holds integers, got {value!r}")
        try:
            raw = value.to_bytes(size, "big", signed=kind.startswith("s"))
        except OverflowError:
            raise ValueError(f"{value} does not fit {kind}") from None
    if order in ("swapped", "reversed"):
        raw = bytes(raw[i ^ 1] for i in range(size))  # exchange the two bytes of every word
    words = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, size, 2)]
    if order in ("little", "reversed"):
        words.reverse()
    elif order not in ("big", "swapped"):
        raise ValueError(f"unknown word order {order!r}")
    return tuple(words)


def counter_modulus(reg: Register) -> int | None:
    """How many raw counts an integer register holds before it wraps; ``None`` for floats.

    A signed register used as a counter wraps at its largest positive value, never going negative.
    """
    if reg.type.startswith("f"):
        return None
    bits = _BITS[reg.type]
    return 2 ** (bits - 1) if reg.type.startswith("s") else 2 ** bits


def capacity_wh(reg: Register) -> int | None:
    """The Wh at which an integer energy register rolls over to zero (type max × scale)."""
    modulus = counter_modulus(reg)
    return None if modulus is None else int(modulus * reg.scale)


def energy_raw(reg: Register, wh: int) -> int | float:
    """What an energy register shows for an unbounded count of ``wh``: whole units, wrapped."""
    if reg.type.startswith("f"):
        return float(Fraction(wh) / reg.scale)
    modulus = counter_modulus(reg)
    assert modulus is not None
    return int(wh // reg.scale) % modulus


def measured_raw(reg: Register, value: float) -> int | float:
    """An instantaneous value in base units (W, V, A, Hz) → the register's raw units.

    Integer registers take the nearest count, clamped to the type's range.
    """
    raw = value / float(reg.scale)
    if reg.type.startswith("f"):
        return raw
    bits = _BITS[reg.type]
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if reg.type.startswith("s") \
        else (0, 2 ** bits - 1)
    return min(max(round(raw), low), high)


def shown_energy_wh(reg: Register, wh: int) -> int:
    """The Wh a correct reader decodes from the register: truncated to its resolution, wrapped,
    and for a float register the nearest Wh of the value the float can hold."""
    raw = energy_raw(reg, wh)
    if isinstance(raw, float):
        fmt = _FLOAT_FORMAT[reg.type]
        stored = struct.unpack(fmt, struct.pack(fmt, raw))[0]
        if not math.isfinite(stored):
            raise ValueError(f"{wh} Wh does not fit {reg.type}")
        return round(Fraction(stored) * reg.scale)
    return int(raw * reg.scale)


@dataclass(frozen=True)
class Span:
    """Addresses a meter answers for one function code: its registers and the small gaps between."""

    function: int
    start: int
    end: int  # exclusive
    registers: tuple[Register, ...]


@dataclass(frozen=True)
class RegisterLayout:
    """Where a model's registers live on the wire, and which reads a meter of that model accepts.

    Gaps of up to ``max_gap`` registers between two values read as zero, because a reader's plan
    bridges exactly those; a read reaching outside a span is an illegal address, as on most meters.
    """

    spans: tuple[Span, ...]

    @staticmethod
    def of(regmap: RegisterMap) -> RegisterLayout:
        spans: list[Span] = []
        for function in sorted({r.function for r in regmap.registers}):
            group: list[Register] = []
            for reg in sorted((r for r in regmap.registers if r.function == function),
                              key=lambda r: r.address):
                if group and reg.address - _end(group) > regmap.max_gap:
                    spans.append(Span(function, group[0].address, _end(group), tuple(group)))
                    group = []
                group.append(reg)
            spans.append(Span(function, group[0].address, _end(group), tuple(group)))
        return RegisterLayout(tuple(spans))

    def registers_in(self, function: int, address: int, count: int) -> Iterator[Register]:
        """The registers overlapping ``count`` words from ``address``; raises ``IllegalAddress``
        unless the whole range lies inside one span."""
        end = address + count
        for span in self.spans:
            if span.function == function and span.start <= address and end <= span.end:
                return (r for r in span.registers
                        if r.address < end and address < r.address + r.words)
        raise IllegalAddress(f"fc{function} {address}..{end - 1} is outside the register map")


def _end(group: list[Register]) -> int:
    return max(r.address + r.words for r in group)


def shown_measured(reg: Register, value: float) -> float:
    """The value in base units a correct reader decodes from an instantaneous register."""
    raw = measured_raw(reg, value)
    if isinstance(raw, float):
        fmt = _FLOAT_FORMAT[reg.type]
        raw = struct.unpack(fmt, struct.pack(fmt, raw))[0]
    return float(Fraction(raw) * reg.scale)
