"""`meterlink demo` runs the whole flow by itself (meters, broker, collector, accounting) and stops
cleanly on Ctrl-C with every reading it sent stored."""

import signal
import subprocess
import sys


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
