"""The mosquitto runner the demo and the tests use: own port, ready when it says so, restartable."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from drivers.errors import DeliveryError
from mqtt.broker import Mosquitto


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_starts_on_a_free_port_and_accepts_at_once(tmp_path: Path) -> None:
    with Mosquitto(tmp_path) as broker:
        assert broker.port not in (0, 1883)
        assert _accepts(broker.port)
    assert not _accepts(broker.port)


def test_kill_and_restart_keep_the_port(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, persistence=True)
    broker.start()
    port = broker.port
    broker.kill()
    assert not broker.running
    broker.start()
    try:
        assert broker.port == port and _accepts(port)
    finally:
        broker.stop()


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broker = Mosquitto(tmp_path, port=taken.getsockname()[1])
        with pytest.raises(DeliveryError, match="did not start on port"):
            broker.start(timeout=5)
