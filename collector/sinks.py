"""Where the scheduler hands readings: stdout for scripts, or the MQTT publisher and its spool."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator, TextIO

from collector.config import SiteConfig
from collector.reading import Reading
from collector.spool import Spool
from drivers.errors import ConfigError
from mqtt import BrokerConfig, Publisher


class StdoutSink:
    """One reading per line as JSON (``collect --stdout``): for scripts, pipes and first tests."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    async def submit(self, reading: Reading) -> None:
        self._stream.write(reading.to_json() + "\n")
        self._stream.flush()


def broker_config(config: SiteConfig) -> BrokerConfig:
    """The site's ``[mqtt]`` table, with the spool beside the site file unless it says otherwise."""
    if config.mqtt is None:
        raise ConfigError("no sink configured: add an [mqtt] table or pass --stdout",
                          file=config.path)
    return BrokerConfig.from_toml_table(config.mqtt, file=config.path,
                                        base=Path(config.path).parent)


@contextlib.contextmanager
def publishing(config: SiteConfig, broker: BrokerConfig) -> Iterator[Publisher]:
    """A started publisher on the site's spool; on exit it says ``offline`` and closes the spool.

    Whatever is not yet confirmed stays in the spool and goes out on the next start.
    """
    spool = Spool(broker.spool)
    try:
        publisher = Publisher(broker, spool, config.collector.site, config.collector.id)
        publisher.start()
        try:
            yield publisher
        finally:
            publisher.close()
    finally:
        spool.close()
