"""The virtual meter: exact energy accounting, tariffs, rollover, reproducibility, registers."""

import random
from datetime import timedelta

import pytest

from drivers import ReadPlan, parse_profile
from firmware_sim import AcceleratedClock, LoadProfile, ManualClock, TariffClock, VirtualMeter
from firmware_sim.registers import IllegalAddress, capacity_wh
from tests.sim.conftest import MONDAY, small_counter_profile


def test_energy_is_split_exactly_at_a_zone_boundary(clock, generic):
    clock.set(MONDAY + timedelta(hours=6, minutes=30))
    meter = VirtualMeter("1", generic, clock=clock, load=LoadProfile.flat(1000))
    clock.advance(timedelta(hours=1))  # 06:30 night → 07:30 peak
    assert meter.state().import_wh == (500, 500, 0, 0)


def test_a_day_at_constant_load_fills_each_tariff_by_its_hours(clock, generic):
    meter = VirtualMeter("1", generic, clock=clock, load=LoadProfile.flat(1000),
                         start_wh={"t1": 10, "t2": 20, "t3": 30})
    clock.advance(timedelta(days=1))
    state = meter.state()
    assert state.import_wh == (10 + 7000, 20 + 8000, 30 + 9000, 0)
    assert state.total_wh == 24_060


def test_tariff_registers_always_sum_to_the_total(clock, generic):
    meter = VirtualMeter("1", generic, clock=clock, load=LoadProfile(mean_w=3217, seed=9),
                         start_wh={"t1": 7, "t2": 11, "t3": 13})
    rng = random.Random(4)
    for _ in range(300):
        clock.advance(timedelta(microseconds=rng.randrange(1, 3_600_000_000)))
        values = meter.values()
        assert values["energy.import.t1"] + values["energy.import.t2"] \
            + values["energy.import.t3"] == values["energy.import.total"]


def test_sub_wh_remainders_are_kept_so_frequent_reads_do_not_drift(clock, generic):
    meter = VirtualMeter("1", generic, clock=clock, load=LoadProfile.flat(1))
    for _ in range(3600):  # 1 W for 3600 s read every second: 1/3600 Wh at a time
        clock.advance(timedelta(seconds=1))
        meter.state()
    assert meter.state().total_wh == 1


def test_energy_at_a_time_does_not_depend_on_how_often_the_meter_was_read(generic):
    load = LoadProfile(mean_w=900, seed=5)
    often_clock, once_clock = ManualClock(MONDAY), ManualClock(MONDAY)
    often = VirtualMeter("1", generic, clock=often_clock, load=load)
    once = VirtualMeter("2", generic, clock=once_clock, load=load)
    rng = random.Random(1)
    end = MONDAY + timedelta(days=2, seconds=7, microseconds=3)
    while often_clock.now() < end:
        step = timedelta(microseconds=rng.randrange(1, 900_000_000))
        often_clock.set(min(end, often_clock.now() + step))
        often.state()
    once_clock.set(end)
    assert often.state().import_wh == once.state().import_wh


def test_the_same_seed_gives_the_same_energy_and_another_seed_does_not(clock, generic):
    meters = [VirtualMeter(str(i), generic, clock=clock, load=LoadProfile(mean_w=800, seed=s))
              for i, s in enumerate((42, 42, 43), start=1)]
    clock.advance(timedelta(days=3))
    first, same, other = (m.state().import_wh for m in meters)
    assert first == same
    assert first != other


def test_mean_power_over_a_week_is_the_configured_mean(clock, generic):
    meter = VirtualMeter("1", generic, clock=clock, load=LoadProfile(mean_w=1200, seed=3))
    clock.advance(timedelta(days=7))
    assert meter.state().total_wh == pytest.approx(1200 * 24 * 7, rel=0.01)


def test_power_follows_the_daily_shape(clock, generic):
    meter = VirtualMeter("1", generic, clock=clock, load=LoadProfile(mean_w=1000, noise=0.0))
    clock.set(MONDAY + timedelta(hours=3))
    night = meter.state().power_w
    clock.set(MONDAY + timedelta(hours=19))
    assert meter.state().power_w > 3 * night


def test_registers_roll_over_at_their_capacity_and_counters_do_not(clock):
    regmap = small_counter_profile()
    assert capacity_wh(regmap.register("energy.import.t1")) == 655_360
    clock.set(MONDAY + timedelta(hours=8))  # peak: all energy goes to T1
    meter = VirtualMeter("1", regmap, clock=clock, load=LoadProfile.flat(1000),
                         start_wh={"t1": 655_000, "t2": 1, "t3": 2})
    clock.advance(timedelta(hours=1))  # T1 counter 656 000 Wh: past capacity by 640
    assert meter.state().import_wh[0] == 656_000
    values = meter.values()
    assert values["energy.import.t1"] == 640
    assert values["energy.import.total"] == (656_000 + 1 + 2) // 10 * 10 % 655_360
    assert meter.registers()[(3, 1)] == 64


def test_registers_show_whole_units_of_their_scale(clock):
    meter = VirtualMeter("1", small_counter_profile(), clock=clock,
                         start_wh={"t1": 1239, "t2": 5, "t3": 0})
    values = meter.values()
    assert values["energy.import.t1"] == 1230
    assert values["energy.import.t2"] == 0
    assert values["energy.import.total"] == 1240


def test_a_tariff_the_model_lacks_is_counted_in_t1(clock):
    two_rate = parse_profile("""
        [meter]
        model = "two-rate"
        title = "day/night"
        vendor = "test"
        document = "test"
        [[register]]
        quantity = "energy.import.t1"
        address = 0
        type = "u32"
        [[register]]
        quantity = "energy.import.t2"
        address = 2
        type = "u32"
    """)
    clock.set(MONDAY + timedelta(hours=12))  # semi-peak (T3) in the default program
    meter = VirtualMeter("1", two_rate, clock=clock, load=LoadProfile.flat(1000))
    clock.advance(timedelta(hours=1))
    assert meter.values() == {"energy.import.t1": 1000, "energy.import.t2": 0}


@pytest.mark.parametrize(("start", "complaint"), [
    ({"t4": 1}, "no import T4 register"),
    ({"t1": 1, "total": 2}, "not the sum"),
    ({"t1": -1}, "non-negative integer"),
    ({"t1": 1.5}, "non-negative integer"),
    ({"day": 1}, "unknown register"),
])
def test_start_values_the_model_cannot_show_are_rejected(clock, generic, start, complaint):
    with pytest.raises(ValueError, match=complaint):
        VirtualMeter("1", generic, clock=clock, start_wh=start)


@pytest.mark.parametrize("serial", ["4294967296", "ABC123", "0012", ""])
def test_a_serial_the_serial_register_cannot_hold_is_rejected(clock, generic, serial):
    with pytest.raises(ValueError, match="serial"):
        VirtualMeter(serial, generic, clock=clock)


def test_the_meter_cannot_be_read_at_an_earlier_time_than_it_counted(clock, generic):
    meter = VirtualMeter("1", generic, clock=clock)
    clock.advance(timedelta(hours=1))
    meter.state()
    with pytest.raises(ValueError, match="time went back"):
        meter.state(MONDAY)


def test_an_accelerated_clock_runs_factor_times_the_wall_clock():
    wall = [100.0]
    clock = AcceleratedClock(MONDAY, factor=3600, monotonic=lambda: wall[0])
    wall[0] += 2.5
    assert clock.now() == MONDAY + timedelta(hours=2.5)


def test_local_time_moves_the_tariff_zones(clock, generic):
    clock.set(MONDAY + timedelta(hours=4))  # 04:00 UTC is 07:00 at UTC+3: peak
    meter = VirtualMeter("1", generic, clock=clock, load=LoadProfile.flat(3600),
                         utc_offset=timedelta(hours=3))
    clock.advance(timedelta(seconds=1))
    assert meter.state().import_wh == (1, 0, 0, 0)
    assert meter.state().tariff == 1


def test_a_read_decodes_with_the_drivers_plan_to_the_meter_values(clock, generic):
    meter = VirtualMeter("12345678", generic, clock=clock, load=LoadProfile(mean_w=650, seed=2),
                         start_wh={"t1": 1, "t2": 2, "t3": 3})
    clock.advance(timedelta(hours=30, seconds=17))
    plan = ReadPlan.for_map(generic)
    words = [meter.read(b.function, b.address, b.count) for b in plan.blocks]
    assert plan.decode(words) == meter.values()


def test_the_gap_between_two_values_reads_as_zero(clock, generic):
    meter = VirtualMeter("1", generic, clock=clock)
    assert meter.read(3, 32, 8) == [0] * 8  # between T3 (28..31) and power (40..41)


@pytest.mark.parametrize(("function", "address", "count"), [
    (3, 2, 1),     # past the serial, farther than max_gap from the next value
    (3, 40, 3),    # runs off the end of the map
    (4, 16, 4),    # the generic model has no input registers
])
def test_a_read_outside_the_register_map_is_an_illegal_address(clock, generic, function,
                                                               address, count):
    with pytest.raises(IllegalAddress):
        VirtualMeter("1", generic, clock=clock).read(function, address, count)


def test_a_custom_tariff_program_drives_the_registers(clock, generic):
    flat_rate = TariffClock([("00:00", "24:00", 3)])
    meter = VirtualMeter("1", generic, clock=clock, load=LoadProfile.flat(100), tariffs=flat_rate)
    clock.advance(timedelta(days=1))
    assert meter.state().import_wh == (0, 0, 2400, 0)


def test_registers_move_only_at_each_firmware_refresh(clock, generic):
    meter = VirtualMeter("1", generic, clock=clock, load=LoadProfile.flat(3600),
                         refresh=timedelta(seconds=10))
    clock.advance(timedelta(seconds=10))
    first = meter.values()
    clock.advance(timedelta(seconds=9))  # 9 Wh flowed, but the image is still the old one
    assert meter.values() == first
    clock.advance(timedelta(seconds=1))
    assert meter.values()["energy.import.total"] == first["energy.import.total"] + 10
