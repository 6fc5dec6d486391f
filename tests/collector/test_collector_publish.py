"""`meterlink collect` publishes through the spool to a real mosquitto and the accounting store."""

from __future__ import annotations

import subprocess
import sys

from accounting.ingest import IngestThread
from accounting.store import Store
from firmware_sim import SimServer
from mqtt import BrokerConfig, Mosquitto


def _with_mqtt(config_path, broker_url: str) -> None:
    text = config_path.read_text().replace(
        "[[bus]]", f'[mqtt]\nurl = "{broker_url}"\nspool = "spool.db"\nack_timeout_s = 1\n\n'
                   "[[bus]]", 1)
    config_path.write_text(text)


def test_collect_once_delivers_every_reading_to_the_store_exactly(tmp_path, every_model, site):
    meters = every_model(per_model=2)
    db = f"sqlite:///{tmp_path / 'readings.db'}"
    with Mosquitto(tmp_path / "broker") as broker, \
            IngestThread(BrokerConfig.from_url(broker.url), db, worker_id="t"), \
            SimServer.tcp(meters) as sim:
        config = site("tcp", meters, host=sim.host, port=sim.port, timeout_s=0.5, retries=1)
        _with_mqtt(config, broker.url)
        done = subprocess.run([sys.executable, "-m", "collector.cli", "collect", "--config",
                               str(config), "--once"], capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 0, done.stderr
    assert "not yet confirmed" not in done.stderr
    store = Store.open(db)
    try:
        for meter in meters.values():
            (stored,) = store.history(meter.serial)
            values = meter.values()
            for register, wh in stored.energy_wh.items():
                quantity = f"energy.import.{register}"
                if quantity in values:
                    assert wh == values[quantity], (meter.model, register)
    finally:
        store.close()


def test_collect_with_the_broker_down_keeps_readings_in_the_spool(tmp_path, every_model, site):
    meters = every_model()
    with Mosquitto(tmp_path / "broker") as broker:
        url = broker.url  # a port that nothing listens on once the broker is gone
    with SimServer.tcp(meters) as sim:
        config = site("tcp", meters, host=sim.host, port=sim.port, timeout_s=0.5, retries=1)
        _with_mqtt(config, url)
        done = subprocess.run([sys.executable, "-m", "collector.cli", "collect", "--config",
                               str(config), "--once", "--wait", "1"], capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"{len(meters)} readings not yet confirmed stay in" in done.stderr
    assert (config.parent / "spool.db").is_file()
