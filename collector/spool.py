"""The durable outbox between a poll and the broker: a SQLite file in WAL mode.

Every reading is committed here before anything is published, and leaves only when its delivery
is confirmed (the accounting side's acknowledgement, or a PUBACK for ``delivery = "broker"``), so a
broker outage, a network cut or a ``kill -9`` of the collector loses nothing: the next run drains
what is left. Readings are handed out in ``(taken_at, spool order)`` order, which keeps each meter's
readings in the order they were taken however they arrived.

The size limit refuses new readings with ``DeliveryError`` rather than dropping old ones; the age
limit expires readings nobody confirmed for that long, and both are counted so they are reported.

A ``Spool`` is used by one thread at a time (the publisher's delivery thread); it is opened with
``check_same_thread=False`` so it may be created in another.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from collector.reading import Reading
from drivers.errors import DeliveryError

SpoolKey = tuple[int, int]
"""Position in hand-out order: (taken_at in ms since the epoch, spool sequence number)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    serial     TEXT NOT NULL,
    taken_ms   INTEGER NOT NULL,
    spooled_at REAL NOT NULL,
    payload    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (taken_ms);
CREATE INDEX IF NOT EXISTS outbox_age ON outbox (spooled_at);
"""


@dataclass(frozen=True)
class SpoolConfig:
    """Where the spool lives and how much it may hold; ``max_age_s = None`` never expires."""

    path: Path
    max_readings: int = 1_000_000
    max_age_s: float | None = 30 * 86400.0


@dataclass(frozen=True)
class SpooledReading:
    """A reading as the spool holds it: its wire payload, ready to publish again as it was."""

    key: SpoolKey
    id: str
    serial: str
    payload: str


class Spool:
    """SQLite (WAL) outbox of readings waiting for delivery."""

    def __init__(self, config: SpoolConfig) -> None:
        self.config = config
        path = Path(config.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # Each transaction chooses FULL (survives power loss: new readings) or NORMAL
            # (survives a killed process: forgetting confirmed ones); see ``transaction``.
            self._db.executescript(_SCHEMA)
            self._count = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        except sqlite3.Error as exc:
            raise DeliveryError(f"spool {path}: {exc}") from exc

    @property
    def count(self) -> int:
        """Readings waiting for confirmation."""
        return self._count

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Spool]:
        """Everything in the ``with`` block commits at once, with one fsync when ``durable``.

        New readings need ``durable``: the caller is told they are safe. A transaction that only
        forgets confirmed readings need not wait for the disk: if the machine loses it, those
        readings are published again and the accounting side ignores the copies. (In WAL mode a
        later durable commit syncs the earlier frames anyway.)
        """
        self._execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._rollback()
            raise
        try:
            self._execute("COMMIT")
        except DeliveryError:
            self._rollback()
            raise

    def add(self, readings: Sequence[Reading], now: float) -> int:
        """Spool readings (a reading already spooled is kept once); returns how many were new.

        Raises ``DeliveryError`` when they would take the spool past ``max_readings``: the caller
        still holds them, nothing is dropped silently.
        """
        if self._count + len(readings) > self.config.max_readings:
            raise DeliveryError(f"spool full: {self._count} readings waiting, limit "
                                f"{self.config.max_readings}; {len(readings)} refused")
        rows = [(r.id, r.meter.serial, epoch_ms(r.taken_at), now, r.to_json()) for r in readings]
        cursor = self._execute_many(
            "INSERT OR IGNORE INTO outbox (id, serial, taken_ms, spooled_at, payload) "
            "VALUES (?, ?, ?, ?, ?)", rows)
        added = max(cursor.rowcount, 0)
        self._count += added
        return added

    def delete(self, ids: Iterable[str]) -> int:
        """Forget confirmed readings; unknown ids (confirmed twice, or by a previous run) are fine."""
        rows = [(i,) for i in ids]
        if not rows:
            return 0
        cursor = self._execute_many("DELETE FROM outbox WHERE id = ?", rows)
        deleted = max(cursor.rowcount, 0)
        self._count -= deleted
        return deleted

    def after(self, key: SpoolKey | None, limit: int) -> list[SpooledReading]:
        """The next ``limit`` readings in hand-out order strictly after ``key`` (from the start if None)."""
        start = key if key is not None else (-(2**62), -1)
        rows = self._execute(
            "SELECT taken_ms, seq, id, serial, payload FROM outbox "
            "WHERE (taken_ms, seq) > (?, ?) ORDER BY taken_ms, seq LIMIT ?",
            (start[0], start[1], limit)).fetchall()
        return [SpooledReading((t, s), i, serial, p) for t, s, i, serial, p in rows]

    def expire(self, now: float) -> list[str]:
        """Delete readings older than ``max_age_s`` and return their ids, so the loss is reported."""
        if self.config.max_age_s is None:
            return []
        rows = self._execute("DELETE FROM outbox WHERE spooled_at < ? RETURNING id",
                             (now - self.config.max_age_s,)).fetchall()
        self._count -= len(rows)
        return [r[0] for r in rows]

    def oldest_spooled_at(self) -> float | None:
        row = self._execute("SELECT min(spooled_at) FROM outbox").fetchone()
        return None if row[0] is None else float(row[0])

    def size_bytes(self) -> int:
        """Bytes of the database file and its write-ahead log."""
        path = Path(self.config.path)
        return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())

    def close(self) -> None:
        try:
            self._db.close()
        except sqlite3.Error as exc:
            raise DeliveryError(f"spool {self.config.path}: {exc}") from exc

    def _execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise DeliveryError(f"spool {self.config.path}: {exc}") from exc

    def _execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> sqlite3.Cursor:
        try:
            return self._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise DeliveryError(f"spool {self.config.path}: {exc}") from exc

    def _rollback(self) -> None:
        # SQLite may already have rolled back on its own (disk full, I/O error).
        if self._db.in_transaction:
            self._execute("ROLLBACK")
        self._count = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, in integers (a float timestamp would round some of them)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)
