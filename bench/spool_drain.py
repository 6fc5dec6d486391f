"""Spool drain after an outage: readings/s and the collector's peak memory while it drains.

1. outage: the broker is down; a collector process keeps submitting readings (100 000 by
   default), which all go to its spool, then exits;
2. recovery: mosquitto starts on the same port with an accounting worker (SQLite); a fresh
   collector process opens the spool and drains it. The clock runs from its connection to an
   empty spool (every reading committed by the accounting side and acknowledged).

Baselines from the same run: the bare paho publish→subscribe loop through the same broker
(bench/e2e_mqtt.py's), and the peak memory of the same collector process draining an empty spool.

    python bench/spool_drain.py [--readings 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from e2e_mqtt import make_readings, measure_bare  # noqa: E402
from mqtt.broker import Mosquitto, free_port  # noqa: E402


def _publisher(url: str, spool_path: str):  # type: ignore[no-untyped-def]
    from collector.spool import Spool, SpoolConfig
    from mqtt.config import BrokerConfig
    from mqtt.publisher import Publisher

    config = BrokerConfig.from_url(url, spool=SpoolConfig(Path(spool_path), max_readings=10_000_000),
                                   reconnect_max_s=1.0)
    spool = Spool(config.spool)
    return Publisher(config, spool, "bench", "bench"), spool


def role_fill(url: str, spool_path: str, count: int) -> None:
    """The collector during the outage: every poll cycle goes to the spool."""
    publisher, spool = _publisher(url, spool_path)
    publisher.start(timeout=1.0)
    chunk = 2000
    for start in range(0, count, chunk):
        publisher.submit_nowait(make_readings(min(chunk, count - start), start)).result(120)
    print(json.dumps({"spooled": publisher.status().spooled, "state": publisher.status().state}),
          flush=True)
    publisher.close()
    spool.close()


def role_drain(url: str, spool_path: str) -> None:
    publisher, spool = _publisher(url, spool_path)
    before = spool.count
    start = time.time()
    publisher.start()
    status = publisher.wait_for(lambda s: s.spooled == 0, timeout=900)
    done = time.time()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"drained": before, "seconds": done - start, "peak_rss_mib": peak_kib / 1024,
                      "republished": status.republished}), flush=True)
    publisher.close()
    spool.close()


def _run(*args: str, timeout: float = 900) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--role", choices=["fill", "drain"])
    parser.add_argument("--url")
    parser.add_argument("--spool")
    args = parser.parse_args()
    if args.role == "fill":
        role_fill(args.url, args.spool, args.readings)
        return 0
    if args.role == "drain":
        role_drain(args.url, args.spool)
        return 0
    with tempfile.TemporaryDirectory(prefix="meterlink-drain-") as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "broker", port=free_port())
        spool = str(work / "spool.db")
        fill_start = time.time()
        filled = _run("--role", "fill", "--url", broker.url, "--spool", spool,
                      "--readings", str(args.readings))
        fill_seconds = time.time() - fill_start
        broker.start()
        try:
            bare = measure_bare(broker, 20_000)
            db = work / "readings.db"
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            worker = subprocess.Popen([sys.executable, "-m", "collector.cli", "accounting", "--db",
                                       f"sqlite:///{db}", "--broker", broker.url, "--worker", "w1"],
                                      cwd=ROOT, env=env, text=True, stderr=subprocess.PIPE)
            assert worker.stderr is not None
            for line in worker.stderr:
                if "subscribed to" in line:
                    break
            threading.Thread(target=worker.stderr.read, daemon=True).start()
            drained = _run("--role", "drain", "--url", broker.url, "--spool", spool)
            idle = _run("--role", "drain", "--url", broker.url, "--spool", str(work / "empty.db"))
            worker.terminate()
            worker.wait(30)
        finally:
            broker.stop()
        from accounting.store import Store

        store = Store.open(f"sqlite:///{db}")
        stored = store.count()
        store.close()
    print(json.dumps({
        "bench": "spool_drain", "readings": args.readings,
        "outage": {"spooled": filled["spooled"], "state": filled["state"],
                   "submit_readings_per_s": round(args.readings / fill_seconds)},
        "drain": {"readings_per_s": round(drained["drained"] / drained["seconds"]),
                  "seconds": round(drained["seconds"], 1),
                  "peak_rss_mib": round(drained["peak_rss_mib"], 1),
                  "republished": drained["republished"]},
        "baseline": {"bare_paho_loop_readings_per_s": bare["readings_per_s"],
                     "bare_paho_loop_lost": bare["lost"],
                     "empty_spool_peak_rss_mib": round(idle["peak_rss_mib"], 1)},
        "stored": stored, "lost": args.readings - stored,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
