"""``meterlink read-photo`` and ``meterlink submit-photo``: exit codes, stable JSON, readings."""

from __future__ import annotations

import json
from pathlib import Path

from accounting.ingest import IngestThread
from accounting.store import Store
from collector.cli import main
from collector.reading import reading_from_json
from mqtt import BrokerConfig, Mosquitto


def test_read_photo_prints_the_reading_and_exits_zero(meter_photo, capsys):
    path = meter_photo("t1.jpg", "012345.67", "t1")
    assert main(["read-photo", str(path)]) == 0
    out = capsys.readouterr().out
    assert "012345.67 kWh" in out and "T1" in out


def test_read_photo_json_is_one_object_per_image(meter_photo, capsys):
    first = meter_photo("a.jpg", "012345.67", "t1")
    second = meter_photo("b.jpg", "00098.7", "t2", style="bold")
    assert main(["read-photo", "--json", str(first), str(second)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["file"], d["text"], d["energy_wh"], d["tariff"]) for d in lines] == [
        (str(first), "012345.67", 12345670, "t1"), (str(second), "00098.7", 98700, "t2")]
    assert set(lines[0]) >= {"ok", "text", "value_kwh", "energy_wh", "decimals", "tariff",
                             "confidence", "digit_confidence", "low_confidence", "display_box", "qr"}


def test_read_photo_exits_two_and_says_why_when_an_image_cannot_be_read(meter_photo, tmp_path: Path,
                                                                         capsys):
    good = meter_photo("good.jpg", "012345.67", "t1")
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a photo")
    assert main(["read-photo", "--json", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [d["ok"] for d in lines] == [True, False]
    assert "not an image" in lines[1]["error"]
    assert f"{bad}: this file is not an image" in captured.err


def test_submit_photo_combines_one_photo_per_tariff_into_one_reading(meter_photo, capsys):
    photos = [meter_photo("t1.jpg", "012345.67", "t1"), meter_photo("t2.jpg", "000123.45", "t2"),
              meter_photo("total.jpg", "012469.12", "total", style="italic")]
    code = main(["submit-photo", "--serial", "12345678", "--account", "5001234567", "--stdout",
                 "--taken-at", "2026-11-22T14:00:00Z", *map(str, photos)])
    assert code == 0
    reading = reading_from_json(capsys.readouterr().out)
    assert reading.source == "photo"
    assert dict(reading.energy_wh) == {"t1": 12345670, "t2": 123450, "total": 12469120}
    assert reading.tariffs == 2
    assert reading.meter.serial == "12345678" and reading.meter.account == "5001234567"
    assert "low_confidence" not in reading.quality.flags


def test_submit_photo_flags_a_tariff_the_resident_did_not_photograph(meter_photo, capsys):
    path = meter_photo("t1.jpg", "012345.67", "t1")
    assert main(["submit-photo", "--serial", "1234", "--account", "1", "--tariffs", "3",
                 "--stdout", str(path)]) == 0
    reading = reading_from_json(capsys.readouterr().out)
    assert "missing_tariff" in reading.quality.flags


def test_submit_photo_of_a_dynamic_qr_gives_a_qr_reading(meter_photo, capsys):
    payload = "serial=12345678;t1=12345678;t2=234567;t3=34567;ts=2026-11-22T14:00:00Z"
    path = meter_photo("qr.jpg", "012345.67", "t1", qr=payload)
    assert main(["submit-photo", "--serial", "12345678", "--account", "1", "--stdout", str(path)]) == 0
    reading = reading_from_json(capsys.readouterr().out)
    assert reading.source == "qr"
    assert dict(reading.energy_wh) == {"t1": 12345678, "t2": 234567, "t3": 34567}
    assert reading.taken_at.isoformat() == "2026-11-22T14:00:00+00:00"


def test_submit_photo_refuses_a_qr_code_of_another_meter(meter_photo, capsys):
    path = meter_photo("qr.jpg", "012345.67", "t1", qr="serial=99999999;t1=12345678")
    assert main(["submit-photo", "--serial", "12345678", "--account", "1", "--stdout", str(path)]) == 2
    assert "names meter 99999999, not 12345678" in capsys.readouterr().err


def test_submit_photo_refuses_two_different_values_for_one_tariff(meter_photo, capsys):
    first = meter_photo("a.jpg", "012345.67", "t1")
    second = meter_photo("b.jpg", "012399.00", "t1")
    assert main(["submit-photo", "--serial", "1", "--account", "1", "--stdout",
                 str(first), str(second)]) == 2
    assert "different values" in capsys.readouterr().err


def test_submit_photo_refuses_a_display_that_contradicts_its_qr(meter_photo, capsys):
    path = meter_photo("qr.jpg", "012345.67", "t1", qr="serial=12345678;t1=99999999")
    assert main(["submit-photo", "--serial", "12345678", "--account", "1", "--stdout", str(path)]) == 2
    assert "QR code says" in capsys.readouterr().err


def test_submit_photo_needs_a_destination(meter_photo, capsys):
    path = meter_photo("t1.jpg", "012345.67", "t1")
    assert main(["submit-photo", "--serial", "1", "--account", "1", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--config site.toml" in err


def test_submit_photo_publishes_the_reading_to_the_accounting_store(meter_photo, tmp_path: Path):
    photos = [meter_photo("t1.jpg", "012345.67", "t1"), meter_photo("t2.jpg", "000123.45", "t2")]
    db = f"sqlite:///{tmp_path / 'readings.db'}"
    with Mosquitto(tmp_path / "broker") as broker, \
            IngestThread(BrokerConfig.from_url(broker.url), db, worker_id="t"):
        site = tmp_path / "site.toml"
        site.write_text(f'[collector]\nid = "phone"\nsite = "home"\n\n'
                        f'[mqtt]\nurl = "{broker.url}"\nspool = "spool.db"\n')
        assert main(["submit-photo", "--serial", "12345678", "--account", "5001",
                     "--config", str(site), *map(str, photos)]) == 0
    store = Store.open(db)
    try:
        (stored,) = store.history("12345678")
    finally:
        store.close()
    assert stored.source == "photo"
    assert dict(stored.energy_wh) == {"t1": 12345670, "t2": 123450}
