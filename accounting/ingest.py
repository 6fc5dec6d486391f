"""The accounting worker: readings from the broker into the store, acknowledged only after commit.

Several workers split the load through the MQTT 5 shared subscription
``$share/accounting/meterlink/v1/+/+/reading``. Each worker:

1. receives with paho ``manual_ack`` — the broker keeps a message unacknowledged (and re-sends it
   to the group if we die) until the batch holding it is committed;
2. validates every payload (``reading_from_json``): a malformed one is logged with its topic,
   counted and kept in the store's ``malformed`` table, never a crash;
3. stores a batch (whatever has arrived, up to ``batch_max``) in one transaction, by reading id;
4. after the commit, PUBACKs each message to the broker and publishes the committed ids to each
   collector's ``…/collector/<id>/ack`` topic, which is what lets the collector empty its spool.

A worker connects with a clean, non-persistent session (Session Expiry 0). mosquitto keeps
queueing a shared group's share for a member whose session persists while it is away, so a
persistent session would park readings behind a dead worker; with none, a dead worker leaves the
group at once and the collector re-publishes whatever it had not acknowledged.

A store that fails (``StoreError``: the disk, the database server) stops the worker with that
error: it has acknowledged nothing it did not commit, so a supervisor may simply restart it.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Sequence

from accounting.store import Incoming, Malformed, Store
from collector.reading import PayloadError, reading_from_json
from drivers.errors import DeliveryError
from mqtt.config import BrokerConfig
from mqtt.connection import (BrokerLink, Connected, Disconnected, LinkEvent, Message, Puback,
                             Refused, Subscribed)
from mqtt.topics import SHARED_READINGS, ack_topic, encode_ack, parse_reading_topic

log = logging.getLogger(__name__)

_ACK_CHUNK = 1000


@dataclass(frozen=True)
class IngestCounters:
    received: int = 0
    stored: int = 0
    rejected: int = 0
    duplicates: int = 0
    malformed: int = 0
    acknowledged: int = 0


@dataclass
class _Received:
    message: Message
    link_epoch: int


class IngestWorker:
    """One member of the shared accounting group; ``run`` until ``stop`` is set."""

    def __init__(self, config: BrokerConfig, store: Store, *, worker_id: str,
                 batch_max: int = 1000) -> None:
        self.config = config
        self.store = store
        self.worker_id = worker_id
        self.batch_max = batch_max
        self._events: queue.Queue[LinkEvent] = queue.Queue()
        self._counts = {name: 0 for name in IngestCounters.__dataclass_fields__}
        self._window = 1
        self._unacked_publishes: set[int] = set()
        self._pending_acks: dict[str, list[str]] = {}
        self._epoch = 0
        self.subscribed = threading.Event()
        """Set once the broker granted the shared subscription: readings published now reach us."""
        self._link = BrokerLink(config, f"meterlink-accounting-{worker_id}", on_event=self._events.put,
                                persistent=False, subscriptions=[(SHARED_READINGS, 1)],
                                manual_ack=True)

    @property
    def counters(self) -> IngestCounters:
        return IngestCounters(**self._counts)

    def run(self, stop: threading.Event, *, connect_timeout: float = 10.0) -> None:
        """Connect and ingest until ``stop`` is set; ``DeliveryError`` if the broker refuses us."""
        self._link.start(connect_timeout)
        try:
            while not stop.is_set():
                batch = self._next_batch()
                if batch:
                    self._ingest(batch)
                self._flush_acks()
        finally:
            self._link.stop()

    def _next_batch(self) -> list[_Received]:
        try:
            events = [self._events.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(events) < self.batch_max * 2:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        batch: list[_Received] = []
        for event in events:
            if isinstance(event, Message):
                batch.append(_Received(event, self._epoch))
            elif isinstance(event, Puback):
                self._unacked_publishes.discard(event.mid)
            elif isinstance(event, Connected):
                log.info("worker %s joined the shared group on %s", self.worker_id, self.config.url)
                self._window = max(1, event.receive_maximum)
                self._unacked_publishes.clear()
                self._epoch += 1
            elif isinstance(event, Subscribed):
                if not event.granted:
                    raise DeliveryError(f"{self.config.url} refused the subscription "
                                        f"{SHARED_READINGS}: {event.reason}")
                log.info("worker %s subscribed to %s", self.worker_id, SHARED_READINGS)
                self.subscribed.set()
            elif isinstance(event, Disconnected):
                log.warning("worker %s lost the broker: %s", self.worker_id, event.reason)
                self.subscribed.clear()
                self._unacked_publishes.clear()
            elif isinstance(event, Refused):
                raise DeliveryError(f"{self.config.url} refused worker {self.worker_id}: {event.reason}")
        return batch

    def _ingest(self, batch: Sequence[_Received]) -> None:
        items: list[Incoming] = []
        bad: list[Malformed] = []
        for received in batch:
            message = received.message
            try:
                site, serial = parse_reading_topic(message.topic)
                reading = reading_from_json(message.payload)
                if reading.meter.serial != serial:
                    raise PayloadError(f"meter.serial {reading.meter.serial!r} does not match the "
                                       f"topic's {serial!r}")
            except PayloadError as exc:
                log.warning("malformed reading on %s: %s", message.topic, exc)
                bad.append(Malformed(message.topic, message.payload, str(exc)))
                continue
            items.append(Incoming(site, reading))
        outcomes = self.store.ingest(items, bad)
        self._counts["received"] += len(batch)
        self._counts["malformed"] += len(bad)
        for outcome in outcomes:
            key = {"stored": "stored", "rejected": "rejected", "duplicate": "duplicates"}[outcome.status]
            self._counts[key] += 1
            if outcome.status == "rejected":
                log.info("rejected %s of %s: %s", outcome.reading_id, outcome.collector, outcome.reason)
            if outcome.collector:
                self._pending_acks.setdefault(ack_topic(outcome.site, outcome.collector), []) \
                    .append(outcome.reading_id)
        for received in batch:
            # A message from before a reconnect cannot be acknowledged on the new connection;
            # the broker or the collector sends it again and the store ignores the copy.
            if received.link_epoch == self._epoch:
                self._link.ack(received.message.mid, received.message.qos)

    def _flush_acks(self) -> None:
        """Publish committed ids to their collectors, within the broker's receive window."""
        while self._pending_acks and len(self._unacked_publishes) < self._window \
                and self._link.is_connected():
            topic, ids = next(iter(self._pending_acks.items()))
            chunk, rest = ids[:_ACK_CHUNK], ids[_ACK_CHUNK:]
            if rest:
                self._pending_acks[topic] = rest
            else:
                del self._pending_acks[topic]
            self._unacked_publishes.add(self._link.publish(topic, encode_ack(chunk), qos=1))
            self._counts["acknowledged"] += len(chunk)


class IngestThread:
    """One worker storing into the store at ``db_url``, in a thread of its own: for a process
    that does other work beside ingesting (the demo, tests). ``with`` returns once subscribed."""

    def __init__(self, config: BrokerConfig, db_url: str, *, worker_id: str) -> None:
        self._store = Store.open(db_url)
        self.worker = IngestWorker(config, self._store, worker_id=worker_id)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"accounting-{worker_id}",
                                        daemon=True)

    def _run(self) -> None:
        try:
            self.worker.run(self._stop)
        except BaseException as exc:  # re-raised in the owner's thread by __exit__
            self._error = exc

    def __enter__(self) -> IngestThread:
        self._thread.start()
        while not self.worker.subscribed.wait(0.1):
            if not self._thread.is_alive():
                self.__exit__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._store.close()
        if self._error is not None:
            raise self._error
