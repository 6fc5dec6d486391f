"""``sim.toml`` and ``meterlink sim``: a valid file runs, a wrong one names its line and key."""

import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pymodbus.client import ModbusTcpClient

from drivers.errors import ConfigError
from firmware_sim import Fault
from firmware_sim.config import load_sim_config, parse_sim_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "firmware_sim" / "examples" / "sim.toml"

MINIMAL = """\
[sim]
port = 0
start = 2026-01-05T00:00:00Z

[[meter]]
unit = 1
model = "generic"
serial = "10000001"
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_sim_config(text, file="sim.toml")
    return str(caught.value)


def test_the_shipped_example_is_valid():
    config = load_sim_config(EXAMPLE)
    assert [m.unit for m in config.meters] == [1, 2, 3]
    assert config.meters[1].faults == (Fault("slow", probability=0.1, delay_s=0.2),)
    assert config.utc_offset == timedelta(hours=3)
    assert config.tariffs.tariff_at(datetime(2026, 1, 11, 8, 0)) == 3  # its Sunday program


def test_defaults_fill_what_a_minimal_file_leaves_out():
    config = parse_sim_config(MINIMAL)
    assert (config.transport, config.host, config.acceleration, config.baudrate) == \
        ("tcp", "127.0.0.1", 1.0, None)
    assert config.start == datetime(2026, 1, 5, tzinfo=timezone.utc)
    assert config.meters[0].mean_power_w == 500


@pytest.mark.parametrize(("text", "expected"), [
    (MINIMAL.replace('port = 0', 'transport = "udp"'),
     'sim.toml:2: [sim] transport: must be "tcp" or "rtu"'),
    (MINIMAL.replace('port = 0', 'transport = "rtu"\nport = 502'),
     "sim.toml:3: [sim] port: an rtu simulator serves a pty"),
    (MINIMAL.replace("port = 0", "acceleration = 0"), "sim.toml:2: [sim] acceleration:"),
    (MINIMAL.replace("start = 2026-01-05T00:00:00Z", "start = 2026-01-05T00:00:00"),
     "sim.toml:3: [sim] start: must be a date-time with its UTC offset"),
    (MINIMAL.replace("port = 0", "colour = 1"), "sim.toml:2: [sim] colour: unknown key"),
    (MINIMAL.replace('model = "generic"', 'model = "nope-9000"'),
     "sim.toml:7: [[meter]] model: unknown meter model 'nope-9000'"),
    (MINIMAL + '\n[[meter]]\nunit = 1\nmodel = "generic"\nserial = "2"\n',
     "sim.toml:11: [[meter]] unit: unit 1 is used twice (first at line 5)"),
    (MINIMAL.replace("unit = 1\n", ""), "sim.toml:5: [[meter]] unit: missing"),
    (MINIMAL.replace("unit = 1", "unit = 248"), "sim.toml:6: [[meter]] unit: unit ids are 1..247"),
    (MINIMAL.replace('serial = "10000001"', 'serial = "10000001"\nfaults = [{ kind = "fire" }]'),
     "sim.toml:9: [[meter]] faults: unknown fault 'fire'"),
    (MINIMAL.replace('serial = "10000001"', 'serial = "99999999999"'),
     "sim.toml:8: [[meter]] serial: serial '99999999999' does not fit"),
    (MINIMAL + "start_wh = { t4 = 5 }\n", "sim.toml:9: [[meter]] start_wh: "),
    (MINIMAL.replace("[[meter]]", '[sim.tariffs]\ndefault = [["00:00", "12:00", 1]]\n\n[[meter]]'),
     "sim.toml:6: [sim.tariffs] default: every day: nothing covers 12:00–00:00"),
    (MINIMAL.replace("[[meter]]", '[sim.tariffs]\ndefault = [["00:00", "24:00", 1]]\n'
                                  'sat = [["00:00", "25:00", 2]]\n\n[[meter]]'),
     'sim.toml:7: [sim.tariffs] sat: a zone time is "HH:MM"'),
    ("[sim]\nport = 0\n", "sim.toml: [[meter]]: a simulator needs at least one [[meter]]"),
    ("[sim\n", "sim.toml:1: Expected ']'"),
])
def test_a_bad_file_is_one_error_naming_line_and_key(text, expected):
    assert _error(text).startswith(expected)


def test_a_model_may_be_a_profile_file_next_to_the_config(tmp_path):
    (tmp_path / "mine.toml").write_text((ROOT / "drivers/profiles/generic.toml").read_text()
                                        .replace('model = "generic"', 'model = "mine"'))
    (tmp_path / "sim.toml").write_text(MINIMAL.replace('"generic"', '"mine.toml"'))
    assert load_sim_config(tmp_path / "sim.toml").meters[0].regmap.model == "mine"


def test_meterlink_sim_prints_where_to_connect_serves_and_stops_cleanly_on_ctrl_c(tmp_path):
    config = tmp_path / "sim.toml"
    config.write_text(EXAMPLE.read_text().replace("port = 5020 ", "port = 0 "))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "collector.cli", "sim", "--config",
                                str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT)
    try:
        first = process.stdout.readline()  # blocks until the server is up (or the process died)
        match = re.search(r"on tcp 127\.0\.0\.1:(\d+)$", first.strip())
        assert match, first + process.stderr.read()
        client = ModbusTcpClient("127.0.0.1", port=int(match[1]), timeout=2, retries=0)
        assert client.connect()
        try:
            serial = client.read_holding_registers(0, count=2, device_id=2).registers
        finally:
            client.close()
        assert serial == [10_000_002 >> 16, 10_000_002 & 0xFFFF]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_meterlink_sim_with_a_bad_file_exits_with_a_one_line_reason(tmp_path):
    config = tmp_path / "sim.toml"
    config.write_text(MINIMAL.replace("unit = 1", "unit = 0"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "collector.cli", "sim", "--config",
                             str(config)], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"meterlink sim: {config}:6: [[meter]] unit: unit ids are "
                                     f"1..247, got 0")
