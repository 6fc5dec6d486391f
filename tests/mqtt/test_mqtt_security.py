"""TLS and password authentication against a mosquitto configured by the test."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import pytest

from drivers.errors import DeliveryError
from mqtt.broker import Mosquitto
from mqtt.config import BrokerConfig
from mqtt.publisher import Publisher
from mqtt_rig import Accounting, fast_config
from publish_readings import make_readings


@pytest.fixture
def secure_broker(tmp_path: Path) -> Mosquitto:
    broker = Mosquitto(tmp_path / "broker", tls=True, users={"gw-01": "s3cret", "accounting": "ledger"})
    broker.start()
    yield broker
    broker.stop()


def _tls(broker: Mosquitto, **overrides: object) -> dict[str, object]:
    assert broker.tls_files is not None
    return dict(ca=broker.tls_files.ca, **overrides)


def test_readings_flow_over_tls_with_passwords(secure_broker: Mosquitto,
                                               publisher_factory: Callable[..., Publisher],
                                               tmp_path: Path) -> None:
    assert secure_broker.url.startswith("mqtts://localhost:")
    side = Accounting(BrokerConfig.from_url(secure_broker.url, **_tls(
        secure_broker, username="accounting", password="ledger")), tmp_path / "acc.db").start()
    try:
        publisher = publisher_factory(fast_config(secure_broker.url, tmp_path / "spool.db", **_tls(
            secure_broker, username="gw-01", password="s3cret")))
        publisher.submit_nowait(make_readings(50)).result(10)
        publisher.wait_for(lambda s: s.spooled == 0, timeout=30)
    finally:
        side.stop()
    assert side.store().count() == 50


def test_wrong_password_is_a_clear_error_and_no_retry_storm(
        secure_broker: Mosquitto, publisher_factory: Callable[..., Publisher],
        tmp_path: Path) -> None:
    publisher = publisher_factory(fast_config(secure_broker.url, tmp_path / "spool.db", **_tls(
        secure_broker, username="gw-01", password="wrong")), start=False)
    with pytest.raises(DeliveryError, match="not authorized: check the user name and password"):
        publisher.start()
    # The link stopped its network thread: nothing is left that could knock again.
    assert not [t for t in threading.enumerate() if t.name.startswith("paho-mqtt-client-")
                and publisher.client_id in t.name]
    # One CONNECT, one refusal (the runner's readiness probe never sends a CONNECT).
    assert secure_broker.log_file.read_text().count("disconnected, not authorised") == 1


def test_untrusted_broker_certificate_is_refused_with_the_reason(
        secure_broker: Mosquitto, publisher_factory: Callable[..., Publisher],
        tmp_path: Path) -> None:
    other_ca = Mosquitto(tmp_path / "other", tls=True)
    other_ca.start()
    other_ca.stop()
    assert other_ca.tls_files is not None
    publisher = publisher_factory(fast_config(secure_broker.url, tmp_path / "spool.db",
                                              ca=other_ca.tls_files.ca, username="gw-01",
                                              password="s3cret"), start=False)
    with pytest.raises(DeliveryError, match="certificate not trusted"):
        publisher.start()


def test_password_changed_under_a_running_collector_stops_retries_and_keeps_spooling(
        secure_broker: Mosquitto, publisher_factory: Callable[..., Publisher],
        tmp_path: Path) -> None:
    publisher = publisher_factory(fast_config(secure_broker.url, tmp_path / "spool.db", **_tls(
        secure_broker, username="gw-01", password="s3cret")))
    secure_broker.stop()
    secure_broker.users = {"gw-01": "rotated"}
    secure_broker.start()
    status = publisher.wait_for(lambda s: s.state == "refused", timeout=15)
    assert "check the user name and password" in (status.last_error or "")
    publisher.submit_nowait(make_readings(20)).result(10)
    assert publisher.status().spooled == 20
