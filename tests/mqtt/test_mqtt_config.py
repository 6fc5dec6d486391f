"""The [mqtt] table: parsed once into BrokerConfig, and every mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.errors import ConfigError
from mqtt.config import BrokerConfig


def test_full_table_parses_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    site = str(tmp_path / "site.toml")
    config = BrokerConfig.from_toml_table({
        "url": "mqtts://broker.example.net", "ca": "ca.crt", "cert": "c.crt", "key": "c.key",
        "username": "gw-01", "password": "pw", "client_id": "gw-01", "keepalive_s": 30,
        "delivery": "broker", "ack_timeout_s": 5, "spool": "/var/spool/ml.db",
        "spool_max_readings": 1000, "spool_max_age_h": 0, "homeassistant": True,
    }, file=site)
    assert (config.host, config.port, config.tls) == ("broker.example.net", 8883, True)
    assert config.ca == tmp_path / "ca.crt" and config.key == tmp_path / "c.key"
    assert config.delivery == "broker" and config.ack_timeout_s == 5.0
    assert config.spool.path == Path("/var/spool/ml.db")
    assert config.spool.max_readings == 1000 and config.spool.max_age_s is None
    assert config.homeassistant


def test_defaults_are_accounting_delivery_on_port_1883() -> None:
    config = BrokerConfig.from_toml_table({"url": "mqtt://10.0.0.5"}, file="site.toml")
    assert (config.port, config.tls, config.delivery) == (1883, False, "accounting")
    assert config.spool.max_age_s == 720 * 3600.0


@pytest.mark.parametrize("table, key", [
    ({}, "mqtt.url"),
    ({"url": "http://x"}, "mqtt.url"),
    ({"url": "mqtt://x:99999"}, "mqtt.url"),
    ({"url": "mqtt://x", "delivery": "pigeon"}, "mqtt.delivery"),
    ({"url": "mqtt://x", "keepalive_s": "60"}, "mqtt.keepalive_s"),
    ({"url": "mqtt://x", "inflight": 0}, "mqtt.inflight"),
    ({"url": "mqtt://x", "ack_timeout_s": -1}, "mqtt.ack_timeout_s"),
    ({"url": "mqtt://x", "ca": "ca.crt"}, "mqtt.ca"),
    ({"url": "mqtts://x", "cert": "c.crt"}, "mqtt.key"),
    ({"url": "mqtt://x", "homeassistant": "yes"}, "mqtt.homeassistant"),
    ({"url": "mqtt://x", "pasword": "typo"}, "mqtt.pasword"),
])
def test_bad_value_names_the_file_and_key(table: dict, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        BrokerConfig.from_toml_table(table, file="site.toml")
    assert error.value.key == key
    assert str(error.value).startswith(f"site.toml: {key}: ")


def test_credentials_may_come_in_the_url() -> None:
    config = BrokerConfig.from_url("mqtt://gw%2D01:p%40ss@127.0.0.1:1999")
    assert (config.username, config.password, config.port) == ("gw-01", "p@ss", 1999)
    assert "p@ss" not in repr(config)
