"""TOML config files whose errors name the line: the parse, and where each table and key sits.

``tomllib`` gives a line for a syntax error but forgets positions once parsing succeeds, so a
semantic error ("unknown model", "duplicate unit") would otherwise leave a user searching.
``TomlLines`` re-scans the text for ``[table]``, ``[[array]]`` headers and ``key =`` lines (skipping
comments and the continuation lines of multi-line arrays and inline tables). Profiles, the site
config and the simulator config all use it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from drivers.errors import ConfigError


def read_text(path: Path) -> str:
    """A config file's text; an unreadable file is a ``ConfigError`` naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from exc


def parse_toml(text: str, file: str) -> dict[str, Any]:
    """The parsed document; a syntax error becomes a ``ConfigError`` naming file and line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigError(str(exc), file=file, line=int(line[1]) if line else None) from exc


class TomlLines:
    """Line numbers of the tables and keys of a TOML text.

    Tables are addressed as ``(name, index)``: ``index`` is the position in an ``[[array]]``,
    0 for a plain ``[table]``.
    """

    def __init__(self, text: str) -> None:
        self._tables: dict[tuple[str, int], int] = {}
        self._keys: dict[tuple[str, int, str], int] = {}
        counts: dict[str, int] = {}
        current = ("", 0)
        depth = 0
        for number, raw in enumerate(text.splitlines(), 1):
            line = _code(raw).strip()
            if depth > 0:
                depth += _balance(line)
                continue
            if match := re.fullmatch(r"\[\[\s*([\w.-]+)\s*\]\]", line):
                name = match[1]
                current = (name, counts.get(name, 0))
                counts[name] = current[1] + 1
                self._tables[current] = number
            elif match := re.fullmatch(r"\[\s*([\w.-]+)\s*\]", line):
                current = (match[1], 0)
                self._tables[current] = number
            elif match := re.match(r"([\w-]+)\s*=(.*)", line):
                self._keys.setdefault((*current, match[1]), number)
                depth = _balance(match[2])

    def line(self, table: str, index: int = 0, key: str | None = None) -> int | None:
        """The line of ``key`` in the ``index``-th ``table`` (a sub-table's header for a key that
        is one), else of the table's header."""
        found = None
        if key is not None:
            dotted = f"{table}.{key}" if table else key
            found = self._keys.get((table, index, key)) or self._tables.get((dotted, index))
        return found or self._tables.get((table, index))


def _code(line: str) -> str:
    """``line`` without its comment (a ``#`` outside of a string)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            return line[:i]
    return line


def _balance(text: str) -> int:
    """Brackets and braces opened minus closed, outside of strings."""
    depth, quote = 0, ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth
