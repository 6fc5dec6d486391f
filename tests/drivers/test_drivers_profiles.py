"""Meter profiles: every shipped one loads and plans; every mistake in a profile names file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main
from drivers import ReadPlan, list_profiles, load_profile
from drivers.errors import ConfigError
from drivers.profile import QUANTITY

METER = """
[meter]
model = "test-meter"
title = "Test meter"
vendor = "Test"
document = "Test document, rev. 1"
"""
TOTAL = """
[[register]]
quantity = "energy.import.total"
address = 0
type = "u32"
"""


@pytest.mark.parametrize("name", list_profiles())
def test_shipped_profile_loads_and_builds_its_read_plan(name: str) -> None:
    regmap = load_profile(name)
    plan = ReadPlan.for_map(regmap)
    assert regmap.model == name
    assert regmap.document.strip()
    planned = [r.quantity for block in plan.blocks for r in block.registers]
    assert sorted(planned) == sorted(regmap.quantities)
    assert all(1 <= b.count <= regmap.max_registers for b in plan.blocks)
    assert all(q == "serial" or QUANTITY.match(q) for q in regmap.quantities)


@pytest.mark.parametrize("name", list_profiles())
def test_describe_shows_registers_and_read_plan(name: str) -> None:
    text = load_profile(name).describe()
    assert "read plan:" in text
    for block in ReadPlan.for_map(load_profile(name)).blocks:
        assert f"count {block.count}" in text


def test_profile_by_path_loads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(METER + TOTAL, encoding="utf-8")
    assert load_profile(path).model == "test-meter"


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown meter model 'nosuch'.*generic"):
        load_profile("nosuch")


BROKEN = {
    "missing meter table": ("""
[[register]]
quantity = "energy.import.total"
address = 0
type = "u32"
""", "meter"),
    "missing title": (METER.replace('title = "Test meter"\n', "") + TOTAL, "meter.title"),
    "unknown meter key": (METER + 'colour = "red"\n' + TOTAL, "meter.colour"),
    "bad model name": (METER.replace('"test-meter"', '"Test Meter"') + TOTAL, "meter.model"),
    "max_registers above 125": (METER + "max_registers = 200\n" + TOTAL, "meter.max_registers"),
    "negative max_gap": (METER + "max_gap = -1\n" + TOTAL, "meter.max_gap"),
    "no registers": (METER, "register"),
    "unknown quantity": (METER + TOTAL.replace("energy.import.total", "energy.import.t5"),
                         "register[0].quantity"),
    "bad type": (METER + TOTAL.replace('"u32"', '"u24"'),
                 "register[0] (energy.import.total).type"),
    "bad word order": (METER + TOTAL + 'word_order = "middle"\n',
                       "register[0] (energy.import.total).word_order"),
    "bad function": (METER + TOTAL + "function = 5\n",
                     "register[0] (energy.import.total).function"),
    "address out of range": (METER + TOTAL.replace("address = 0", "address = 70000"),
                             "register[0] (energy.import.total).address"),
    "value past 65535": (METER + TOTAL.replace("address = 0", "address = 65535"),
                         "register[0] (energy.import.total).address"),
    "scale not a number": (METER + TOTAL + 'scale = "ten"\n',
                           "register[0] (energy.import.total).scale"),
    "scale zero": (METER + TOTAL + "scale = 0\n", "register[0] (energy.import.total).scale"),
    "fractional Wh from an integer register": (
        METER + TOTAL + 'scale = "1/3"\n', "register[0] (energy.import.total).scale"),
    "float serial": (METER + TOTAL + """
[[register]]
quantity = "serial"
address = 10
type = "f32"
""", "register[1] (serial).type"),
    "unknown register key": (METER + TOTAL + "colour = 1\n", "register[0].colour"),
    "quantity twice": (METER + TOTAL + TOTAL.replace("address = 0", "address = 8"),
                       "register (energy.import.total)"),
    "overlapping registers": (METER + TOTAL + """
[[register]]
quantity = "energy.import.t1"
address = 1
type = "u32"
""", "register (energy.import.t1).address"),
    "no import energy": (METER + TOTAL.replace("energy.import.total", "energy.export.total"),
                         "register"),
}


@pytest.mark.parametrize("text,key", BROKEN.values(), ids=BROKEN.keys())
def test_profile_error_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert info.value.file == str(path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{path}: {key}: ")


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(METER + "[[register]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert info.value.file == str(path)
    assert str(info.value).startswith(f"{path}:7: ")


def test_unreadable_profile_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert info.value.file == str(path)


def test_profiles_command_lists_and_shows_models(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    assert main(["profiles"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in list_profiles())
    path = tmp_path / "mine.toml"
    path.write_text(METER + TOTAL, encoding="utf-8")
    assert main(["profiles", str(path)]) == 0
    assert "read plan: 1 request(s)" in capsys.readouterr().out


def test_profiles_command_reports_an_unknown_model_in_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown meter model 'nosuch'" in err
