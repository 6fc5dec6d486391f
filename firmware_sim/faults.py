"""Misbehaviour a meter (one unit id) can show on the wire, switchable while the server runs.

A ``Fault`` happens on a request with its ``probability``; the draws come from a random stream
seeded by the server's seed and the unit id, so a test sees the same pattern every run. Several
faults may be active on one unit; each is drawn on every request and the outcomes combine:

    no_reply    the meter stays silent (the reader times out)
    exception   the meter answers with Modbus exception ``code`` instead of data
    garbage     the reply is replaced by as many random bytes
    crc         the reply's CRC is wrong (on Modbus TCP, which has no CRC, the gateway answers
                exception 0x0B "gateway target failed to respond", as a real RTU gateway does)
    slow        the reply leaves ``delay_s`` seconds late

A silent meter beats an exception, an exception beats garbage, garbage beats a bad CRC; a delay
applies to whatever is sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, Sequence

FaultKind = Literal["no_reply", "exception", "garbage", "crc", "slow"]
FAULT_KINDS: tuple[str, ...] = ("no_reply", "exception", "garbage", "crc", "slow")
GATEWAY_TARGET_FAILED = 0x0B


@dataclass(frozen=True)
class Fault:
    """One kind of misbehaviour; ``code`` is for ``exception``, ``delay_s`` for ``slow``."""

    kind: FaultKind
    probability: float = 1.0
    code: int = 0x04  # server device failure
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r} (one of {', '.join(FAULT_KINDS)})")
        if isinstance(self.probability, bool) or not 0 < self.probability <= 1:
            raise ValueError(f"fault probability must be in (0, 1], got {self.probability!r}")
        if not isinstance(self.code, int) or not 1 <= self.code <= 0xFF:
            raise ValueError(f"an exception code is 1..255, got {self.code!r}")
        if self.kind == "slow" and not self.delay_s > 0:
            raise ValueError(f"a slow reply needs delay_s > 0, got {self.delay_s!r}")
        if self.delay_s < 0:
            raise ValueError(f"delay_s cannot be negative, got {self.delay_s!r}")


@dataclass(frozen=True)
class Outcome:
    """What happens to one request: drop it, answer an exception, damage the reply, delay it."""

    silent: bool = False
    exception: int | None = None
    damage: Literal["garbage", "crc"] | None = None
    delay_s: float = 0.0


CLEAN = Outcome()


class FaultState:
    """The active faults of one unit and their random stream; replaced whole when switched."""

    def __init__(self, faults: Sequence[Fault], seed: int, unit: int) -> None:
        self.faults = tuple(faults)
        self.rng = random.Random(f"meterlink-faults/{seed}/{unit}")

    def draw(self) -> Outcome:
        if not self.faults:
            return CLEAN
        happened = [f for f in self.faults
                    if f.probability >= 1 or self.rng.random() < f.probability]
        kinds = {f.kind for f in happened}
        delay = sum(f.delay_s for f in happened if f.kind == "slow")
        if "no_reply" in kinds:
            return Outcome(silent=True)
        if "exception" in kinds:
            code = next(f.code for f in happened if f.kind == "exception")
            return Outcome(exception=code, delay_s=delay)
        damage = "garbage" if "garbage" in kinds else "crc" if "crc" in kinds else None
        return Outcome(damage=damage, delay_s=delay)  # type: ignore[arg-type]

    def garbage(self, size: int) -> bytes:
        return self.rng.randbytes(size)


class FaultBoard:
    """Every unit's faults on one server. ``set``/``clear`` may be called from any thread (each
    swaps one dict entry); ``draw`` runs on the server's event loop only."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._units: dict[int, FaultState] = {}

    def set(self, unit: int, faults: Sequence[Fault]) -> None:
        """Replace ``unit``'s faults; its random stream restarts, so a pattern is reproducible."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"expected Fault, got {fault!r}")
        self._units[unit] = FaultState(faults, self.seed, unit)

    def clear(self, unit: int | None = None) -> None:
        if unit is None:
            self._units.clear()
        else:
            self._units.pop(unit, None)

    def faults(self, unit: int) -> tuple[Fault, ...]:
        state = self._units.get(unit)
        return state.faults if state else ()

    def draw(self, unit: int) -> Outcome:
        state = self._units.get(unit)
        return state.draw() if state else CLEAN

    def garbage(self, unit: int, size: int) -> bytes:
        state = self._units.get(unit)
        return state.garbage(size) if state else bytes(size)
