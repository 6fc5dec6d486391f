"""Submission windows by region: the seeds' table, shipped as data, in each region's local time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from accounting.windows import load_windows, shipped_windows
from drivers.errors import ConfigError

# The seeds' table: region → (first day, last day) of the month, MosOblEIRC into the next month.
SEED_TABLE = {
    "RU-MOW": (15, 20), "RU-ALT": (21, 23), "RU-VOR": (22, 26), "RU-ZAB": (20, 23),
    "RU-IVA": (21, 24), "RU-IRK": (23, 25), "RU-KOS": (23, 26), "RU-LIP": (1, 25),
    "RU-SPE": (23, 25), "RU-TVE": (15, 25), "RU-SA": (1, 10),
}


def _local_noon(region: str, month: int, day: int) -> datetime:
    offset = shipped_windows()[region].utc_offset_h
    return datetime(2026, month, day, 12, tzinfo=timezone(timedelta(hours=offset)))


def test_the_shipped_file_holds_the_seeds_table() -> None:
    windows = shipped_windows()
    for region, (start, end) in SEED_TABLE.items():
        assert (windows[region].start_day, windows[region].end_day) == (start, end), region
        assert not windows[region].end_next_month
    mosobl = windows["RU-MOS"]
    assert (mosobl.start_day, mosobl.end_day, mosobl.end_next_month) == (15, 3, True)


@pytest.mark.parametrize("region", sorted(SEED_TABLE))
def test_window_days_count_for_the_month_and_the_day_after_for_the_next(region: str) -> None:
    window = shipped_windows()[region]
    start, end = SEED_TABLE[region]
    assert window.period_of(_local_noon(region, 11, start)) == ("2026-11", True)
    assert window.period_of(_local_noon(region, 11, end)) == ("2026-11", True)
    assert window.period_of(_local_noon(region, 11, end + 1)) == ("2026-12", False)


def test_before_the_window_opens_the_reading_waits_for_this_months_window() -> None:
    assert shipped_windows()["RU-MOW"].period_of(_local_noon("RU-MOW", 11, 5)) == ("2026-11", False)


@pytest.mark.parametrize("day, month, period, inside", [
    (15, 11, "2026-11", True), (30, 11, "2026-11", True), (3, 12, "2026-11", True),
    (4, 12, "2026-12", False), (14, 12, "2026-12", False), (2, 1, "2026-12", True),
])
def test_mosobleirc_window_runs_from_the_15th_to_the_3rd_of_the_next_month(
        day: int, month: int, period: str, inside: bool) -> None:
    year = 2027 if month == 1 else 2026
    moment = datetime(year, month, day, 12, tzinfo=timezone(timedelta(hours=3)))
    assert shipped_windows()["RU-MOS"].period_of(moment) == (period, inside)


def test_the_day_is_the_regions_local_day() -> None:
    """22 Nov 17:00 UTC is already the 23rd in Irkutsk (UTC+8), inside its 23–25 window;
    in Saint Petersburg (UTC+3) it is still the 22nd, before the same window opens."""
    moment = datetime(2026, 11, 22, 17, 0, tzinfo=timezone.utc)
    assert shipped_windows()["RU-IRK"].period_of(moment) == ("2026-11", True)
    assert shipped_windows()["RU-SPE"].period_of(moment) == ("2026-11", False)


def test_a_bad_windows_file_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"w\.toml: regions\.X\.end_day"):
        load_windows('[regions.X]\nname = "X"\nutc_offset_h = 3\nstart_day = 20\nend_day = 10\n',
                     file="w.toml")
