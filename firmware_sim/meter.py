"""``VirtualMeter``: a multi-tariff electricity meter whose registers move with simulated time.

Energy is counted the way a meter's firmware must count it to never drift: in exact integer
W·µs per tariff, starting from the configured register values. A register shows whole Wh (or
whole units of its scale), and the total is the sum of the tariff registers' whole Wh, so
T1+T2+T3(+T4) == total always holds, while the sub-Wh remainders stay in the counters for the
next request. Counters are unbounded; a register shows its counter modulo its capacity (the
type's range × scale) and so rolls over to zero as a real one does.

Values are computed when a request arrives, from the meter's clock: reading a meter at any
sequence of times gives the same registers at a given time as reading it once.

A model with fewer tariff registers than the tariff program uses counts the missing tariffs'
zones in its first tariff register, as a two-rate (day/night) meter counts "semi-peak" as day.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Mapping

from drivers.profile import Register, RegisterMap
from firmware_sim.clock import SimClock
from firmware_sim.load import LoadProfile
from firmware_sim.registers import (
    RegisterLayout,
    encode_value,
    energy_raw,
    measured_raw,
    shown_energy_wh,
    shown_measured,
)
from firmware_sim.tariff import TariffClock

WUS_PER_WH = 3600 * 1_000_000
NOMINAL_VOLTAGE = 230.0
NOMINAL_FREQUENCY = 50.0
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_LOCAL = datetime(1970, 1, 1)
_START_KEYS = ("total", "t1", "t2", "t3", "t4")
_layout_of = lru_cache(maxsize=None)(RegisterLayout.of)


@dataclass(frozen=True)
class MeterState:
    """A meter's counters at one simulated moment; energies are unbounded Wh (no rollover)."""

    at: datetime
    import_wh: tuple[int, int, int, int]  # T1..T4
    export_wh: tuple[int, int, int, int]
    power_w: int
    tariff: int  # the tariff register counting now

    @property
    def total_wh(self) -> int:
        return sum(self.import_wh)

    @property
    def export_total_wh(self) -> int:
        return sum(self.export_wh)

    def energy_wh(self, quantity: str) -> int:
        """The unbounded counter behind an ``energy.(import|export).(total|tN)`` quantity."""
        _, direction, register = quantity.split(".")
        counters = self.import_wh if direction == "import" else self.export_wh
        return sum(counters) if register == "total" else counters[int(register[1]) - 1]


class VirtualMeter:
    """One simulated meter of model ``regmap``; see the module docstring for how it counts.

    ``start_wh``/``export_wh`` give the registers' starting values by ``t1``..``t4`` (the total is
    their sum; a model without tariff registers takes ``total`` alone). ``utc_offset`` is the
    meter's local time, which its tariff program and load shape follow. ``refresh`` is how often
    the firmware updates its register image (in simulated time; ``None``: on every request): a
    real meter's registers move in steps, and a reader that needs several requests for one
    reading sees one consistent image unless a refresh falls between them. Raises
    ``ValueError`` for a serial the model's serial register cannot hold or start values the
    model has no register for.
    """

    def __init__(self, serial: str, regmap: RegisterMap, *, clock: SimClock,
                 load: LoadProfile | None = None, tariffs: TariffClock | None = None,
                 start_wh: Mapping[str, int] | None = None,
                 export_wh: Mapping[str, int] | None = None,
                 utc_offset: timedelta = timedelta(0),
                 refresh: timedelta | None = None) -> None:
        if refresh is not None and refresh <= timedelta(0):
            raise ValueError(f"refresh must be positive, got {refresh!r}")
        self.serial = serial
        self.regmap = regmap
        self.clock = clock
        self.load = load if load is not None else LoadProfile()
        self.tariffs = tariffs if tariffs is not None else TariffClock.default()
        self.utc_offset = utc_offset
        self._layout = _layout_of(regmap)
        self._serial_raw = _serial_raw(serial, regmap)
        present = [n for n in range(1, 5) if f"energy.import.t{n}" in regmap.quantities]
        home = min(present, default=1)
        self._fold = {t: (t if t in present else home) for t in range(1, 5)}
        self._offset_us = _micros(utc_offset)
        self._refresh_us = _micros(refresh) if refresh is not None else 1
        self._lock = threading.Lock()
        self._import = [wh * WUS_PER_WH for wh in _start(start_wh, regmap, "import")]
        self._export = tuple(_start(export_wh, regmap, "export"))
        self._at = _utc_us(clock.now())
        self._at -= self._at % self._refresh_us

    @property
    def model(self) -> str:
        return self.regmap.model

    def state(self, now: datetime | None = None) -> MeterState:
        """The counters at ``now`` (default: the meter's clock), counting the energy since the
        last request; raises ``ValueError`` if ``now`` is before a time already counted."""
        with self._lock:
            at = _utc_us(now if now is not None else self.clock.now())
            at -= at % self._refresh_us  # the image of the last firmware refresh
            if at < self._at:
                raise ValueError(f"{self.serial}: time went back to {_utc(at).isoformat()} "
                                 f"after {_utc(self._at).isoformat()}")
            if at > self._at:
                self._count(self._at, at)
                self._at = at
            local = at + self._offset_us
            imported = tuple(c // WUS_PER_WH for c in self._import)
            return MeterState(
                at=_utc(at),
                import_wh=imported,  # type: ignore[arg-type]
                export_wh=self._export,  # type: ignore[arg-type]
                power_w=self.load.power_w(local),
                tariff=self._fold[self.tariffs.tariff_at(_local(local))],
            )

    def values(self, now: datetime | None = None) -> dict[str, int | float | str]:
        """Every quantity as a correct reader decodes it at ``now``: energy in whole Wh at the
        register's resolution and after rollover, the serial as text, the rest as floats."""
        state = self.state(now)
        return {reg.quantity: self._shown(reg, state) for reg in self.regmap.registers}

    def registers(self, now: datetime | None = None) -> dict[tuple[int, int], int]:
        """Every register word at ``now``, keyed by (function code, address)."""
        state = self.state(now)
        words: dict[tuple[int, int], int] = {}
        for reg in self.regmap.registers:
            for offset, word in enumerate(self._words(reg, state)):
                words[(reg.function, reg.address + offset)] = word
        return words

    def read(self, function: int, address: int, count: int,
             now: datetime | None = None) -> list[int]:
        """The words a read request gets; gaps between values read as 0.

        Raises ``firmware_sim.registers.IllegalAddress`` when the range leaves the register map.
        """
        regs = list(self._layout.registers_in(function, address, count))
        state = self.state(now)
        words = [0] * count
        for reg in regs:
            for offset, word in enumerate(self._words(reg, state)):
                index = reg.address + offset - address
                if 0 <= index < count:
                    words[index] = word
        return words

    def _count(self, start_us: int, end_us: int) -> None:
        offset = self._offset_us
        for piece in self.tariffs.segments(_local(start_us + offset), _local(end_us + offset)):
            energy = self.load.energy_wus(_local_us(piece.start), _local_us(piece.end))
            self._import[self._fold[piece.tariff] - 1] += energy

    def _value(self, reg: Register, state: MeterState) -> float:
        quantity = reg.quantity
        phase_w = state.power_w / 3
        if quantity == "power.active.total":
            return float(state.power_w)
        if quantity.startswith("power.active.l"):
            return phase_w
        if quantity.startswith("voltage."):
            return NOMINAL_VOLTAGE
        if quantity.startswith("current."):
            return phase_w / NOMINAL_VOLTAGE
        if quantity == "frequency":
            return NOMINAL_FREQUENCY
        raise AssertionError(f"no simulated value for {quantity}")  # profile.QUANTITY is closed

    def _shown(self, reg: Register, state: MeterState) -> int | float | str:
        if reg.quantity == "serial":
            return self.serial
        if reg.is_energy:
            return shown_energy_wh(reg, state.energy_wh(reg.quantity))
        return shown_measured(reg, self._value(reg, state))

    def _words(self, reg: Register, state: MeterState) -> tuple[int, ...]:
        raw: int | float
        if reg.quantity == "serial":
            raw = self._serial_raw
        elif reg.is_energy:
            raw = energy_raw(reg, state.energy_wh(reg.quantity))
        else:
            raw = measured_raw(reg, self._value(reg, state))
        return encode_value(raw, reg.type, reg.word_order)

    def __repr__(self) -> str:
        return f"VirtualMeter({self.serial!r}, {self.regmap.model!r})"


def _serial_raw(serial: str, regmap: RegisterMap) -> int:
    if not isinstance(serial, str) or not serial:
        raise ValueError(f"a serial number is a non-empty string, got {serial!r}")
    if "serial" not in regmap.quantities:
        return 0
    reg = regmap.register("serial")
    if not serial.isdigit() or not serial.isascii() or (serial != "0" and serial[0] == "0"):
        raise ValueError(f"serial {serial!r}: model {regmap.model} holds its serial as a number "
                         f"({reg.type}), so it must be decimal digits without a leading zero")
    try:
        encode_value(int(serial), reg.type)
    except ValueError:
        raise ValueError(f"serial {serial!r} does not fit {regmap.model}'s {reg.type} serial "
                         f"register") from None
    return int(serial)


def _start(given: Mapping[str, int] | None, regmap: RegisterMap, direction: str) -> list[int]:
    """Starting Wh of T1..T4 from ``t1``..``t4`` (or ``total`` for a model without tariffs)."""
    given = dict(given or {})
    label = f"{direction} start value"
    for key, value in given.items():
        if key not in _START_KEYS:
            raise ValueError(f"{label}: unknown register {key!r} (one of {', '.join(_START_KEYS)})")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{label} {key}: must be a non-negative integer of Wh, got {value!r}")
    present = [n for n in range(1, 5) if f"energy.{direction}.t{n}" in regmap.quantities]
    counters = [0, 0, 0, 0]
    for n in range(1, 5):
        key = f"t{n}"
        if key in given and n not in present:
            raise ValueError(f"{label} {key}: model {regmap.model} has no {direction} "
                             f"T{n} register")
        counters[n - 1] = given.get(key, 0)
    if "total" in given:
        if not present:
            counters[0] = given["total"]
        elif given["total"] != sum(counters):
            raise ValueError(f"{label} total: {given['total']} is not the sum of the tariff "
                             f"registers ({sum(counters)}); give t1..t{max(present)} alone")
    return counters


def _micros(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def _utc_us(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError(f"simulated time needs a time zone, got naive {at.isoformat()}")
    return _micros(at - _EPOCH)


def _utc(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _local(us: int) -> datetime:
    return _EPOCH_LOCAL + timedelta(microseconds=us)


def _local_us(at: datetime) -> int:
    return _micros(at - _EPOCH_LOCAL)
