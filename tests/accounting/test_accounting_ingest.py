"""The accounting worker on a real broker: bad payloads are logged, counted and kept, never fatal;
good ones are stored and acknowledged to their collector only after the commit."""

from __future__ import annotations

import json
import threading
from typing import Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from accounting.ingest import IngestWorker
from accounting.store import Store
from accounting_cases import reading
from mqtt.broker import Mosquitto
from mqtt.config import BrokerConfig


class Client:
    """A plain paho client standing in for a collector that sends whatever it likes."""

    def __init__(self, broker: Mosquitto) -> None:
        self.acks: list[list[str]] = []
        self.acked = threading.Event()
        subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self._client.on_connect = lambda c, *_: c.subscribe("meterlink/v1/+/collector/+/ack", qos=1)
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._on_ack
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        assert subscribed.wait(10)

    def _on_ack(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        self.acks.append(json.loads(message.payload)["ids"])
        self.acked.set()

    def send(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def worker(broker: Mosquitto, store_url: str) -> Iterator[IngestWorker]:
    store = Store.open(store_url)
    worker = IngestWorker(BrokerConfig.from_url(broker.url), store, worker_id="w1")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert worker.subscribed.wait(10)
    yield worker
    stop.set()
    thread.join(10)
    store.close()


def test_malformed_payloads_are_counted_kept_and_do_not_stop_the_worker(
        broker: Mosquitto, worker: IngestWorker, caplog: pytest.LogCaptureFixture) -> None:
    client = Client(broker)
    good = reading("11223344", total=1_000, t1=1_000)
    wrong_schema = dict(good.to_dict(), energy_wh={"total": 1.5})
    try:
        client.send("meterlink/v1/site-1/11223344/reading", b"{not json")
        client.send("meterlink/v1/site-1/11223344/reading", json.dumps(wrong_schema).encode())
        client.send("meterlink/v1/site-1/99999999/reading", good.to_json().encode())
        client.send("meterlink/v1/site-1/11223344/reading", good.to_json().encode())
        assert client.acked.wait(10)
    finally:
        client.close()
    assert client.acks == [[good.id]]
    counters = worker.counters
    assert (counters.malformed, counters.stored) == (3, 1)
    kept = worker.store.malformed()
    assert [m.topic for m in kept] == ["meterlink/v1/site-1/11223344/reading"] * 2 + \
        ["meterlink/v1/site-1/99999999/reading"]
    assert "energy_wh.total" in kept[1].error and "does not match the topic" in kept[2].error
    assert "malformed reading on meterlink/v1/site-1/11223344/reading" in caplog.text


def test_a_redelivered_reading_is_acknowledged_again_and_stored_once(
        broker: Mosquitto, worker: IngestWorker) -> None:
    client = Client(broker)
    good = reading("11223344", total=1_000, t1=1_000)
    try:
        client.send("meterlink/v1/site-1/11223344/reading", good.to_json().encode())
        assert client.acked.wait(10)
        client.acked.clear()
        client.send("meterlink/v1/site-1/11223344/reading", good.to_json().encode())
        assert client.acked.wait(10)
    finally:
        client.close()
    assert client.acks == [[good.id], [good.id]]
    assert (worker.counters.stored, worker.counters.duplicates) == (1, 1)
    assert worker.store.count() == 1
