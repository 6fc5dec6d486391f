"""What the delivery tests share: the real publisher, spool and accounting workers, in a thread
or as processes a test can ``kill -9``, and a way to wait for a child's output without sleeping."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from accounting.ingest import IngestWorker
from accounting.store import Store
from collector.spool import SpoolConfig
from mqtt.config import BrokerConfig

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def fast_config(url: str, spool: Path, **overrides: object) -> BrokerConfig:
    """Timeouts short enough for tests; everything else as in production."""
    fields: dict[str, object] = dict(spool=SpoolConfig(spool), ack_timeout_s=0.5,
                                     ack_timeout_max_s=2.0, reconnect_max_s=1.0)
    fields.update(overrides)
    return BrokerConfig.from_url(url, **fields)


class Accounting:
    """An accounting worker in a thread of the test process, with its own SQLite store."""

    def __init__(self, config: BrokerConfig, db: Path, name: str = "w1") -> None:
        self.config = config
        self.db = db
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.worker: IngestWorker | None = None
        self.error: BaseException | None = None

    def start(self) -> Accounting:
        self._stop.clear()
        store = Store.open(f"sqlite:///{self.db}")
        self.worker = IngestWorker(self.config, store, worker_id=self.name)

        def run() -> None:
            try:
                assert self.worker is not None
                self.worker.run(self._stop)
            except BaseException as exc:  # surfaced by stop() in the test's thread
                self.error = exc
            finally:
                store.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self.worker.subscribed.wait(10), "accounting worker did not subscribe"
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self.error is not None:
            raise self.error

    def store(self) -> Store:
        return Store.open(f"sqlite:///{self.db}")


class LineProcess:
    """A child process whose output lines a test can wait for, without sleeping."""

    def __init__(self, args: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                if self.process.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"process exited ({self.process.returncode}) before "
                                         f"{pattern!r}:\n" + "\n".join(self.lines[-20:]))
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"no {pattern!r} within {timeout}s:\n"
                                         + "\n".join(self.lines[-20:]))

    def kill(self) -> None:
        """``kill -9``."""
        self.process.kill()
        self.process.wait(10)


def publisher_process(start: Callable[[list[str]], LineProcess], url: str, spool: Path, *,
                      first: int, count: int) -> LineProcess:
    return start([sys.executable, str(HERE / "publish_readings.py"), "--url", url, "--spool",
                  str(spool), "--start", str(first), "--count", str(count)])


def accounting_process(start: Callable[[list[str]], LineProcess], url: str, db: Path,
                       name: str) -> LineProcess:
    process = start([sys.executable, "-m", "collector.cli", "accounting", "--db", f"sqlite:///{db}",
                     "--broker", url, "--worker", name])
    process.wait_for("subscribed to")
    return process
