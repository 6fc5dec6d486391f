"""The collector's MQTT sink: readings go to the durable spool first, then to the broker.

How the collector uses it::

    spool = Spool(config.spool)
    publisher = Publisher(config, spool, site="plant-1", collector_id="gw-01")
    publisher.start()                 # connects (≤ timeout); DeliveryError if credentials are refused
    await publisher.submit(reading)   # returns once the reading is committed to the spool
    publisher.status()                # PublisherStatus: state, spool size and age, counters
    publisher.close()                 # says "offline", disconnects; the spool keeps what is unconfirmed
    spool.close()

``submit`` never waits for the broker: it returns as soon as the reading is durably spooled (the
spool commits all pending submissions with one fsync), so a broker outage costs the poll loop
nothing. ``submit_nowait`` is the thread-safe form for code without an event loop; it returns a
``concurrent.futures.Future``. ``start`` and ``close`` block for at most their timeout; from a
running event loop call them through ``asyncio.to_thread``. ``wait_for(condition, timeout)``
blocks until the status satisfies a condition, e.g. ``lambda s: s.spooled == 0`` before a
``--once`` run exits. Readings are stamped with ``collector_id``: acknowledgements go to the
collector a reading names.

Delivery. One thread owns the spool and feeds the broker from it in ``(taken_at, spool order)``
order, so each meter's readings go out in the order they were taken and a backlog drains at full
speed with bounded memory: at most ``inflight`` readings are published and unconfirmed at a time,
and at most the broker's Receive Maximum of them await a PUBACK. With ``delivery = "accounting"``
a reading leaves the spool only when the accounting side publishes its id on our ``…/ack`` topic
after its commit; what stays unconfirmed for ``ack_timeout_s`` after the PUBACK is published again
(the accounting side stores by reading id, so a second copy is harmless), with the wait doubling
up to ``ack_timeout_max_s`` while nothing is confirmed at all (the accounting side is down). With
``delivery = "broker"`` the PUBACK is the confirmation. After a reconnect everything unconfirmed
is published again from the spool, in order.

The retained collector status carries ``online`` (birth), ``offline`` (last will, and on close),
the version and the counters; the retained ``…/<serial>/state`` gets each meter's newest reading
(coalesced, best effort, never retried); Home Assistant discovery is published for each meter when
``homeassistant = true``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import queue
import threading
import time
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Callable, Sequence, Union

from collector.reading import PayloadError, Reading
from collector.spool import Spool, SpooledReading, SpoolKey, epoch_ms
from drivers.errors import ConfigError, DeliveryError
from mqtt.config import BrokerConfig
from mqtt.connection import (BrokerLink, Connected, Disconnected, LinkEvent, Message, Puback,
                             Refused, Subscribed)
from mqtt.topics import (ack_topic, check_level, decode_ack, discovery_messages, encode_status,
                         reading_topic, state_topic, status_topic)

log = logging.getLogger(__name__)

_DRAIN_EVENTS = 20000
_EXPIRE_EVERY_S = 60.0
_SNAPSHOT_EVERY_S = 0.05
_FIGURES_EVERY_S = 1.0


def _package_version() -> str:
    try:
        return version("meterlink")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class PublisherStatus:
    """A snapshot for logs, the CLI and the retained status topic."""

    state: str
    """``starting``, ``online``, ``offline`` (broker unreachable), ``refused``, ``closed`` or
    ``failed`` (a bug stopped the delivery thread; the spool keeps what it had)."""
    spooled: int
    spool_bytes: int
    oldest_spooled_at: float | None
    """Wall-clock time the oldest unconfirmed reading was spooled; None when the spool is empty."""
    in_flight: int
    submitted: int = 0
    published: int = 0
    republished: int = 0
    confirmed: int = 0
    expired: int = 0
    refused_full: int = 0
    last_error: str | None = None

    @property
    def oldest_age_s(self) -> float | None:
        """How long the oldest unconfirmed reading has waited."""
        if self.oldest_spooled_at is None:
            return None
        return max(0.0, time.time() - self.oldest_spooled_at)

    def counters(self) -> dict[str, int | float | None]:
        """What the retained status message reports."""
        return {"spooled": self.spooled, "spool_bytes": self.spool_bytes,
                "oldest_age_s": None if self.oldest_age_s is None else round(self.oldest_age_s, 1),
                "in_flight": self.in_flight, "submitted": self.submitted,
                "published": self.published, "republished": self.republished,
                "confirmed": self.confirmed, "expired": self.expired,
                "refused_full": self.refused_full}


@dataclass
class _InFlight:
    row: SpooledReading
    mid: int | None = None
    """Set while paho waits for the broker's PUBACK."""
    sent_at: float = 0.0
    """When the broker took it (PUBACK): the ack timeout runs from here."""


@dataclass
class _Submit:
    readings: Sequence[Reading]
    future: concurrent.futures.Future[None]


@dataclass
class _Close:
    deadline: float


@dataclass
class _Counters:
    submitted: int = 0
    published: int = 0
    republished: int = 0
    confirmed: int = 0
    expired: int = 0
    refused_full: int = 0


_Event = Union[LinkEvent, _Submit, _Close]


class Publisher:
    """Durable, confirmed delivery of readings to the broker; see the module docstring."""

    def __init__(self, config: BrokerConfig, spool: Spool, site: str, collector_id: str, *,
                 software_version: str | None = None) -> None:
        for value, key in ((site, "collector.site"), (collector_id, "collector.id")):
            try:
                check_level(value, key)
            except PayloadError as exc:
                raise ConfigError(str(exc), key=key) from exc
        self.config = config
        self.site = site
        self.collector_id = collector_id
        self.client_id = config.client_id or f"meterlink-{site}-{collector_id}"
        self._version = software_version or _package_version()
        self._spool = spool
        self._events: queue.Queue[_Event] = queue.Queue()
        self._accepting = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._link: BrokerLink | None = None
        self._ack_topic = ack_topic(site, collector_id)
        self._status_topic = status_topic(site, collector_id)
        # Owned by the delivery thread from start() on.
        self._state = "starting"
        self._last_error: str | None = None
        self._counters = _Counters()
        self._inflight: dict[str, _InFlight] = {}
        self._by_mid: dict[int, str] = {}
        self._other_mids: set[int] = set()
        self._cursor: SpoolKey | None = None
        self._sent_order: collections.deque[tuple[float, str]] = collections.deque()
        self._window = 1
        self._ack_wait = config.ack_timeout_s
        self._confirmed_since_resend = True
        self._pending_state: dict[str, tuple[int, Reading]] = {}
        self._pending_other: collections.deque[tuple[str, bytes]] = collections.deque()
        self._state_sent_ms: dict[str, int] = {}
        self._meters: dict[str, Reading] = {}
        self._next_expire = 0.0
        self._next_status = 0.0
        self._next_snapshot = 0.0
        self._snapshot_due = False
        self._next_figures = 0.0
        self._figures_count = -1
        self._changed = threading.Condition()
        self._oldest: float | None = None
        self._spool_bytes = 0
        self._closing: _Close | None = None
        self._goodbye_mid: int | None = None
        self._goodbye_sent = False
        self._snapshot = self._make_snapshot()

    # -- the caller's side ------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Run the delivery thread and connect; ``DeliveryError`` if the broker refuses us."""
        if self._thread is not None:
            raise DeliveryError("publisher already started")
        will = (self._status_topic, encode_status("offline", version=self._version, counters={}))
        subscriptions = [(self._ack_topic, 1)] if self.config.delivery == "accounting" else []
        self._link = BrokerLink(self.config, self.client_id, on_event=self._events.put,
                                persistent=True, subscriptions=subscriptions, will=will)
        self._thread = threading.Thread(target=self._run, name=f"meterlink-publisher-{self.collector_id}",
                                        daemon=True)
        self._thread.start()
        try:
            self._link.start(timeout)
        except DeliveryError:
            self.close()
            raise

    def submit_nowait(self, readings: Sequence[Reading]) -> concurrent.futures.Future[None]:
        """Queue readings for the spool; the future completes once they are committed to it.

        Each reading is stamped with this collector's id: the accounting side acknowledges to the
        collector a reading names.
        """
        for reading in readings:
            check_level(reading.meter.serial, "meter serial")
        readings = [r if r.collector == self.collector_id else replace(r, collector=self.collector_id)
                    for r in readings]
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._accepting:
            if self._closed:
                future.set_exception(DeliveryError("publisher is closed"))
                return future
            self._events.put(_Submit(tuple(readings), future))
        return future

    async def submit(self, reading: Reading) -> None:
        """Return once ``reading`` is durably spooled; ``DeliveryError`` if the spool refuses it."""
        await asyncio.wrap_future(self.submit_nowait((reading,)))

    async def submit_many(self, readings: Sequence[Reading]) -> None:
        """``submit`` for a whole poll cycle at once (one commit)."""
        await asyncio.wrap_future(self.submit_nowait(readings))

    def status(self) -> PublisherStatus:
        return self._snapshot

    def wait_for(self, condition: Callable[[PublisherStatus], bool], timeout: float) -> PublisherStatus:
        """Block until the status satisfies ``condition`` (e.g. the spool is empty), or raise
        ``DeliveryError`` after ``timeout`` seconds with the last status in the message."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self._snapshot):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeliveryError(f"timed out after {timeout}s waiting for delivery: "
                                        f"{self._snapshot}")
                self._changed.wait(left)
            return self._snapshot

    def close(self, timeout: float = 5.0) -> None:
        """Spool what was submitted, publish ``offline``, disconnect and stop the thread."""
        with self._accepting:
            if self._closed:
                return
            self._closed = True
            self._events.put(_Close(time.monotonic() + timeout))
        if self._thread is not None:
            self._thread.join(timeout + 5.0)
            if self._thread.is_alive():
                raise DeliveryError(f"publisher {self.collector_id} did not stop within {timeout}s")

    # -- the delivery thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._deliver()
        except BaseException as exc:
            # A bug, not a broker or disk problem (those are handled where they happen): say so
            # loudly, fail whoever waits, refuse new submissions.
            log.critical("publisher %s stopped", self.collector_id, exc_info=True)
            with self._accepting:
                self._closed = True
            self._state, self._last_error = "failed", f"publisher stopped: {exc!r}"
            while True:
                try:
                    event = self._events.get_nowait()
                except queue.Empty:
                    break
                if isinstance(event, _Submit):
                    event.future.set_exception(DeliveryError(self._last_error))
            if self._link is not None:
                self._link.stop()
            self._publish_snapshot(time.monotonic())
            raise

    def _deliver(self) -> None:
        while True:
            events = self._next_events()
            submits: list[_Submit] = []
            confirmed: list[str] = []
            for event in events:
                if isinstance(event, _Submit):
                    submits.append(event)
                elif isinstance(event, Puback):
                    self._on_puback(event, confirmed)
                elif isinstance(event, Message):
                    self._on_message(event, confirmed)
                elif isinstance(event, Connected):
                    self._on_connected(event)
                elif isinstance(event, Disconnected):
                    self._on_disconnected(event)
                elif isinstance(event, Refused):
                    self._state, self._last_error = "refused", event.reason
                elif isinstance(event, Subscribed):
                    if not event.granted:
                        self._last_error = f"ack subscription refused: {event.reason}"
                        log.error("broker refused our subscription to %s: %s", self._ack_topic,
                                  event.reason)
                else:
                    self._closing = event
            now = time.monotonic()
            self._commit(submits, confirmed)
            self._housekeeping(now)
            self._feed(now)
            self._take_snapshot(now)
            if self._closing is not None and self._say_goodbye(now):
                break
        if self._link is not None:
            self._link.stop()
        self._state = "closed"
        self._publish_snapshot(time.monotonic())

    def _next_events(self) -> list[_Event]:
        wait = max(0.0, min(self._deadlines()) - time.monotonic())
        try:
            events = [self._events.get(timeout=wait)]
        except queue.Empty:
            return []
        while len(events) < _DRAIN_EVENTS:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        return events

    def _deadlines(self) -> list[float]:
        deadlines = [self._next_expire]
        if self._snapshot_due:
            deadlines.append(self._next_snapshot)
        if self._figures_count != self._spool.count:
            deadlines.append(self._next_figures)
        if self._state == "online":
            deadlines.append(self._next_status)
            # With no room in the PUBACK window a re-publish would have to wait anyway, for a
            # PUBACK, which wakes us.
            if self._sent_order and self._room() > 0:
                deadlines.append(self._sent_order[0][0] + self._ack_wait)
        if self._closing is not None:
            deadlines.append(min(self._closing.deadline, time.monotonic() + 0.05))
        return deadlines

    def _commit(self, submits: list[_Submit], confirmed: list[str]) -> None:
        if not submits and not confirmed:
            return
        wall = time.time()
        accepted: list[_Submit] = []
        refused: list[tuple[_Submit, DeliveryError]] = []
        try:
            with self._spool.transaction(durable=bool(submits)):
                for submit in submits:
                    try:
                        self._counters.submitted += self._spool.add(submit.readings, wall)
                        accepted.append(submit)
                    except DeliveryError as exc:
                        self._counters.refused_full += len(submit.readings)
                        refused.append((submit, exc))
                deleted = self._spool.delete(confirmed)
        except DeliveryError as exc:
            log.error("spool commit failed: %s", exc)
            self._last_error = str(exc)
            for submit in submits:
                submit.future.set_exception(exc)
            return
        self._counters.confirmed += deleted
        for reading_id in confirmed:
            self._inflight.pop(reading_id, None)
        # Whoever waits on a future sees a status that already counts its readings.
        self._publish_snapshot(time.monotonic())
        for submit in accepted:
            submit.future.set_result(None)
            self._note_fresh(submit.readings)
        for submit, error in refused:
            log.error("%s", error)
            self._last_error = str(error)
            submit.future.set_exception(error)

    def _note_fresh(self, readings: Sequence[Reading]) -> None:
        for reading in readings:
            key_ms = epoch_ms(reading.taken_at)
            if self._cursor is not None and key_ms < self._cursor[0]:
                # Taken before what we already handed out: look again from there.
                self._cursor = (key_ms, 0)
            serial = reading.meter.serial
            pending = self._pending_state.get(serial)
            if key_ms > self._state_sent_ms.get(serial, -1) and \
                    (pending is None or key_ms >= pending[0]):
                self._pending_state[serial] = (key_ms, reading)
            if self.config.homeassistant and serial not in self._meters:
                self._meters[serial] = reading
                if self._state == "online":
                    self._queue_discovery(reading)

    def _on_puback(self, event: Puback, confirmed: list[str]) -> None:
        if event.mid == self._goodbye_mid:
            self._goodbye_mid = None
        reading_id = self._by_mid.pop(event.mid, None)
        if reading_id is None:
            self._other_mids.discard(event.mid)
            return
        entry = self._inflight.get(reading_id)
        if entry is None:
            return
        entry.mid = None
        if not event.ok:
            log.warning("broker refused reading %s: %s; will publish it again", reading_id, event.reason)
        elif self.config.delivery == "broker":
            confirmed.append(reading_id)
            return
        entry.sent_at = time.monotonic()
        self._sent_order.append((entry.sent_at, reading_id))

    def _on_message(self, event: Message, confirmed: list[str]) -> None:
        if event.topic != self._ack_topic:
            return
        try:
            ids = decode_ack(event.payload)
        except PayloadError as exc:
            log.warning("ignoring a malformed acknowledgement on %s: %s", event.topic, exc)
            return
        confirmed.extend(ids)
        self._confirmed_since_resend = True
        self._ack_wait = self.config.ack_timeout_s

    def _on_connected(self, event: Connected) -> None:
        log.info("connected to %s as %s (session present: %s)", self.config.url, self.client_id,
                 event.session_present)
        self._state = "online"
        self._window = max(1, event.receive_maximum)
        # paho dropped its queue on reconnect: start over from the spool, in order.
        self._inflight.clear()
        self._by_mid.clear()
        self._other_mids.clear()
        self._sent_order.clear()
        self._cursor = None
        self._goodbye_mid = None
        self._next_status = 0.0
        self._pending_other.clear()
        for reading in self._meters.values():
            self._queue_discovery(reading)

    def _on_disconnected(self, event: Disconnected) -> None:
        if self._state == "online":
            log.warning("lost the broker %s: %s; spooling", self.config.url, event.reason)
        if self._state in ("online", "starting"):
            self._state = "offline"
        self._by_mid.clear()
        self._other_mids.clear()

    def _room(self) -> int:
        return self._window - len(self._by_mid) - len(self._other_mids)

    def _feed(self, now: float) -> None:
        """Publish what the windows allow: status and discovery first (rare and small), then
        re-publications, then new readings from the spool, then — once every spooled reading
        is out — the coalesced states."""
        if self._state != "online" or self._closing is not None:
            return
        try:
            self._feed_online(now)
        except DeliveryError as exc:
            # The spool could not be read or paho refused a message: what is unconfirmed stays
            # in the spool, and the next event or timer tries again.
            log.error("delivery paused: %s", exc)
            self._last_error = str(exc)

    def _feed_online(self, now: float) -> None:
        while self._pending_other and self._room() > 0:
            topic, payload = self._pending_other.popleft()
            self._send_other(topic, payload, retain=True)
        self._resend_unconfirmed(now)
        caught_up = False
        while self._room() > 0 and len(self._inflight) < self.config.inflight:
            want = min(self._room(), self.config.inflight - len(self._inflight))
            rows = self._spool.after(self._cursor, want)
            if not rows:
                caught_up = True
                break
            for row in rows:
                self._cursor = row.key
                if row.id not in self._inflight:
                    self._inflight[row.id] = _InFlight(row)
                    self._send(self._inflight[row.id])
                    self._counters.published += 1
        if caught_up:
            # Dashboards get each meter's newest reading once the backlog is out, not a state
            # message beside every reading of it.
            self._send_states()

    def _resend_unconfirmed(self, now: float) -> None:
        due: list[_InFlight] = []
        while self._sent_order:
            sent_at, reading_id = self._sent_order[0]
            entry = self._inflight.get(reading_id)
            if entry is None or entry.mid is not None or entry.sent_at != sent_at:
                self._sent_order.popleft()  # confirmed, or published again since
                continue
            if sent_at + self._ack_wait > now or len(due) >= self._room():
                break
            self._sent_order.popleft()
            due.append(entry)
        if not due:
            return
        if not self._confirmed_since_resend:
            self._ack_wait = min(self._ack_wait * 2, self.config.ack_timeout_max_s)
        self._confirmed_since_resend = False
        log.info("publishing %d unconfirmed readings again (next wait %.1fs)", len(due), self._ack_wait)
        for entry in sorted(due, key=lambda e: e.row.key):
            self._send(entry)
            self._counters.republished += 1

    def _send(self, entry: _InFlight) -> None:
        assert self._link is not None
        mid = self._link.publish(reading_topic(self.site, entry.row.serial), entry.row.payload, qos=1)
        entry.mid = mid
        self._by_mid[mid] = entry.row.id

    def _send_other(self, topic: str, payload: bytes | str, *, retain: bool) -> int:
        assert self._link is not None
        mid = self._link.publish(topic, payload, qos=1, retain=retain)
        self._other_mids.add(mid)
        return mid

    def _send_states(self) -> None:
        while self._pending_state and self._room() > 0:
            serial, (key_ms, reading) = self._pending_state.popitem()
            self._send_other(state_topic(self.site, serial), reading.to_json(), retain=True)
            self._state_sent_ms[serial] = key_ms

    def _queue_discovery(self, reading: Reading) -> None:
        self._pending_other.extend(discovery_messages(self.config.discovery_prefix, self.site,
                                                      self.collector_id, reading))

    def _housekeeping(self, now: float) -> None:
        if now >= self._next_expire:
            self._next_expire = now + _EXPIRE_EVERY_S
            try:
                expired = self._spool.expire(time.time())
            except DeliveryError as exc:
                log.error("%s", exc)
                self._last_error = str(exc)
                expired = []
            if expired:
                self._counters.expired += len(expired)
                log.error("expired %d readings unconfirmed for over %.0f h", len(expired),
                          (self._spool.config.max_age_s or 0) / 3600)
                for reading_id in expired:
                    self._inflight.pop(reading_id, None)
        if self._state == "online" and now >= self._next_status and self._closing is None:
            self._next_status = now + self.config.status_interval_s
            self._refresh_spool_figures()
            self._pending_other.append((self._status_topic, self._status_payload("online")))

    def _say_goodbye(self, now: float) -> bool:
        """Publish ``offline`` once and wait for its PUBACK; True when it is time to stop."""
        assert self._closing is not None
        if self._state != "online" or now >= self._closing.deadline:
            return True
        if self._goodbye_mid is None:
            if self._goodbye_sent:
                return True  # its PUBACK came back
            if self._room() <= 0:
                return False  # a PUBACK will make room
            self._goodbye_sent = True
            self._goodbye_mid = self._send_other(self._status_topic, self._status_payload("offline"),
                                                 retain=True)
        return False

    def _status_payload(self, state: str) -> bytes:
        return encode_status(state, version=self._version, counters=self._make_snapshot().counters())

    def _refresh_spool_figures(self) -> None:
        self._figures_count = self._spool.count
        try:
            self._oldest = self._spool.oldest_spooled_at()
            self._spool_bytes = self._spool.size_bytes()
        except (DeliveryError, OSError) as exc:
            self._last_error = str(exc)

    def _take_snapshot(self, now: float) -> None:
        """Refresh the status others read, at most every ``_SNAPSHOT_EVERY_S``."""
        if self._figures_count != self._spool.count and now >= self._next_figures:
            self._next_figures = now + _FIGURES_EVERY_S
            self._refresh_spool_figures()
        if now < self._next_snapshot:
            self._snapshot_due = True
            return
        self._publish_snapshot(now)

    def _publish_snapshot(self, now: float) -> None:
        self._snapshot_due = False
        self._next_snapshot = now + _SNAPSHOT_EVERY_S
        snapshot = self._make_snapshot()
        if snapshot != self._snapshot:
            with self._changed:
                self._snapshot = snapshot
                self._changed.notify_all()

    def _make_snapshot(self) -> PublisherStatus:
        count = self._spool.count
        return PublisherStatus(state=self._state, spooled=count, spool_bytes=self._spool_bytes,
                               oldest_spooled_at=self._oldest if count else None,
                               in_flight=len(self._inflight), last_error=self._last_error,
                               **vars(self._counters))
