"""End-to-end readings/s, collector → mosquitto → accounting (SQLite), against a bare paho loop.

Both run through one mosquitto started here, each side in its own process:

- bare:  a paho publisher sends the readings' JSON at QoS 1 (as many unacknowledged as the broker's
         Receive Maximum allows), a paho subscriber at QoS 1 counts them. No spool, no store.
- e2e:   the collector's ``Publisher`` (spool commit first, accounting acknowledgements) feeds a
         ``meterlink accounting`` worker that validates, applies the rules and commits to SQLite;
         the clock stops when the collector's spool is empty, i.e. every reading is committed.

    python bench/e2e_mqtt.py [--readings 20000] [--rounds 3]

The two alternate for ``--rounds`` rounds (the machine's other load hits both alike); prints one
JSON object: every round, the medians, their ratio (target ≥ 0.5) and the loss of each (target 0:
the bare loop loses what mosquitto drops past a subscriber's queue; ours must lose nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.reading import MeterRef, Reading  # noqa: E402
from mqtt.broker import Mosquitto  # noqa: E402

METERS = 200


def make_readings(count: int, start: int = 0) -> list[Reading]:
    from datetime import datetime, timedelta, timezone

    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    readings = []
    for index in range(start, start + count):
        meter, step = index % METERS, index // METERS
        t1, t2, t3 = 600_000 + step * 150, 300_000 + step * 70, 100_000 + step * 30
        readings.append(Reading(MeterRef(f"{30000000 + meter}", "abb-b23", f"7000{meter:06d}"),
                                base + timedelta(minutes=15 * step), "modbus",
                                {"total": t1 + t2 + t3, "t1": t1, "t2": t2, "t3": t3}, 3,
                                collector="bench", seq=index))
    return readings


def _paho_client(client_id: str):  # type: ignore[no-untyped-def]
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    # The same socket option the product sets: without it both sides wait on delayed ACKs.
    client.on_socket_open = lambda c, u, sock: sock.setsockopt(socket.IPPROTO_TCP,
                                                               socket.TCP_NODELAY, 1)
    client.max_inflight_messages_set(0)
    return client


def role_bare_sub(port: int, count: int) -> None:
    """Count what arrives; stop at ``count`` or after a second with nothing (the rest was dropped)."""
    received = 0
    last_at = 0.0
    arrived = threading.Condition()
    ready = threading.Event()
    client = _paho_client("bench-bare-sub")

    def on_message(c, u, m) -> None:  # type: ignore[no-untyped-def]
        nonlocal received, last_at
        with arrived:
            received += 1
            last_at = time.time()
            arrived.notify()

    client.on_connect = lambda c, *_: c.subscribe("meterlink/v1/+/+/reading", qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.wait(10)
    print("ready", flush=True)
    with arrived:
        while received < count:
            before = received
            arrived.wait(1.0)
            if received == before and received > 0:
                break
    print(json.dumps({"received": received, "done_at": last_at}), flush=True)
    client.disconnect()
    client.loop_stop()


def role_bare_pub(port: int, count: int) -> None:
    payloads = [(f"meterlink/v1/bench/{r.meter.serial}/reading", r.to_json()) for r in make_readings(count)]
    connected = threading.Event()
    window = threading.Semaphore(0)
    client = _paho_client("bench-bare-pub")

    def on_connect(c, u, flags, reason, properties) -> None:  # type: ignore[no-untyped-def]
        for _ in range(getattr(properties, "ReceiveMaximum", 20)):
            window.release()
        connected.set()

    client.on_connect = on_connect
    client.on_publish = lambda *_: window.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    connected.wait(10)
    print(json.dumps({"start_at": time.time()}), flush=True)
    for topic, payload in payloads:
        window.acquire()
        client.publish(topic, payload, qos=1)
    client.disconnect()
    client.loop_stop()


def role_collector(url: str, spool_path: str, count: int) -> None:
    from collector.spool import Spool, SpoolConfig
    from mqtt.config import BrokerConfig
    from mqtt.publisher import Publisher

    readings = make_readings(count)
    config = BrokerConfig.from_url(url, spool=SpoolConfig(Path(spool_path)))
    spool = Spool(config.spool)
    publisher = Publisher(config, spool, "bench", "bench")
    publisher.start()
    print(json.dumps({"start_at": time.time()}), flush=True)
    chunk = METERS  # one poll cycle of every meter per submission
    futures = [publisher.submit_nowait(readings[i:i + chunk]) for i in range(0, count, chunk)]
    for future in futures:
        future.result(300)
    status = publisher.wait_for(lambda s: s.spooled == 0, timeout=600)
    print(json.dumps({"done_at": time.time(), "confirmed": status.confirmed,
                      "republished": status.republished}), flush=True)
    publisher.close()
    spool.close()


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _line(process: subprocess.Popen[str], startswith: str = "") -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(startswith):
            return line
    raise RuntimeError(f"child exited: {process.stderr.read() if process.stderr else ''}")


def measure_bare(broker: Mosquitto, count: int) -> dict[str, float]:
    sub = _spawn(__file__, "--role", "bare-sub", "--port", str(broker.port), "--readings", str(count))
    _line(sub, "ready")
    pub = _spawn(__file__, "--role", "bare-pub", "--port", str(broker.port), "--readings", str(count))
    start = json.loads(_line(pub, "{"))["start_at"]
    done = json.loads(_line(sub, "{"))
    pub.wait(60)
    sub.wait(60)
    elapsed = done["done_at"] - start
    # What the subscriber got per second; the rest mosquitto dropped past its queue limit.
    return {"readings_per_s": round(done["received"] / elapsed), "seconds": round(elapsed, 2),
            "lost": count - done["received"]}


def measure_e2e(broker: Mosquitto, count: int, workdir: Path) -> dict[str, float]:
    db = workdir / "readings.db"
    worker = _spawn("-m", "collector.cli", "accounting", "--db", f"sqlite:///{db}", "--broker",
                    broker.url, "--worker", "bench-1")
    assert worker.stderr is not None
    for line in worker.stderr:
        if "subscribed to" in line:
            break
    threading.Thread(target=worker.stderr.read, daemon=True).start()  # keep its pipe flowing
    collector = _spawn(__file__, "--role", "collector", "--url", broker.url, "--spool",
                       str(workdir / "spool.db"), "--readings", str(count))
    start = json.loads(_line(collector, "{"))["start_at"]
    done = json.loads(_line(collector, "{"))
    collector.wait(60)
    worker.terminate()
    worker.wait(30)
    from accounting.store import Store

    store = Store.open(f"sqlite:///{db}")
    stored = store.count()
    expected = {r.id for r in make_readings(count)}
    found = {r.id for s in store.serials() for r in store.history(s)}
    store.close()
    elapsed = done["done_at"] - start
    return {"readings_per_s": round(count / elapsed), "seconds": round(elapsed, 2),
            "stored": stored, "lost": len(expected - found), "duplicates": stored - len(found),
            "republished": done["republished"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--role", choices=["bare-sub", "bare-pub", "collector"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--url")
    parser.add_argument("--spool")
    args = parser.parse_args()
    if args.role == "bare-sub":
        role_bare_sub(args.port, args.readings)
        return 0
    if args.role == "bare-pub":
        role_bare_pub(args.port, args.readings)
        return 0
    if args.role == "collector":
        role_collector(args.url, args.spool, args.readings)
        return 0
    bare: list[dict[str, float]] = []
    e2e: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="meterlink-bench-") as tmp:
        with Mosquitto(Path(tmp) / "broker") as broker:
            for round_ in range(args.rounds):
                bare.append(measure_bare(broker, args.readings))
                workdir = Path(tmp) / f"round-{round_}"
                workdir.mkdir()
                e2e.append(measure_e2e(broker, args.readings, workdir))
    bare_rate = statistics.median(r["readings_per_s"] for r in bare)
    e2e_rate = statistics.median(r["readings_per_s"] for r in e2e)
    print(json.dumps({
        "bench": "e2e_mqtt", "readings": args.readings, "meters": METERS, "rounds": args.rounds,
        "bare_paho_loop": {"median_readings_per_s": bare_rate,
                           "lost": [r["lost"] for r in bare], "runs": bare},
        "collector_to_accounting_sqlite": {"median_readings_per_s": e2e_rate,
                                           "lost": [r["lost"] for r in e2e],
                                           "duplicates": [r["duplicates"] for r in e2e], "runs": e2e},
        "ratio": round(e2e_rate / bare_rate, 2), "target_ratio": 0.5,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
