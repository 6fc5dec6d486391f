"""The one place where paho-mqtt is driven: connect, reconnect, and turn its callbacks into events.

Both the publisher and the accounting ingest talk to the broker through a ``BrokerLink``. It uses
paho's VERSION2 callbacks and MQTT 5. Its callbacks never block: each one hands an event to the
owner's ``on_event`` (which only puts it on a queue) and returns, so paho's network thread keeps
reading. It subscribes in ``on_connect`` (so a reconnect re-subscribes), and it drops paho's own
in-memory message queue on every reconnect: the owner re-publishes from its durable spool instead,
so paho never holds more than the owner's bounded window and its 16-bit message ids never wrap
into a message still in flight.

Credentials refused (bad user name or password, not authorized, banned) are permanent: the link
stops reconnecting at once and reports ``Refused`` instead of knocking every few seconds. A TLS
verification failure on the first connect is raised as ``DeliveryError`` from ``start``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from drivers.errors import DeliveryError
from mqtt.config import BrokerConfig

log = logging.getLogger(__name__)

# CONNACK reasons that another attempt with the same settings cannot cure.
_PERMANENT = {
    0x84: "the broker does not support MQTT 5",
    0x85: "client id rejected",
    0x86: "bad user name or password",
    0x87: "not authorized: check the user name and password",
    0x8A: "banned",
    0x8C: "bad authentication method",
}
_MAX_PAHO_RECEIVE = 65535


@dataclass(frozen=True)
class Connected:
    session_present: bool
    receive_maximum: int
    """How many QoS 1 publishes the broker takes before their PUBACK (its Receive Maximum)."""


@dataclass(frozen=True)
class Subscribed:
    """The broker granted (or refused) the subscriptions made on connect."""

    granted: bool
    reason: str


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Puback:
    mid: int
    ok: bool
    reason: str


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    mid: int
    qos: int


LinkEvent = Union[Connected, Subscribed, Disconnected, Refused, Puback, Message]


def _no_delay(client: paho.Client, userdata: Any, sock: Any) -> None:
    # paho leaves Nagle on: a lone PUBACK or a small publish then waits for the peer's delayed
    # TCP ACK (40 ms on Linux), which caps a QoS 1 window of 20 at ~500 messages/s.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class BrokerLink:
    """One MQTT 5 client connection with automatic reconnect; see the module docstring."""

    def __init__(self, config: BrokerConfig, client_id: str, *, on_event: Callable[[LinkEvent], None],
                 persistent: bool, subscriptions: Sequence[tuple[str, int]] = (),
                 will: tuple[str, bytes] | None = None, manual_ack: bool = False) -> None:
        self.config = config
        self.client_id = client_id
        self._on_event = on_event
        self._subscriptions = tuple(subscriptions)
        self._persistent = persistent
        self._first_outcome = threading.Event()
        self._refused: str | None = None
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=paho.MQTTv5, manual_ack=manual_ack)
        if config.tls:
            try:
                client.tls_set(ca_certs=str(config.ca) if config.ca else None,
                               certfile=str(config.cert) if config.cert else None,
                               keyfile=str(config.key) if config.key else None)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise DeliveryError(f"TLS setup for {config.url}: {exc}") from exc
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.reconnect_delay_set(1, max(1, int(config.reconnect_max_s)))
        # The owner bounds what is in flight; paho's own limit would make it scan its queue
        # on every PUBACK.
        client.max_inflight_messages_set(0)
        client.on_socket_open = _no_delay
        client.on_connect = self._handle_connect
        client.on_subscribe = self._handle_subscribe
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        self._client = client

    @property
    def refused(self) -> str | None:
        """Why the broker refused us for good, or None."""
        return self._refused

    def start(self, timeout: float) -> bool:
        """Connect and run the network thread; True once the broker accepted us within ``timeout``.

        A broker that is down is not an error (the link keeps trying in the background and the
        spool keeps every reading); refused credentials and a certificate the broker's name does
        not match are, and raise ``DeliveryError``.
        """
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.config.session_expiry_s if self._persistent else 0
        try:
            self._client.connect(self.config.host, self.config.port, self.config.keepalive_s,
                                 clean_start=not self._persistent, properties=properties)
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"{self.config.url}: TLS certificate not trusted: "
                                f"{exc.verify_message}") from exc
        except (OSError, ssl.SSLError) as exc:
            log.warning("broker %s unreachable (%s); retrying in the background", self.config.url, exc)
            # Before the network thread runs, so a later Connected comes after it.
            self._on_event(Disconnected(f"unreachable: {exc}"))
            self._client.connect_async(self.config.host, self.config.port, self.config.keepalive_s,
                                       clean_start=not self._persistent, properties=properties)
            self._client.loop_start()
            return False
        self._client.loop_start()
        self._first_outcome.wait(timeout)
        if self._refused is not None:
            self.stop()
            raise DeliveryError(f"{self.config.url} refused {self.client_id}: {self._refused}")
        return self._client.is_connected()

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> int:
        """Hand one message to paho; its message id comes back in ``Puback``."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise DeliveryError(f"publish to {topic}: {paho.error_string(info.rc)}")
        return int(info.mid)

    def ack(self, mid: int, qos: int) -> None:
        """PUBACK a message received with ``manual_ack`` (only once it is safely stored)."""
        self._client.ack(mid, qos)

    def is_connected(self) -> bool:
        return self._client.is_connected()

    def stop(self) -> None:
        """Disconnect (no last will: the owner said goodbye itself) and join the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def _handle_connect(self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags,
                        reason: ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            permanent = _PERMANENT.get(reason.value)
            if permanent is not None:
                self._refused = f"{permanent} (CONNACK {reason.value:#04x})"
                log.error("broker %s refused %s: %s; not retrying", self.config.url, self.client_id,
                          self._refused)
                client.disconnect()
                self._on_event(Refused(self._refused))
                self._first_outcome.set()
            return
        # Whatever paho still holds was published before the cut; the owner re-publishes it from
        # the spool, in order, so paho's copy would only be a duplicate.
        client.drop_out_messages()
        for topic, qos in self._subscriptions:
            client.subscribe(topic, qos=qos)
        receive_maximum = getattr(properties, "ReceiveMaximum", _MAX_PAHO_RECEIVE)
        self._on_event(Connected(bool(flags.session_present), int(receive_maximum)))
        self._first_outcome.set()

    def _handle_subscribe(self, client: paho.Client, userdata: Any, mid: int,
                          reasons: list[ReasonCode], properties: Properties | None) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        self._on_event(Subscribed(not failed, ", ".join(failed) or "granted"))

    def _handle_disconnect(self, client: paho.Client, userdata: Any, flags: paho.DisconnectFlags,
                           reason: ReasonCode, properties: Properties | None) -> None:
        self._on_event(Disconnected(str(reason)))

    def _handle_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                        properties: Properties | None) -> None:
        self._on_event(Puback(mid, not reason.is_failure, str(reason)))

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._on_event(Message(message.topic, message.payload, message.mid, message.qos))
