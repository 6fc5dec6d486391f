"""The fewest Modbus requests that read a model's registers, and the values cut out of them.

On an RTU bus at 9600 baud every request costs its frame, the reply's frame and two silences,
so one block of 40 registers is far cheaper than ten requests of four. The plan is computed
once per model (``ReadPlan.for_map`` is cached) and reused on every poll.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Sequence

from drivers.codec import decode_value
from drivers.profile import Register, RegisterMap

Value = int | float | str


class InvalidValue(ValueError):
    """A register holds NaN, infinity or the model's "not available" marker."""

    def __init__(self, register: Register, raw: object) -> None:
        self.register = register
        super().__init__(f"{register.quantity} @{register.address} holds no value ({raw!r})")


@dataclass(frozen=True)
class Block:
    """One request: ``count`` registers from ``address`` with one function code."""

    function: int
    address: int
    count: int
    registers: tuple[Register, ...]


@dataclass(frozen=True)
class ReadPlan:
    model: str
    blocks: tuple[Block, ...]

    @staticmethod
    def for_map(regmap: RegisterMap) -> ReadPlan:
        return _plan(regmap)

    def decode(self, replies: Sequence[Sequence[int]]) -> dict[str, Value]:
        """Values by quantity from one reply per block, in block order.

        Energy comes out as ``int`` Wh, the serial as ``str``, instantaneous values as
        ``float`` in base units. Raises ``InvalidValue`` for NaN or "not available".
        """
        if len(replies) != len(self.blocks):
            raise ValueError(f"expected {len(self.blocks)} replies, got {len(replies)}")
        values: dict[str, Value] = {}
        for block, words in zip(self.blocks, replies):
            if len(words) != block.count:
                raise ValueError(f"block @{block.address} expected {block.count} registers, "
                                 f"got {len(words)}")
            for reg in block.registers:
                start = reg.address - block.address
                values[reg.quantity] = scale_value(reg, words[start:start + reg.words])
        return values


def scale_value(reg: Register, words: Sequence[int]) -> Value:
    """Decode one register and bring it to base units (Wh, W, V, A, Hz)."""
    raw = decode_value(words, reg.type, reg.word_order)
    if isinstance(raw, int):
        if reg.invalid is not None and raw == reg.invalid:
            raise InvalidValue(reg, raw)
        if reg.quantity == "serial":
            return str(raw)
        if reg.is_energy:
            # The profile loader guarantees a whole number of Wh per count here.
            return raw * reg.scale.numerator
        return raw * reg.scale.numerator / reg.scale.denominator
    if not math.isfinite(raw):
        raise InvalidValue(reg, raw)
    if reg.is_energy:
        # The one float→energy conversion: exact product, nearest Wh, ties to even.
        return round(Fraction(raw) * reg.scale)
    return raw * reg.scale.numerator / reg.scale.denominator


@lru_cache(maxsize=None)
def _plan(regmap: RegisterMap) -> ReadPlan:
    blocks: list[Block] = []
    for function in sorted({r.function for r in regmap.registers}):
        regs = sorted((r for r in regmap.registers if r.function == function),
                      key=lambda r: r.address)
        group: list[Register] = []
        for reg in regs:
            if group:
                start = group[0].address
                end = max(r.address + r.words for r in group)
                gap = reg.address - end
                span = reg.address + reg.words - start
                if gap > regmap.max_gap or span > regmap.max_registers:
                    blocks.append(_block(function, group))
                    group = []
            group.append(reg)
        if group:
            blocks.append(_block(function, group))
    return ReadPlan(regmap.model, tuple(blocks))


def _block(function: int, group: list[Register]) -> Block:
    start = group[0].address
    end = max(r.address + r.words for r in group)
    return Block(function, start, end - start, tuple(group))


def one_request_per_value(regmap: RegisterMap) -> ReadPlan:
    """The naive plan (one request per quantity, as mbmd polls): the benchmark's baseline."""
    return ReadPlan(regmap.model, tuple(Block(r.function, r.address, r.words, (r,))
                                        for r in regmap.registers))



def rtu_wire_time_s(plan: ReadPlan, baudrate: int, bits_per_char: int = 11) -> float:
    """Seconds one poll of ``plan`` occupies an RTU line: its frames and the silences around them.

    Per request of n registers: the request frame is 8 bytes (unit, function, address, count, CRC),
    the reply 5 + 2n bytes (unit, function, byte count, n registers, CRC), and each of the two
    frames is preceded by the 3.5-character silence RTU requires, so 20 + 2n characters in all.
    A character is ``bits_per_char`` bit times: 11 is the Modbus RTU character (start, 8 data,
    parity or a second stop bit, stop); a line run at 8N1 sends 10. The meter's turnaround time
    (request received → reply started) is not on the wire and not included.
    """
    characters = sum(8 + 5 + 2 * block.count + 7 for block in plan.blocks)
    return characters * bits_per_char / baudrate
