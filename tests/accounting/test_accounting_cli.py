"""`meterlink accounting …`, `meterlink history`, `meterlink export`: what people and scripts see."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from accounting.store import Store
from accounting_cases import T0, incoming, reading
from collector.cli import main


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'readings.db'}"
    store = Store.open(url)
    store.ingest(incoming(
        reading(total=12_345_990, t1=8_000_500, t2=4_345_490, tariffs=2),
        reading(hours=24, total=12_355_990, t1=8_006_500, t2=4_349_490, tariffs=2)))
    store.close()
    return url


def test_history_json_has_exact_wh_and_billed_kwh(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--db", db, "--meter", "11223344", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    first = out["readings"][0]
    assert first["energy_wh"] == {"total": 12_345_990, "t1": 8_000_500, "t2": 4_345_490}
    assert first["billing_kwh"] == {"total": 12345, "t1": 8000, "t2": 4345}
    assert out["consumption"] == [{"period": "2026-11", "account": "5001234567",
                                   "energy_wh": {"total": 10_000, "t1": 6_000, "t2": 4_000},
                                   "billing_kwh": {"total": 10, "t1": 6, "t2": 4}}]


def test_history_table_shows_billed_kwh(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--db", db, "--meter", "11223344"]) == 0
    out = capsys.readouterr().out
    assert "2026-11-10T12:00:00Z" in out and " 12345 " in out
    assert "consumption by period" in out


def test_history_of_an_unknown_meter_is_a_one_line_error(db: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--db", db, "--meter", "nope"]) == 2
    assert capsys.readouterr().err == "meterlink history: no readings of meter nope\n"


def test_export_csv_has_one_row_per_reading(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--db", db, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["total_wh"], r["total_kwh"]) for r in rows] == [("12345990", "12345"),
                                                              ("12355990", "12355")]
    assert rows[0]["t3_wh"] == ""


def test_export_consumption_to_a_file(db: str, tmp_path: Path) -> None:
    out = tmp_path / "consumption.csv"
    assert main(["export", "--db", db, "--csv", "--consumption", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["period"], r["t1_kwh"], r["t2_kwh"]) for r in rows] == [("2026-11", "6", "4")]


def test_replace_records_the_commissioning_reading_in_exact_wh(
        db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accounting", "replace", "--db", db, "--account", "5001234567", "--old", "11223344",
                 "--new", "55667788", "--initial", "total=0.5,t1=0.3,t2=0.2",
                 "--at", "2026-11-12T00:00:00Z"]) == 0
    assert "replaced by 55667788" in capsys.readouterr().out
    store = Store.open(db)
    store.ingest(incoming(reading("55667788", at=T0, hours=48, total=2_500, t1=1_300, t2=1_200)))
    assert store.consumption("55667788")[0].wh == {"total": 2_000, "t1": 1_000, "t2": 1_000}


def test_a_bad_initial_reading_is_refused_before_anything_changes(
        db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["accounting", "replace", "--db", db, "--account", "5001234567", "--old", "11223344",
              "--new", "55667788", "--initial", "total=0.0005"])
    assert "at most 3 decimals" in capsys.readouterr().err


def test_a_correction_from_the_command_line_is_a_new_version(
        db: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.open(db)
    reading_id = store.history("11223344")[0].id
    store.close()
    assert main(["accounting", "correct", "--db", db, "--reading", reading_id, "--set",
                 "total=12346.99,t1=8001.5,t2=4345.49", "--reason", "photo re-read",
                 "--by", "alice"]) == 0
    assert "version 2: in force" in capsys.readouterr().out
    assert main(["history", "--db", db, "--meter", "11223344", "--json"]) == 0
    versions = json.loads(capsys.readouterr().out)["readings"][0]["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["author"] == "alice" and versions[1]["reason"] == "photo re-read"


def test_region_moves_readings_outside_the_window_to_the_next_period(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["accounting", "region", "--db", url, "--account", "5001234567",
                 "--region", "RU-MOW"]) == 0
    store = Store.open(url)
    store.ingest(incoming(reading(total=1_000, t1=1_000)))  # the 10th: Moscow's window is 15–20
    assert store.history("11223344")[0].period == "2026-11"
    store.ingest(incoming(reading(hours=12 * 24, total=2_000, t1=2_000)))  # the 22nd
    assert store.history("11223344")[1].period == "2026-12"
