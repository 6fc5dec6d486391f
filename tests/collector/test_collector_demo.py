"""`meterlink demo` runs the whole flow by itself (meters, broker, collector, accounting) and stops
cleanly on Ctrl-C with every reading it sent stored."""

import signal
import subprocess
import sys

import pytest

from accounting.store import Store


def test_demo_shows_every_meter_and_stops_cleanly_on_ctrl_c(tmp_path):
    demo = subprocess.Popen([sys.executable, "-m", "collector.cli", "demo", "--out",
                             str(tmp_path / "demo")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert demo.stdout is not None
    serials: set[str] = set()
    for line in demo.stdout:
        fields = line.split()
        if fields and fields[0].isdigit():
            serials.add(fields[0])
        if len(serials) == 10:
            break
    demo.send_signal(signal.SIGINT)
    rest, errors = demo.communicate(timeout=30)
    assert demo.returncode == 0, errors
    summary = next(line for line in rest.splitlines() if line.startswith("meterlink demo: stopped"))
    sent, stored = (int(summary.split()[i]) for i in (3, -2))
    assert sent >= 10 and stored == sent, summary
    assert (tmp_path / "demo" / "readings.db").is_file()
    assert (tmp_path / "demo" / "site.toml").is_file()




def _stored(folder) -> dict[str, list]:
    store = Store.open(f"sqlite:///{folder / 'readings.db'}")
    try:
        return {serial: store.history(serial) for serial in store.serials()}
    finally:
        store.close()


@pytest.mark.parametrize("saved", [True, False], ids=["meters-saved", "store-only"])
def test_a_second_demo_in_the_same_folder_continues_where_the_first_stopped(tmp_path, saved):
    # The virtual meters keep their registers and their clock between runs, as real meters
    # do (or, where they were not saved, go on from the store's latest accepted readings):
    # the second run's readings come after the first's, never below them, all accepted.
    folder = tmp_path / "demo"
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "collector.cli", "demo", "--out", str(folder),
                               "--duration", "4"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        runs.append(_stored(folder))
        if not saved:
            (folder / "meters.json").unlink()
    first, both = runs
    assert len(both) == 10
    for serial, readings in both.items():
        assert all(r.status == "accepted" for r in readings), serial
        before = {r.id for r in first[serial]}
        second = [r for r in readings if r.id not in before]
        last = first[serial][-1]
        assert second and all(r.taken_at > last.taken_at for r in second), serial
        assert all(r.energy_wh["total"] >= last.energy_wh["total"] for r in second), serial
