"""Collector → mosquitto → accounting on real parts: every reading stored once, whatever breaks."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from accounting.store import Store
from drivers.errors import DeliveryError
from mqtt.broker import Mosquitto, free_port
from mqtt.config import BrokerConfig
from mqtt.publisher import Publisher
from mqtt_rig import (Accounting, LineProcess, accounting_process, fast_config, publisher_process)
from publish_readings import make_readings

Start = Callable[[list[str]], LineProcess]


def _stored(store: Store) -> dict[str, dict[str, int]]:
    """Every stored reading's values, by id; a second row for an id would fail the primary key,
    and the count check in each test catches a reading stored twice under another id."""
    found = {}
    for serial in store.serials():
        for reading in store.history(serial):
            found[reading.id] = dict(reading.energy_wh)
    return found


def _expected(count: int) -> dict[str, dict[str, int]]:
    return {r.id: dict(r.energy_wh) for r in make_readings(count)}


def _drained(status: object) -> bool:
    return getattr(status, "spooled") == 0


def test_every_reading_arrives_once_with_exact_values(broker: Mosquitto, accounting: Accounting,
                                                      publisher_factory: Callable[..., Publisher],
                                                      tmp_path: Path) -> None:
    publisher = publisher_factory(fast_config(broker.url, tmp_path / "spool.db"))
    readings = make_readings(600)
    for start in range(0, len(readings), 100):
        publisher.submit_nowait(readings[start:start + 100]).result(10)
    status = publisher.wait_for(_drained, timeout=30)
    store = accounting.store()
    assert _stored(store) == _expected(600)
    assert store.count() == 600 and store.count("accepted") == 600
    assert status.confirmed == 600


def test_broker_killed_mid_stream_loses_and_duplicates_nothing(
        broker: Mosquitto, accounting: Accounting, publisher_factory: Callable[..., Publisher],
        tmp_path: Path) -> None:
    publisher = publisher_factory(fast_config(broker.url, tmp_path / "spool.db"))
    readings = make_readings(1500)
    publisher.submit_nowait(readings[:500]).result(10)
    publisher.wait_for(lambda s: s.confirmed >= 200, timeout=30)
    broker.kill()
    # The poll loop goes on while the broker is gone: the spool takes everything.
    publisher.submit_nowait(readings[500:1000]).result(10)
    publisher.wait_for(lambda s: s.state == "offline", timeout=10)
    broker.start()
    publisher.submit_nowait(readings[1000:]).result(10)
    publisher.wait_for(_drained, timeout=60)
    store = accounting.store()
    assert store.count() == 1500
    assert _stored(store) == _expected(1500)


def test_backlog_beyond_the_brokers_queue_is_all_delivered(
        broker: Mosquitto, publisher_factory: Callable[..., Publisher], tmp_path: Path) -> None:
    """5000 readings while the accounting side is down: five times mosquitto's per-client queue."""
    publisher = publisher_factory(fast_config(broker.url, tmp_path / "spool.db"))
    readings = make_readings(5000)
    for start in range(0, 5000, 500):
        publisher.submit_nowait(readings[start:start + 500]).result(10)
    assert publisher.status().spooled == 5000
    side = Accounting(BrokerConfig.from_url(broker.url), tmp_path / "acc.db").start()
    try:
        publisher.wait_for(_drained, timeout=60)
    finally:
        side.stop()
    store = side.store()
    assert store.count() == 5000
    assert _stored(store) == _expected(5000)


def test_collector_killed_mid_stream_loses_nothing_after_restart(
        broker: Mosquitto, accounting: Accounting, processes: Start, tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    first = publisher_process(processes, broker.url, spool, first=0, count=3000)
    spooled = int(first.wait_for(r"spooled (1[0-9]{3})").group(1))
    first.kill()
    # What was reported spooled is on disk; the rest is submitted again by the restarted
    # collector (a reading already spooled is kept once).
    second = publisher_process(processes, broker.url, spool, first=spooled, count=3000 - spooled)
    second.wait_for("drained", timeout=60)
    assert second.process.wait(10) == 0
    store = accounting.store()
    assert store.count() == 3000
    assert _stored(store) == _expected(3000)


def test_killed_accounting_worker_leaves_the_rest_to_the_other(
        broker: Mosquitto, publisher_factory: Callable[..., Publisher], processes: Start,
        tmp_path: Path) -> None:
    db = tmp_path / "acc.db"
    doomed = accounting_process(processes, broker.url, db, "w-doomed")
    survivor = accounting_process(processes, broker.url, db, "w-survivor")
    publisher = publisher_factory(fast_config(broker.url, tmp_path / "spool.db"))
    readings = make_readings(3000)
    feeding = threading.Thread(target=lambda: [publisher.submit_nowait(readings[i:i + 100]).result(10)
                                               for i in range(0, 3000, 100)])
    feeding.start()
    publisher.wait_for(lambda s: s.confirmed >= 500, timeout=30)
    doomed.kill()
    feeding.join(30)
    publisher.wait_for(_drained, timeout=60)
    assert survivor.process.poll() is None
    store = Store.open(f"sqlite:///{db}")
    assert store.count() == 3000
    assert _stored(store) == _expected(3000)


def test_broker_delivery_empties_the_spool_on_puback_alone(
        broker: Mosquitto, publisher_factory: Callable[..., Publisher], tmp_path: Path) -> None:
    received: set[str] = set()
    subscribed, all_received = threading.Event(), threading.Event()

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        received.add(json.loads(message.payload)["id"])
        if len(received) == 300:
            all_received.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_connect = lambda c, *_: c.subscribe("meterlink/v1/+/+/reading", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        publisher = publisher_factory(fast_config(broker.url, tmp_path / "spool.db",
                                                  delivery="broker"))
        publisher.submit_nowait(make_readings(300)).result(10)
        status = publisher.wait_for(_drained, timeout=30)
        assert all_received.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    assert status.confirmed == 300
    assert received == set(_expected(300))


def test_status_says_online_with_counters_and_the_last_will_says_offline(
        broker: Mosquitto, processes: Start, tmp_path: Path) -> None:
    collector = publisher_process(processes, broker.url, tmp_path / "spool.db", first=0, count=10)
    collector.wait_for("ready")
    online = _retained(broker, "meterlink/v1/site-1/collector/gw-01/status")
    assert online["state"] == "online" and "submitted" in online["counters"]
    assert online["version"]
    collector.kill()
    assert _retained(broker, "meterlink/v1/site-1/collector/gw-01/status",
                     until=lambda s: s["state"] == "offline")["state"] == "offline"


def test_home_assistant_discovery_describes_each_register_as_energy(
        broker: Mosquitto, publisher_factory: Callable[..., Publisher], tmp_path: Path) -> None:
    publisher = publisher_factory(fast_config(broker.url, tmp_path / "spool.db",
                                              delivery="broker", homeassistant=True))
    reading = make_readings(1)[0]
    publisher.submit_nowait([reading]).result(10)
    publisher.wait_for(_drained, timeout=10)
    serial = reading.meter.serial
    for register in ("total", "t1", "t2", "t3"):
        config = _retained(broker, f"homeassistant/sensor/meterlink_{serial}_{register}/config")
        assert config["device_class"] == "energy"
        assert config["state_class"] == "total_increasing"
        assert config["unit_of_measurement"] == "kWh"
        assert config["state_topic"] == f"meterlink/v1/site-1/{serial}/state"
    state = _retained(broker, f"meterlink/v1/site-1/{serial}/state")
    assert state["energy_wh"] == dict(reading.energy_wh)


def _retained(broker: Mosquitto, topic: str,
              until: Callable[[dict], bool] = lambda _: True, timeout: float = 10) -> dict:
    """The retained message on ``topic`` (or the first later one that satisfies ``until``)."""
    found: list[dict] = []
    arrived = threading.Event()

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        payload = json.loads(message.payload)
        if until(payload):
            found.append(payload)
            arrived.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        if not arrived.wait(timeout):
            pytest.fail(f"nothing (matching) retained on {topic} within {timeout}s")
    finally:
        client.disconnect()
        client.loop_stop()
    return found[0]


def test_broker_down_at_start_readings_wait_in_the_spool_until_it_comes(
        tmp_path: Path, publisher_factory: Callable[..., Publisher]) -> None:
    broker = Mosquitto(tmp_path / "broker", port=free_port())
    publisher = publisher_factory(fast_config(broker.url, tmp_path / "spool.db"))
    publisher.wait_for(lambda s: s.state == "offline", timeout=5)
    publisher.submit_nowait(make_readings(200)).result(10)
    broker.start()
    side = Accounting(BrokerConfig.from_url(broker.url), tmp_path / "acc.db")
    try:
        side.start()
        publisher.wait_for(_drained, timeout=30)
    finally:
        side.stop()
        broker.stop()
    assert _stored(side.store()) == _expected(200)


def test_a_full_spool_refuses_the_submission_with_a_clear_error(
        broker: Mosquitto, publisher_factory: Callable[..., Publisher], tmp_path: Path) -> None:
    config = fast_config(broker.url, tmp_path / "spool.db")
    publisher = publisher_factory(replace(config, spool=replace(config.spool, max_readings=100)))
    publisher.submit_nowait(make_readings(100)).result(10)
    with pytest.raises(DeliveryError, match="spool full: 100 readings waiting, limit 100"):
        publisher.submit_nowait(make_readings(1, start=100)).result(10)
    assert publisher.status().refused_full == 1


def test_the_event_loop_submits_and_gets_control_back_once_spooled(
        broker: Mosquitto, accounting: Accounting, publisher_factory: Callable[..., Publisher],
        tmp_path: Path) -> None:
    publisher = publisher_factory(fast_config(broker.url, tmp_path / "spool.db"))
    readings = make_readings(100)

    async def poll_cycle() -> None:
        await asyncio.gather(*(publisher.submit(r) for r in readings[:50]))
        await publisher.submit_many(readings[50:])

    asyncio.run(poll_cycle())
    assert publisher.status().submitted == 100
    publisher.wait_for(_drained, timeout=30)
    assert _stored(accounting.store()) == _expected(100)
