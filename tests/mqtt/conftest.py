"""Fixtures that start the real thing: a mosquitto of the test's own on a free port, the real
publisher and spool, and accounting workers."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from collector.spool import Spool
from mqtt.broker import Mosquitto
from mqtt.config import BrokerConfig
from mqtt.publisher import Publisher
from mqtt_rig import Accounting, LineProcess

@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker")
    mosquitto.start()
    assert mosquitto.port != 1883
    yield mosquitto
    mosquitto.stop()

@pytest.fixture
def accounting(broker: Mosquitto, tmp_path: Path) -> Iterator[Accounting]:
    side = Accounting(BrokerConfig.from_url(broker.url, reconnect_max_s=1.0), tmp_path / "acc.db")
    side.start()
    yield side
    side.stop()

@pytest.fixture
def publisher_factory(tmp_path: Path) -> Iterator[Callable[..., Publisher]]:
    """Start publishers (closed, with their spools, at teardown)."""
    opened: list[tuple[Publisher, Spool]] = []

    def make(config: BrokerConfig, *, site: str = "site-1", collector: str = "gw-01",
             start: bool = True) -> Publisher:
        spool = Spool(config.spool)
        publisher = Publisher(config, spool, site, collector)
        opened.append((publisher, spool))
        if start:
            publisher.start()
        return publisher

    yield make
    for publisher, spool in reversed(opened):
        publisher.close()
        spool.close()

@pytest.fixture
def processes() -> Iterator[Callable[[list[str]], LineProcess]]:
    started: list[LineProcess] = []

    def start(args: list[str]) -> LineProcess:
        process = LineProcess(args)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.kill()
