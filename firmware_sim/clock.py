"""Simulated time: a meter reads its clock at every request, so its registers move with it.

``AcceleratedClock`` lets a simulated day pass in seconds (sim time = start + factor × wall time
elapsed, on the monotonic clock so a wall-clock jump cannot make a meter run backwards);
``ManualClock`` stands still until a test moves it, which makes register values deterministic.
Both return aware UTC datetimes truncated to the microsecond, the meter's unit of accounting.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol


class SimClock(Protocol):
    def now(self) -> datetime:
        """The current simulated time, an aware datetime."""
        ...


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"simulated time needs a time zone, got naive {at.isoformat()}")
    return at.astimezone(timezone.utc)


class ManualClock:
    """A clock that moves only when told to; safe to move from another thread than the server's."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        at = _aware(at)
        with self._lock:
            if at < self._now:
                raise ValueError(f"a meter's clock cannot go back from {self._now.isoformat()} "
                                 f"to {at.isoformat()}")
            self._now = at

    def advance(self, by: timedelta) -> datetime:
        with self._lock:
            if by < timedelta(0):
                raise ValueError(f"a meter's clock cannot go back ({by})")
            self._now += by
            return self._now


class AcceleratedClock:
    """``start`` + ``factor`` × the wall time elapsed since the clock was made.

    ``factor`` = 86400 makes a simulated day pass in one second.
    """

    def __init__(self, start: datetime, factor: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not factor > 0:
            raise ValueError(f"acceleration must be positive, got {factor!r}")
        self.start = _aware(start)
        self.factor = factor
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> datetime:
        elapsed_us = round((self._monotonic() - self._origin) * self.factor * 1_000_000)
        return self.start + timedelta(microseconds=elapsed_us)
