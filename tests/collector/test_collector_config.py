"""Site config: a valid file parses into frozen sections; every mistake is one line naming where."""

import textwrap
from pathlib import Path

import pytest

from collector.config import load_config, parse_config
from drivers.errors import ConfigError
from firmware_sim import load_sim_config

GOOD = textwrap.dedent("""\
    [collector]
    id = "gw-01"
    site = "home"
    cycle_s = 30

    [[bus]]
    name = "rs485-1"
    transport = "rtu"
    port = "/dev/ttyUSB0"
    baudrate = 19200
    parity = "E"

    [[bus]]
    name = "gw"
    transport = "tcp"
    host = "10.0.0.5"
    connections = 4

    [[meter]]
    bus = "rs485-1"
    unit = 1
    model = "generic"
    account = "5001234567"

    [[meter]]
    bus = "gw"
    unit = 1
    model = "generic"
    serial = "42"
""")


def test_valid_config_parses_into_buses_and_meters():
    config = parse_config(GOOD, file="site.toml")
    assert config.collector.id == "gw-01" and config.collector.cycle_s == 30
    rtu, tcp = config.buses
    assert (rtu.transport, rtu.baudrate, rtu.parity, rtu.timeout_s) == ("rtu", 19200, "E", 1.0)
    assert (tcp.transport, tcp.host, tcp.port, tcp.connections) == ("tcp", "10.0.0.5", "502", 4)
    assert [m.model.model for m in config.meters_on("rs485-1")] == ["generic"]
    assert config.meters[1].serial == "42"


def _broken(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    "text, line, words",
    [
        (_broken('model = "generic"\naccount', 'model = "abb-b99"\naccount'), 22,
         "[[meter]] model: unknown meter model 'abb-b99'"),
        (_broken('bus = "gw"\nunit = 1', 'bus = "rs485-1"\nunit = 1'), 27,
         "[[meter]] unit: unit 1 on bus 'rs485-1' is already meter #1 (line 19)"),
        (_broken('port = "/dev/ttyUSB0"\n', ''), 6, "[[bus]] port: missing"),
        (_broken('transport = "tcp"', 'transport = "udp"'), 15, "[[bus]] transport: must be"),
        (_broken('cycle_s = 30', 'cycle_s = "often"'), 4, "[collector] cycle_s: must be a number"),
        (_broken('parity = "E"', 'parity = "X"'), 11, "[[bus]] parity"),
        (_broken('bus = "gw"', 'bus = "nowhere"'), 26, "no [[bus]] named 'nowhere'"),
        (_broken('connections = 4', 'conections = 4'), 17, "[[bus]] conections: unknown key"),
        (_broken('site = "home"', 'site = "my home"'), 3, "[collector] site"),
        (_broken('unit = 1', 'unit = 300'), 21, "a Modbus unit id is 1..247"),
        (_broken('[[meter]]', '[[meter]\n'), 19, "Expected ']]'"),
    ],
)
def test_config_error_names_file_line_and_key(text, line, words):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="site.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"site.toml:{line}"), message
    assert words in message


def test_missing_serial_is_required_when_the_model_has_no_serial_register(tmp_path):
    (tmp_path / "noserial.toml").write_text(textwrap.dedent("""\
        [meter]
        model = "noserial"
        title = "t"
        vendor = "v"
        document = "d"
        [[register]]
        quantity = "energy.import.total"
        address = 0
        type = "u32"
    """))
    text = GOOD.replace('cycle_s = 30', 'cycle_s = 30\nprofiles_dir = "."').replace(
        'model = "generic"\nserial = "42"', 'model = "noserial"')
    path = tmp_path / "site.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="has no serial register: give `serial`"):
        load_config(path)


def test_unreadable_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="absent.toml: cannot read: No such file"):
        load_config(tmp_path / "absent.toml")


def test_the_shipped_example_site_works_with_the_example_simulator():
    root = Path(__file__).resolve().parents[2]
    site = load_config(root / "collector" / "examples" / "site.toml")
    sim = load_sim_config(root / "firmware_sim" / "examples" / "sim.toml")
    (bus,) = site.buses
    assert (bus.host, int(bus.port)) == (sim.host, sim.port)
    assert {m.unit: m.model.model for m in site.meters} == {m.unit: m.regmap.model
                                                           for m in sim.meters}
