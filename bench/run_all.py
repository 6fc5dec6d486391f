"""Every benchmark in one run (``make bench``): each prints JSON, this prints them together.

Each benchmark runs in its own process, so one's imports, threads and memory do not colour the
next one's figures. Usage: ``python bench/run_all.py [--quick]`` (``--quick``: smaller sizes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(script: str, *args: str) -> object:
    done = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True,
                          text=True, cwd=HERE.parent, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    quick = parser.parse_args().quick
    results = {
        "read_plan": _run("read_plan.py"),
        "modbus_rtu": _run("modbus_rtu.py", *(["--meters", "8", "--cycles", "1"] if quick else [])),
        "modbus_tcp": _run("modbus_tcp.py", *(["--scale-meters", "1000"] if quick else [])),
        "e2e_mqtt": _run("e2e_mqtt.py", *(["--readings", "2000"] if quick else [])),
        "spool_drain": _run("spool_drain.py", *(["--readings", "5000"] if quick else [])),
    }
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0 if not any(isinstance(r, dict) and "error" in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
