"""The spool: durable, ordered by taken_at per meter, bounded, and honest about what it drops."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from collector.spool import Spool, SpoolConfig
from drivers.errors import DeliveryError
from publish_readings import make_reading, make_readings


def test_readings_come_back_in_taken_at_order_not_arrival_order(tmp_path: Path) -> None:
    spool = Spool(SpoolConfig(tmp_path / "spool.db"))
    readings = make_readings(30, meters=3)
    with spool.transaction():
        spool.add(readings[20:], now=0.0)
        spool.add(readings[:20], now=0.0)
    handed = spool.after(None, 100)
    assert sorted(r.id for r in handed) == sorted(r.id for r in readings)
    assert [r.key[0] for r in handed] == sorted(r.key[0] for r in handed)
    by_meter = [r.id for r in handed if r.serial == readings[0].meter.serial]
    assert by_meter == [r.id for r in readings[::3]]
    assert spool.after(handed[9].key, 5) == handed[10:15]


def test_a_reading_spooled_twice_is_kept_once(tmp_path: Path) -> None:
    spool = Spool(SpoolConfig(tmp_path / "spool.db"))
    with spool.transaction():
        assert spool.add(make_readings(5), now=0.0) == 5
        assert spool.add(make_readings(6), now=0.0) == 1
    assert spool.count == 6


def test_committed_readings_survive_reopening(tmp_path: Path) -> None:
    config = SpoolConfig(tmp_path / "spool.db")
    spool = Spool(config)
    with spool.transaction():
        spool.add(make_readings(10), now=0.0)
        spool.delete([make_reading(0).id])
    spool.close()
    again = Spool(config)
    assert again.count == 9
    assert again.after(None, 1)[0].id == make_reading(1).id


def test_full_spool_refuses_new_readings_and_keeps_the_old(tmp_path: Path) -> None:
    spool = Spool(SpoolConfig(tmp_path / "spool.db", max_readings=10))
    with spool.transaction():
        spool.add(make_readings(8), now=0.0)
        with pytest.raises(DeliveryError, match="spool full: 8 readings waiting, limit 10"):
            spool.add(make_readings(3, start=8), now=0.0)
    assert spool.count == 8


def test_readings_past_the_age_limit_expire_and_are_reported(tmp_path: Path) -> None:
    spool = Spool(SpoolConfig(tmp_path / "spool.db", max_age_s=3600.0))
    with spool.transaction():
        spool.add(make_readings(3), now=1000.0)
        spool.add(make_readings(2, start=3), now=5000.0)
    expired = spool.expire(now=1000.0 + 3601.0)
    assert sorted(expired) == sorted(r.id for r in make_readings(3))
    assert spool.count == 2


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    spool = Spool(SpoolConfig(tmp_path / "spool.db"))
    with pytest.raises(RuntimeError):
        with spool.transaction():
            spool.add(make_readings(4), now=0.0)
            raise RuntimeError("power cut")
    assert spool.count == 0
    assert spool.after(None, 10) == []


def test_late_reading_of_a_meter_is_handed_out_before_its_later_ones(tmp_path: Path) -> None:
    spool = Spool(SpoolConfig(tmp_path / "spool.db"))
    late = make_reading(0)
    newer = make_reading(10)
    with spool.transaction():
        spool.add([newer], now=0.0)
        spool.add([late], now=1.0)
    assert late.taken_at + timedelta(minutes=15) == newer.taken_at
    assert [r.id for r in spool.after(None, 2)] == [late.id, newer.id]
