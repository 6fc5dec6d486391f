"""The store and the retailer's rules, run the same on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from accounting.store import Malformed, Store
from accounting_cases import T0, incoming, reading
from drivers.errors import StoreError

DAY = 24.0


def _ingest(store: Store, *readings: object, now: datetime | None = None) -> list[str]:
    return [o.status for o in store.ingest(incoming(*readings), now=now)]  # type: ignore[arg-type]


def test_a_redelivered_reading_is_a_no_op(store: Store) -> None:
    first = reading(total=1_000_000, t1=1_000_000)
    assert _ingest(store, first) == ["stored"]
    assert _ingest(store, first, first) == ["duplicate", "duplicate"]
    assert store.count() == 1


def test_billing_is_whole_kwh_truncated(store: Store) -> None:
    """The seeds' case: 12345.99 kWh bills as 12345."""
    _ingest(store, reading(total=12_345_990, t1=12_345_990))
    stored = store.history("11223344")[0]
    assert stored.energy_wh["total"] == 12_345_990
    assert stored.billing_kwh("total") == 12345


def test_registers_beyond_float_precision_stay_exact(store: Store) -> None:
    huge = 2**53 + 1
    _ingest(store, reading(total=huge, t1=huge))
    assert store.history("11223344")[0].energy_wh == {"total": huge, "t1": huge}


def test_a_register_below_the_previous_one_is_rejected_as_decrease_and_kept(store: Store) -> None:
    assert _ingest(store, reading(total=1_000_000, t1=1_000_000),
                   reading(hours=1, total=999_000, t1=999_000)) == ["stored", "rejected"]
    rejected = store.history("11223344")[1]
    assert rejected.status == "rejected" and rejected.reason.startswith("decrease: total")


def test_a_wrap_at_the_register_capacity_is_a_rollover(store: Store) -> None:
    """99999.8 kWh on a 6-digit, 1-decimal register, then 0.15 kWh an hour later."""
    assert _ingest(store, reading(total=99_999_800, t1=99_999_800),
                   reading(hours=1, total=150, t1=150)) == ["stored", "stored"]
    assert "rollover" in store.history("11223344")[1].flags
    november = store.consumption("11223344")[0]
    assert november.wh["total"] == 350
    assert november.kwh["total"] == 1  # 99999 kWh billed before, 100000 after


def test_a_rise_beyond_the_supplys_physical_maximum_is_stored_and_flagged_jump(store: Store) -> None:
    """100 kWh in one hour on a 15 kW supply."""
    assert _ingest(store, reading(total=1_000_000, t1=1_000_000),
                   reading(hours=1, total=1_100_000, t1=1_100_000)) == ["stored", "stored"]
    assert "jump" in store.history("11223344")[1].flags


@pytest.mark.parametrize("next_day_wh, flagged", [(90_000, False), (150_000, True)])
def test_a_rise_beyond_ten_typical_days_is_flagged_jump(store: Store, next_day_wh: int,
                                                        flagged: bool) -> None:
    """A month at 10 kWh a day; the next day's 150 kWh is over ten typical days, 90 kWh is not
    (and both are under the supply's 360 kWh a day)."""
    history = [reading(hours=DAY * d, total=1_000_000 + 10_000 * d, t1=1_000_000 + 10_000 * d)
               for d in range(31)]
    _ingest(store, *history)
    last = 1_000_000 + 10_000 * 30 + next_day_wh
    _ingest(store, reading(hours=DAY * 31, total=last, t1=last))
    assert ("jump" in store.history("11223344")[-1].flags) is flagged


def test_order_checks_follow_taken_at_not_arrival(store: Store) -> None:
    day2 = reading(hours=DAY, total=2_000_000, t1=2_000_000)
    day1 = reading(total=1_500_000, t1=1_500_000)
    too_high = reading(hours=12, total=2_100_000, t1=2_100_000)
    assert _ingest(store, day2) == ["stored"]
    assert _ingest(store, day1) == ["stored"]
    assert _ingest(store, too_high) == ["rejected"]
    assert "a later reading is already stored" in store.history("11223344")[1].reason


@pytest.mark.parametrize("t3, flagged", [(99_000, True), (99_980, False)])
def test_tariffs_must_add_up_to_the_total(store: Store, t3: int, flagged: bool) -> None:
    _ingest(store, reading(total=1_000_000, t1=600_000, t2=300_000, t3=t3))
    assert ("sum_mismatch" in store.history("11223344")[0].flags) is flagged


def test_a_meters_tariff_count_is_fixed(store: Store) -> None:
    assert _ingest(store, reading(total=1_000, t1=500, t2=300, t3=200),
                   reading(hours=1, total=1_100, t1=600, t2=500)) == ["stored", "rejected"]
    assert store.history("11223344")[1].reason.startswith("tariff_count")


def test_a_replacement_meter_starts_from_its_commissioning_record(store: Store) -> None:
    _ingest(store, reading("OLD-1", total=5_000_000, t1=5_000_000))
    store.replace_meter(account="5001234567", old="OLD-1", new="NEW-1",
                        initial_wh={"total": 1_500, "t1": 1_500}, at=T0 + timedelta(hours=1))
    assert _ingest(store, reading("NEW-1", hours=2, total=3_500, t1=3_500),
                   reading("NEW-1", hours=0.5, total=3_000, t1=3_000),
                   reading("OLD-1", hours=3, total=5_100_000, t1=5_100_000)) == \
        ["stored", "rejected", "rejected"]
    assert store.consumption("NEW-1")[0].wh == {"total": 2_000, "t1": 2_000}
    assert store.consumption("NEW-1")[0].kwh == {"total": 2, "t1": 2}
    assert store.history("OLD-1")[1].reason.startswith("decommissioned: replaced by NEW-1")
    assert store.history("NEW-1")[0].reason.startswith("before_commissioning")


def test_a_replacement_meter_below_its_initial_reading_is_a_decrease(store: Store) -> None:
    _ingest(store, reading("OLD-1", total=5_000_000, t1=5_000_000))
    store.replace_meter(account="5001234567", old="OLD-1", new="NEW-1",
                        initial_wh={"total": 1_500, "t1": 1_500}, at=T0 + timedelta(hours=1))
    assert _ingest(store, reading("NEW-1", hours=2, total=1_000, t1=1_000)) == ["rejected"]


def test_replacing_a_meter_of_another_account_is_refused(store: Store) -> None:
    _ingest(store, reading("OLD-1", total=5_000, t1=5_000))
    with pytest.raises(StoreError, match="belongs to account"):
        store.replace_meter(account="other", old="OLD-1", new="NEW-1", initial_wh={"total": 0},
                            at=T0 + timedelta(hours=1))


def test_a_correction_within_24_hours_applies_and_history_keeps_both(store: Store) -> None:
    received = T0 + timedelta(hours=1)
    _ingest(store, reading(total=1_000_000, t1=1_000_000), now=received)
    reading_id = store.history("11223344")[0].id
    store.correct(reading_id, {"total": 1_000_500, "t1": 1_000_500}, reason="misread digit",
                  author="alice", now=received + timedelta(hours=23))
    stored = store.reading(reading_id)
    assert stored.version == 2 and stored.energy_wh["total"] == 1_000_500
    first, second = stored.versions
    assert first.energy_wh["total"] == 1_000_000
    assert (second.author, second.reason, second.approved_by) == ("alice", "misread digit", "alice")


def test_a_correction_after_24_hours_waits_for_an_operator(store: Store) -> None:
    received = T0 + timedelta(hours=1)
    _ingest(store, reading(total=1_000_000, t1=1_000_000), now=received)
    reading_id = store.history("11223344")[0].id
    pending = store.correct(reading_id, {"total": 1_000_500, "t1": 1_000_500}, reason="late fix",
                            author="alice", now=received + timedelta(hours=25))
    assert pending.approved_by is None
    assert store.reading(reading_id).energy_wh["total"] == 1_000_000
    store.approve(reading_id, pending.version, operator="bob", now=received + timedelta(hours=26))
    approved = store.reading(reading_id)
    assert approved.energy_wh["total"] == 1_000_500
    assert approved.versions[-1].approved_by == "bob"
    assert len(approved.versions) == 2


def test_a_correction_without_a_reason_is_refused(store: Store) -> None:
    _ingest(store, reading(total=1_000, t1=1_000))
    with pytest.raises(StoreError, match="reason"):
        store.correct(store.history("11223344")[0].id, {"total": 2_000, "t1": 2_000}, reason=" ",
                      author="alice")


def test_a_reading_outside_its_regions_window_counts_for_the_next_period(store: Store) -> None:
    """Moscow takes readings on the 15th–20th: the 17th counts for November, the 22nd for December."""
    store.set_region("5001234567", "RU-MOW")
    inside = reading(at=datetime(2026, 11, 17, 9, 0, tzinfo=timezone.utc), total=1_000, t1=1_000)
    outside = reading(at=datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc), total=2_000, t1=2_000)
    _ingest(store, inside, outside)
    first, second = store.history("11223344")
    assert (first.period, second.period) == ("2026-11", "2026-12")
    assert "outside_window" in second.flags and second.status == "accepted"


def test_consumption_is_per_period_and_tariff(store: Store) -> None:
    nov = reading(at=datetime(2026, 11, 1, tzinfo=timezone.utc), total=1_000_000, t1=600_000,
                  t2=300_000, t3=100_000)
    nov_end = reading(at=datetime(2026, 11, 30, tzinfo=timezone.utc), total=1_300_500, t1=800_200,
                      t2=380_100, t3=120_200)
    dec_end = reading(at=datetime(2026, 12, 31, tzinfo=timezone.utc), total=1_700_000, t1=1_000_000,
                      t2=500_000, t3=200_000)
    _ingest(store, nov, dec_end, nov_end)
    november, december = store.consumption("11223344")
    assert november.period == "2026-11"
    assert november.wh == {"total": 300_500, "t1": 200_200, "t2": 80_100, "t3": 20_200}
    assert december.kwh == {"total": 1700 - 1300, "t1": 1000 - 800, "t2": 500 - 380, "t3": 200 - 120}


def test_malformed_payloads_are_kept_with_their_topic(store: Store) -> None:
    store.ingest([], [Malformed("meterlink/v1/site-1/x/reading", b"{oops", "not JSON")])
    assert store.malformed() == [Malformed("meterlink/v1/site-1/x/reading", b"{oops", "not JSON")]


def test_unknown_region_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown region 'Atlantis'"):
        store.set_region("5001234567", "Atlantis")


def test_a_declared_register_capacity_decides_the_rollover(store: Store) -> None:
    """A 2000 kWh register (not a power of ten): 1999.9 kWh, then 0.05 kWh an hour later."""
    _ingest(store, reading(total=1_999_900, t1=1_999_900))
    store.set_meter_limits("11223344", capacity_wh=2_000_000)
    assert _ingest(store, reading(hours=1, total=50, t1=50)) == ["stored"]
    assert "rollover" in store.history("11223344")[1].flags
    assert store.consumption("11223344")[0].wh["total"] == 150
