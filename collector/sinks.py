"""Sinks the scheduler hands readings to when no broker is involved."""

from __future__ import annotations

import sys
from typing import TextIO

from collector.reading import Reading


class StdoutSink:
    """One reading per line as JSON (``collect --stdout``): for scripts, pipes and first tests."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    async def submit(self, reading: Reading) -> None:
        self._stream.write(reading.to_json() + "\n")
        self._stream.flush()
