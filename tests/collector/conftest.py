"""Fixtures for the collector: virtual meters of every shipped model behind a real Modbus port."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from collector.reading import Reading
from drivers import list_profiles, load_profile
from firmware_sim import LoadProfile, ManualClock, VirtualMeter

T0 = datetime(2026, 11, 22, 6, 30, tzinfo=timezone.utc)


class ListSink:
    """Keeps what the scheduler submits, for assertions."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    async def submit(self, reading: Reading) -> None:
        self.readings.append(reading)


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def every_model(clock: ManualClock):
    """A factory: unit id → meter, ``per_model`` meters of each shipped profile."""
    return lambda per_model=1: meters_of_every_model(clock, per_model)


@pytest.fixture
def site(tmp_path: Path):
    """A factory writing a site.toml with one bus and the given meters on it."""
    return lambda bus, meters, **keys: site_config(tmp_path, bus, meters, **keys)


def meters_of_every_model(clock: ManualClock, per_model: int = 1) -> dict[int, VirtualMeter]:
    """Unit id → meter: ``per_model`` meters of each shipped profile, distinct serials and loads."""
    meters: dict[int, VirtualMeter] = {}
    for model in list_profiles():
        for _ in range(per_model):
            unit = len(meters) + 1
            regmap = load_profile(model)
            start = {f"t{n}": 1_000_000 * unit // n for n in range(1, regmap.tariffs + 1)}
            meters[unit] = VirtualMeter(
                str(70_000_000 + unit), regmap, clock=clock,
                load=LoadProfile(mean_w=800 + 10 * unit, seed=unit),
                start_wh=start or {"total": 1_750_000 * unit})
    return meters


def site_config(tmp_path: Path, bus: str, meters: dict[int, VirtualMeter], **bus_keys) -> Path:
    """A site.toml with one bus and every meter on it (serials from the config)."""
    lines = ["[collector]", 'id = "gw-test"', 'site = "lab"', "cycle_s = 0.2", "", "[[bus]]",
             'name = "bus1"']
    lines += [f"{key} = {value!r}".replace("'", '"') for key, value in
              {"transport": bus, **bus_keys}.items()]
    for unit, meter in meters.items():
        lines += ["", "[[meter]]", 'bus = "bus1"', f"unit = {unit}", f'model = "{meter.model}"',
                  f'serial = "{meter.serial}"', f'account = "A{unit}"']
    path = tmp_path / "site.toml"
    path.write_text(textwrap.dedent("\n".join(lines)) + "\n")
    return path
