"""The tariff clock: which tariff register a meter counts into at a given local time.

A multi-rate meter switches its active tariff by a program of time zones covering the day, e.g.
the common three-zone day (``TariffClock.default()``): T1 peak 07:00–10:00 and 17:00–21:00,
T2 night 23:00–07:00, T3 semi-peak the rest. A program may differ by weekday. Zones are given in
the meter's local wall-clock time at minute resolution; a zone whose end is not after its start
runs through midnight *of the same calendar day's program* (23:00–07:00 covers 00:00–07:00 and
23:00–24:00 of that day), so every day's program is self-contained and a day is never ambiguous.

``segments`` cuts an interval at every zone boundary, so the energy of each piece can be counted
into its own tariff exactly.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Iterable, Mapping, Sequence

_DAY = 24 * 60
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class TariffZone:
    """One zone of a day's program: ``start`` (inclusive) to ``end``, "HH:MM", at ``tariff``."""

    start: str
    end: str
    tariff: int

    def __post_init__(self) -> None:
        if not isinstance(self.tariff, int) or isinstance(self.tariff, bool) \
                or not 1 <= self.tariff <= 4:
            raise ValueError(f"zone {self.start}–{self.end}: tariff must be 1..4, "
                             f"got {self.tariff!r}")
        _minutes(self.end)
        if _minutes(self.start) == _DAY:
            raise ValueError(f"zone {self.start}–{self.end}: a zone cannot start at 24:00")

    def __str__(self) -> str:
        return f"{self.start}–{self.end} T{self.tariff}"


@dataclass(frozen=True)
class TariffSegment:
    """A piece of an interval that lies in one tariff: [start, end)."""

    start: datetime
    end: datetime
    tariff: int


ZoneLike = TariffZone | tuple[str, str, int]


class TariffClock:
    """A validated tariff program: ``zones`` for every day, ``weekdays`` overriding some days.

    ``weekdays`` maps a weekday (0 = Monday … 6 = Sunday, as ``datetime.weekday()``) to its own
    zones. Each program must cover the 24 hours exactly once; ``ValueError`` names the gap or
    the overlap otherwise.
    """

    def __init__(self, zones: Sequence[ZoneLike],
                 weekdays: Mapping[int, Sequence[ZoneLike]] | None = None) -> None:
        self._default = _program(zones, "every day")
        self._by_weekday: dict[int, _Program] = {}
        for day, day_zones in (weekdays or {}).items():
            if not isinstance(day, int) or not 0 <= day <= 6:
                raise ValueError(f"weekday must be 0 (Monday) .. 6 (Sunday), got {day!r}")
            self._by_weekday[day] = _program(day_zones, WEEKDAYS[day])

    @staticmethod
    def default() -> TariffClock:
        """The three-zone day: T1 peak 07–10 and 17–21, T2 night 23–07, T3 semi-peak the rest."""
        return TariffClock([("07:00", "10:00", 1), ("10:00", "17:00", 3), ("17:00", "21:00", 1),
                            ("21:00", "23:00", 3), ("23:00", "07:00", 2)])

    @property
    def tariffs(self) -> frozenset[int]:
        """Every tariff some zone uses."""
        programs = [self._default, *self._by_weekday.values()]
        return frozenset(t for p in programs for t in p.tariffs)

    def zones(self, weekday: int | None = None) -> tuple[TariffZone, ...]:
        """The zones as given for ``weekday`` (the every-day program when it has no override)."""
        program = self._by_weekday.get(weekday, self._default) if weekday is not None \
            else self._default
        return program.zones

    def tariff_at(self, at: datetime) -> int:
        """The tariff active at the wall-clock time of ``at``."""
        program = self._program_for(at.date())
        minute = at.hour * 60 + at.minute
        return program.tariffs[bisect.bisect_right(program.starts, minute) - 1]

    def segments(self, start: datetime, end: datetime) -> list[TariffSegment]:
        """Cut [start, end) at every zone boundary; neighbours of one tariff are merged.

        ``start`` and ``end`` are wall-clock times (both naive, or both with the same tzinfo);
        an empty or reversed interval gives no segments.
        """
        pieces: list[TariffSegment] = []
        day = start.date()
        while start < end and day <= end.date():
            midnight = datetime.combine(day, time(0), tzinfo=start.tzinfo)
            program = self._program_for(day)
            for first, last, tariff in zip(program.starts, program.ends, program.tariffs):
                lo = max(start, midnight + timedelta(minutes=first))
                hi = min(end, midnight + timedelta(minutes=last))
                if lo >= hi:
                    continue
                if pieces and pieces[-1].tariff == tariff and pieces[-1].end == lo:
                    pieces[-1] = TariffSegment(pieces[-1].start, hi, tariff)
                else:
                    pieces.append(TariffSegment(lo, hi, tariff))
            day += timedelta(days=1)
        return pieces

    def _program_for(self, day: date) -> _Program:
        return self._by_weekday.get(day.weekday(), self._default)

    def __repr__(self) -> str:
        text = ", ".join(map(str, self._default.zones))
        extra = "".join(f"; {WEEKDAYS[d]}: " + ", ".join(map(str, p.zones))
                        for d, p in sorted(self._by_weekday.items()))
        return f"TariffClock({text}{extra})"


@dataclass(frozen=True)
class _Program:
    """One day's zones cut at midnight and sorted: minutes [starts[i], ends[i]) are tariffs[i]."""

    zones: tuple[TariffZone, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    tariffs: tuple[int, ...]


def _program(zones: Iterable[ZoneLike], day: str) -> _Program:
    given = tuple(z if isinstance(z, TariffZone) else _zone(z) for z in zones)
    if not given:
        raise ValueError(f"{day}: a tariff program needs at least one zone")
    spans = []  # (start, end) in minutes, end > start, end may pass 24:00 for a zone over midnight
    for zone in given:
        first, last = _minutes(zone.start), _minutes(zone.end)
        if last == first:
            raise ValueError(f"{day}: zone {zone} is empty")
        spans.append((first, last if last > first else last + _DAY, zone))
    spans.sort(key=lambda s: s[0])
    for (_, end, zone), (start, _, following) in zip(spans, spans[1:] + [(spans[0][0] + _DAY,
                                                                          0, spans[0][2])]):
        if end > start:
            raise ValueError(f"{day}: zones {zone} and {following} overlap")
        if end < start:
            raise ValueError(f"{day}: nothing covers {_hhmm(end)}–{_hhmm(start)}")
    cut: list[tuple[int, int, int]] = []
    for start, end, zone in spans:
        if end > _DAY:
            cut += [(start, _DAY, zone.tariff), (0, end - _DAY, zone.tariff)]
        else:
            cut.append((start, end, zone.tariff))
    cut.sort()
    return _Program(given, tuple(c[0] for c in cut), tuple(c[1] for c in cut),
                    tuple(c[2] for c in cut))


def _zone(spec: object) -> TariffZone:
    if not (isinstance(spec, (tuple, list)) and len(spec) == 3):
        raise ValueError(f"a zone is (start \"HH:MM\", end \"HH:MM\", tariff), got {spec!r}")
    start, end, tariff = spec
    return TariffZone(start, end, tariff)


def _minutes(hhmm: object) -> int:
    match = _HHMM.match(hhmm) if isinstance(hhmm, str) else None
    if not match or (match[1] == "24" and match[2] != "00"):
        raise ValueError(f"a zone time is \"HH:MM\" from 00:00 to 24:00, got {hhmm!r}")
    return int(match[1]) * 60 + int(match[2])


def _hhmm(minutes: int) -> str:
    minutes %= _DAY
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
