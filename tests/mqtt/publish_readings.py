"""A collector stand-in for the delivery tests: the real ``Publisher`` and ``Spool`` fed with
deterministic readings, runnable as a process so a test can ``kill -9`` it mid-stream.

    python publish_readings.py --url mqtt://127.0.0.1:PORT --spool PATH --start 0 --count 2000

Prints ``ready`` once connected, ``spooled N`` each time readings up to index N (exclusive) are
durably spooled, and ``drained`` once every reading has been confirmed; then it exits.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from collector.reading import MeterRef, Reading

BASE = datetime(2026, 11, 1, tzinfo=timezone.utc)


def make_reading(index: int, *, meters: int = 10, collector: str = "gw-01") -> Reading:
    """Reading number ``index``: meter ``index % meters``, 15 minutes after the meter's previous
    one, three tariffs that add up to the total, about 1 kW of load."""
    meter, step = index % meters, index // meters
    t1 = 600_000 + step * 150 + meter
    t2 = 300_000 + step * 70
    t3 = 100_000 + step * 30
    return Reading(
        meter=MeterRef(f"{40000000 + meter}", "abb-b23", f"50012{meter:05d}"),
        taken_at=BASE + timedelta(minutes=15 * step),
        source="modbus",
        energy_wh={"total": t1 + t2 + t3, "t1": t1, "t2": t2, "t3": t3},
        tariffs=3,
        collector=collector,
        seq=index,
    )


def make_readings(count: int, *, start: int = 0, meters: int = 10,
                  collector: str = "gw-01") -> list[Reading]:
    return [make_reading(i, meters=meters, collector=collector) for i in range(start, start + count)]


def main() -> int:
    from collector.spool import Spool, SpoolConfig
    from mqtt.config import BrokerConfig
    from mqtt.publisher import Publisher

    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--site", default="site-1")
    parser.add_argument("--collector", default="gw-01")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--chunk", type=int, default=50)
    args = parser.parse_args()
    config = BrokerConfig.from_url(args.url, spool=SpoolConfig(args.spool), ack_timeout_s=0.5,
                                   ack_timeout_max_s=2.0, reconnect_max_s=1.0)
    spool = Spool(config.spool)
    publisher = Publisher(config, spool, args.site, args.collector)
    publisher.start()
    print("ready", flush=True)
    end = args.start + args.count
    for first in range(args.start, end, args.chunk):
        last = min(first + args.chunk, end)
        publisher.submit_nowait(make_readings(last - first, start=first,
                                              collector=args.collector)).result(30)
        print(f"spooled {last}", flush=True)
    publisher.wait_for(lambda s: s.spooled == 0, timeout=120)
    print("drained", flush=True)
    publisher.close()
    spool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
