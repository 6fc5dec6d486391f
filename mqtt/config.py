"""The ``[mqtt]`` table of a site file, parsed once into a frozen ``BrokerConfig``.

Every key is checked here, at the edge, and a wrong one raises ``ConfigError`` naming the file and
``mqtt.<key>``; the publisher and the accounting ingest trust what they get. Example::

    [mqtt]
    url = "mqtts://broker.example.net:8883"   # mqtt:// (1883) or mqtts:// (8883, TLS)
    ca = "ca.crt"                            # relative paths are relative to the site file
    cert = "client.crt"                      # client certificate, with key
    key = "client.key"
    username = "gw-01"
    password = "…"
    client_id = "meterlink-gw-01"            # fixed, so the broker keeps our session
    keepalive_s = 60
    session_expiry_s = 86400                 # how long the broker keeps the session while we are away
    delivery = "accounting"                  # or "broker": PUBACK is enough (no accounting side)
    ack_timeout_s = 30                       # re-publish what the accounting side did not confirm
    inflight = 500                           # readings published and not yet confirmed
    spool = "spool.db"
    spool_max_readings = 1000000
    spool_max_age_h = 720                    # 0: never expire
    homeassistant = false                    # Home Assistant discovery
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping
from urllib.parse import unquote, urlsplit

from collector.spool import SpoolConfig
from drivers.errors import ConfigError

Delivery = Literal["accounting", "broker"]
_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# The default 500 stays under mosquitto's per-client queue (max_queued_messages, 1000): past it
# the broker drops what does not fit and only the ack timeout brings it back.
_MAX_INFLIGHT = 60000


@dataclass(frozen=True)
class BrokerConfig:
    """How to reach the broker, and what the publisher may do with it."""

    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    keepalive_s: int = 60
    session_expiry_s: int = 86400
    delivery: Delivery = "accounting"
    ack_timeout_s: float = 30.0
    ack_timeout_max_s: float = 300.0
    inflight: int = 500
    reconnect_max_s: float = 30.0
    status_interval_s: float = 60.0
    spool: SpoolConfig = field(default_factory=lambda: SpoolConfig(Path("spool.db")))
    homeassistant: bool = False
    discovery_prefix: str = "homeassistant"

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> BrokerConfig:
        """A config from a broker URL (user and password may be in it) plus keyword overrides."""
        host, port, tls, username, password = _parse_url(url, "url", None)
        fields: dict[str, Any] = dict(host=host, port=port, tls=tls)
        if username is not None:
            fields.update(username=username, password=password)
        fields.update(overrides)
        return cls(**fields)

    @classmethod
    def from_toml_table(cls, table: Mapping[str, Any], *, file: str | None = None,
                        base: Path | None = None) -> BrokerConfig:
        """Parse an ``[mqtt]`` table; relative paths resolve against ``base`` (the file's folder)."""
        where = _Where(file, base if base is not None else
                       (Path(file).parent if file is not None else Path(".")))
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ConfigError(f"unknown key (known: {', '.join(sorted(_KEYS))})", file=file,
                              key=f"mqtt.{unknown[0]}")
        if "url" not in table:
            raise ConfigError("missing; e.g. url = \"mqtt://127.0.0.1:1883\"", file=file, key="mqtt.url")
        host, port, tls, username, password = _parse_url(where.string(table, "url"), "mqtt.url", file)
        ca, cert, key = (where.path(table, k) for k in ("ca", "cert", "key"))
        if (cert is None) != (key is None):
            raise ConfigError("cert and key go together", file=file,
                              key="mqtt.key" if key is None else "mqtt.cert")
        if (ca or cert) and not tls:
            raise ConfigError("TLS files given for a plain mqtt:// url; use mqtts://", file=file,
                              key="mqtt.ca" if ca else "mqtt.cert")
        delivery = where.string(table, "delivery", "accounting")
        if delivery not in ("accounting", "broker"):
            raise ConfigError(f"expected \"accounting\" or \"broker\", got {delivery!r}", file=file,
                              key="mqtt.delivery")
        ack_timeout = where.number(table, "ack_timeout_s", 30.0, minimum=0.05)
        age_h = where.number(table, "spool_max_age_h", 720.0, minimum=0.0)
        spool = SpoolConfig(
            path=where.path(table, "spool") or where.base / "spool.db",
            max_readings=where.integer(table, "spool_max_readings", 1_000_000, minimum=1),
            max_age_s=None if age_h == 0 else age_h * 3600.0,
        )
        return cls(
            host=host, port=port, tls=tls, ca=ca, cert=cert, key=key,
            username=where.optional_string(table, "username", username),
            password=where.optional_string(table, "password", password),
            client_id=where.optional_string(table, "client_id", None),
            keepalive_s=where.integer(table, "keepalive_s", 60, minimum=5, maximum=65535),
            session_expiry_s=where.integer(table, "session_expiry_s", 86400, minimum=1,
                                           maximum=2**32 - 1),
            delivery=delivery,  # type: ignore[arg-type]
            ack_timeout_s=ack_timeout,
            ack_timeout_max_s=where.number(table, "ack_timeout_max_s", max(300.0, ack_timeout),
                                           minimum=ack_timeout),
            inflight=where.integer(table, "inflight", 500, minimum=1, maximum=_MAX_INFLIGHT),
            reconnect_max_s=where.number(table, "reconnect_max_s", 30.0, minimum=1.0),
            status_interval_s=where.number(table, "status_interval_s", 60.0, minimum=1.0),
            spool=spool,
            homeassistant=where.boolean(table, "homeassistant", False),
            discovery_prefix=where.string(table, "discovery_prefix", "homeassistant"),
        )


_KEYS = {"url", "ca", "cert", "key", "username", "password", "client_id", "keepalive_s",
         "session_expiry_s", "delivery", "ack_timeout_s", "ack_timeout_max_s", "inflight",
         "reconnect_max_s", "status_interval_s", "spool", "spool_max_readings", "spool_max_age_h",
         "homeassistant", "discovery_prefix"}


def _parse_url(url: str, key: str, file: str | None) -> tuple[str, int, bool, str | None, str | None]:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise ConfigError(f"expected mqtt:// or mqtts://, got {url!r}", file=file, key=key)
    if not parts.hostname:
        raise ConfigError(f"no host in {url!r}", file=file, key=key)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"a broker url has no path or query: {url!r}", file=file, key=key)
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ConfigError(f"bad port in {url!r}", file=file, key=key) from exc
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, parts.scheme == "mqtts", username, password


@dataclass(frozen=True)
class _Where:
    file: str | None
    base: Path

    def _fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, key=f"mqtt.{key}")

    def string(self, table: Mapping[str, Any], key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value:
            raise self._fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def optional_string(self, table: Mapping[str, Any], key: str, default: str | None) -> str | None:
        if key not in table:
            return default
        return self.string(table, key)

    def path(self, table: Mapping[str, Any], key: str) -> Path | None:
        if key not in table:
            return None
        path = Path(self.string(table, key))
        return path if path.is_absolute() else self.base / path

    def integer(self, table: Mapping[str, Any], key: str, default: int, *, minimum: int,
                maximum: int | None = None) -> int:
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(key, f"expected an integer, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            raise self._fail(key, f"expected {bound}, got {value}")
        return value

    def number(self, table: Mapping[str, Any], key: str, default: float, *, minimum: float) -> float:
        value = table.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise self._fail(key, f"expected a number, got {value!r}")
        if value < minimum:
            raise self._fail(key, f"expected >= {minimum}, got {value}")
        return float(value)

    def boolean(self, table: Mapping[str, Any], key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, f"expected true or false, got {value!r}")
        return value
