"""The topic scheme of DESIGN.md, and the small JSON payloads that travel beside readings.

    meterlink/v1/<site>/<serial>/reading          every reading (QoS 1)
    meterlink/v1/<site>/<serial>/state            the latest reading, retained
    meterlink/v1/<site>/collector/<id>/status     online/offline (last will), version, counters, retained
    meterlink/v1/<site>/collector/<id>/ack        accounting → collector: reading ids committed
    homeassistant/sensor/<object>/config          optional Home Assistant discovery, retained

The reading payload is ``collector.reading`` (``meterlink.reading/1``); the acknowledgement is
``meterlink.ack/1`` (``{"schema": …, "ids": [...]}``) and the status ``meterlink.status/1``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from collector.reading import PayloadError, Reading

ROOT = "meterlink/v1"
ACK_SCHEMA = "meterlink.ack/1"
STATUS_SCHEMA = "meterlink.status/1"
SHARED_GROUP = "accounting"
READINGS_FILTER = f"{ROOT}/+/+/reading"
SHARED_READINGS = f"$share/{SHARED_GROUP}/{READINGS_FILTER}"


def check_level(value: str, what: str) -> str:
    """A site, serial or collector id must be one topic level: no ``/``, ``+``, ``#`` and not empty."""
    if not value or any(c in value for c in "/+#\0") or value.startswith("$"):
        raise PayloadError(f"{what} {value!r} cannot be an MQTT topic level")
    return value


def reading_topic(site: str, serial: str) -> str:
    return f"{ROOT}/{site}/{serial}/reading"


def state_topic(site: str, serial: str) -> str:
    return f"{ROOT}/{site}/{serial}/state"


def status_topic(site: str, collector_id: str) -> str:
    return f"{ROOT}/{site}/collector/{collector_id}/status"


def ack_topic(site: str, collector_id: str) -> str:
    return f"{ROOT}/{site}/collector/{collector_id}/ack"


def parse_reading_topic(topic: str) -> tuple[str, str]:
    """``(site, serial)`` of a reading topic; ``PayloadError`` for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != ROOT or parts[4] != "reading" \
            or not parts[2] or not parts[3]:
        raise PayloadError(f"not a reading topic: {topic!r}")
    return parts[2], parts[3]


def encode_ack(ids: Sequence[str]) -> bytes:
    return json.dumps({"schema": ACK_SCHEMA, "ids": list(ids)}, separators=(",", ":")).encode()


def decode_ack(payload: bytes) -> list[str]:
    """The reading ids of an acknowledgement; ``PayloadError`` when it is not one."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"ack: not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != ACK_SCHEMA:
        raise PayloadError(f"ack: expected schema {ACK_SCHEMA!r}")
    ids = data.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise PayloadError("ack: ids is not a list of strings")
    return ids


def encode_status(state: str, *, version: str, counters: Mapping[str, Any]) -> bytes:
    return json.dumps({"schema": STATUS_SCHEMA, "state": state, "version": version,
                       "counters": dict(counters)}, separators=(",", ":")).encode()


def discovery_messages(prefix: str, site: str, collector_id: str,
                       reading: Reading) -> list[tuple[str, bytes]]:
    """Home Assistant discovery: one energy sensor per register of the meter (total and T1…Tn).

    Each reads the meter's retained state topic, in kWh, ``total_increasing`` so the energy
    dashboard accepts it, and is available while the collector's status says ``online``.
    """
    serial = reading.meter.serial
    device = {"identifiers": [f"meterlink_{serial}"], "name": f"Meter {serial}",
              "model": reading.meter.model or "unknown", "manufacturer": "meterlink",
              "serial_number": serial}
    registers = ["total"] + [f"t{n}" for n in range(1, reading.tariffs + 1)]
    messages = []
    for register in registers:
        unique_id = f"meterlink_{serial}_{register}"
        config = {
            "name": "Energy total" if register == "total" else f"Energy {register.upper()}",
            "unique_id": unique_id,
            "state_topic": state_topic(site, serial),
            "value_template": f"{{{{ value_json.energy_wh.{register} / 1000 }}}}",
            "unit_of_measurement": "kWh",
            "device_class": "energy",
            "state_class": "total_increasing",
            "availability_topic": status_topic(site, collector_id),
            "availability_template": "{{ value_json.state }}",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
        }
        messages.append((f"{prefix}/sensor/{unique_id}/config",
                         json.dumps(config, separators=(",", ":")).encode()))
    return messages
