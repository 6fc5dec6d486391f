"""Readings to the broker and on to the accounting side, without loss.

``Publisher`` is the collector's sink: every reading is committed to the durable ``Spool``
(collector.spool) first, published at QoS 1 over an MQTT 5 persistent session, and forgotten
only when the accounting side acknowledges its commit. ``BrokerConfig`` is the parsed ``[mqtt]``
table. ``Mosquitto`` runs a broker of our own (demo, tests, benchmarks). The topic scheme and the
small payloads beside readings are in ``mqtt.topics``.
"""

from mqtt.broker import Mosquitto, TlsFiles, free_port, make_test_pki
from mqtt.config import BrokerConfig
from mqtt.publisher import Publisher, PublisherStatus
from mqtt.topics import (SHARED_READINGS, ack_topic, reading_topic, state_topic, status_topic)

__all__ = ["BrokerConfig", "Mosquitto", "Publisher", "PublisherStatus", "SHARED_READINGS",
           "TlsFiles", "ack_topic", "free_port", "make_test_pki", "reading_topic", "state_topic",
           "status_topic"]
