"""Submission windows by region, and the billing period a reading counts for.

The windows are data (``accounting/data/submission_windows.toml``, shipped with the package),
validated once at load with errors naming the file and key. A period is a month, ``"2026-11"``.
A reading inside its region's window for month M counts for M; outside any window it is still
stored and counts for the period of the next window to open. An account with no region counts
by the calendar month (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from drivers.errors import ConfigError
from drivers.tomlfile import parse_toml, read_text

_FILE = "submission_windows.toml"


@dataclass(frozen=True)
class Window:
    """Days ``start_day``..``end_day`` (inclusive, local time) of each month, maybe into the next."""

    region: str
    name: str
    utc_offset_h: int
    start_day: int
    end_day: int
    end_next_month: bool = False

    def period_of(self, taken_at: datetime) -> tuple[str, bool]:
        """The period a reading taken at ``taken_at`` counts for, and whether it was in the window."""
        local = taken_at.astimezone(timezone(timedelta(hours=self.utc_offset_h)))
        day = (local.year, local.month, local.day)
        month = (local.year, local.month)
        for candidate in (_add_months(month, -1), month):
            if self._opens(candidate) <= day <= self._closes(candidate):
                return _label(candidate), True
        if day < self._opens(month):
            return _label(month), False
        return _label(_add_months(month, 1)), False

    def _opens(self, month: tuple[int, int]) -> tuple[int, int, int]:
        return (*month, self.start_day)

    def _closes(self, month: tuple[int, int]) -> tuple[int, int, int]:
        end_month = _add_months(month, 1) if self.end_next_month else month
        return (*end_month, self.end_day)


def calendar_period(taken_at: datetime) -> str:
    utc = taken_at.astimezone(timezone.utc)
    return _label((utc.year, utc.month))


def _label(month: tuple[int, int]) -> str:
    return f"{month[0]:04d}-{month[1]:02d}"


def _add_months(month: tuple[int, int], n: int) -> tuple[int, int]:
    index = month[0] * 12 + month[1] - 1 + n
    return index // 12, index % 12 + 1


@lru_cache(maxsize=1)
def shipped_windows() -> Mapping[str, Window]:
    """The windows file shipped in the package, by region code."""
    source = resources.files("accounting").joinpath("data", _FILE)
    return load_windows(source.read_text(encoding="utf-8"), file=f"accounting/data/{_FILE}")


def load_windows_file(path: Path) -> Mapping[str, Window]:
    return load_windows(read_text(path), file=str(path))


def load_windows(text: str, *, file: str) -> Mapping[str, Window]:
    data = parse_toml(text, file)
    regions = data.get("regions")
    if not isinstance(regions, dict) or not regions:
        raise ConfigError("no [regions.<code>] tables", file=file, key="regions")
    return {code: _window(code, table, file) for code, table in regions.items()}


def _window(code: str, table: Any, file: str) -> Window:
    where = f"regions.{code}"
    if not isinstance(table, dict):
        raise ConfigError("expected a table", file=file, key=where)
    known = {"name", "utc_offset_h", "start_day", "end_day", "end_next_month"}
    for key in table:
        if key not in known:
            raise ConfigError(f"unknown key (known: {', '.join(sorted(known))})", file=file,
                              key=f"{where}.{key}")

    def integer(key: str, low: int, high: int) -> int:
        value = table.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"expected an integer {low}..{high}, got {value!r}", file=file,
                              key=f"{where}.{key}")
        return value

    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("expected the region's name", file=file, key=f"{where}.name")
    end_next = table.get("end_next_month", False)
    if not isinstance(end_next, bool):
        raise ConfigError("expected true or false", file=file, key=f"{where}.end_next_month")
    # Day 28 at most, so every month has the day.
    window = Window(code, name, integer("utc_offset_h", -12, 14), integer("start_day", 1, 28),
                    integer("end_day", 1, 28), end_next)
    if not end_next and window.end_day < window.start_day:
        raise ConfigError("end_day before start_day; set end_next_month = true for a window "
                          "that ends in the next month", file=file, key=f"{where}.end_day")
    return window
