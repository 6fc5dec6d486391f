"""The ``meterlink`` command: one subcommand per job users and scripts rely on (see DESIGN.md).

Every subcommand turns ``MeterlinkError`` into a one-line reason on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence

from drivers.errors import ConfigError, DeliveryError, MeterlinkError, StoreError

if TYPE_CHECKING:
    from accounting.store import Store
    from collector.config import SiteConfig
    from collector.scheduler import Sink

Command = Callable[[argparse.Namespace], int]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meterlink", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("profiles", help="list meter models, or show one")
    p.add_argument("model", nargs="?", help="show this model's registers and read plan")
    p.set_defaults(run=_run_profiles)

    p = sub.add_parser("sim", help="run virtual meters on a pty or a TCP port")
    p.add_argument("--config", required=True, metavar="SIM.TOML",
                   help="the meters and where to serve them (see firmware_sim/examples/sim.toml)")
    p.set_defaults(run=_run_sim)

    p = sub.add_parser("collect", help="poll the meters of a site and publish their readings")
    p.add_argument("--config", required=True, help="site config (TOML)")
    p.add_argument("--once", action="store_true", help="poll every meter once and exit")
    p.add_argument("--stdout", action="store_true",
                   help="print readings as JSON lines instead of publishing them")
    p.add_argument("--wait", type=float, default=30.0, metavar="S",
                   help="with --once: how long to wait for the accounting side to confirm")
    p.add_argument("-v", "--verbose", action="store_true", help="log every poll failure")
    p.set_defaults(run=_run_collect)

    p = sub.add_parser("demo", help="simulated meters → collector, live, on this machine")
    p.add_argument("--out", default="meterlink-demo", help="folder for the demo's config and data")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    p.set_defaults(run=_run_demo)

    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", default=argparse.SUPPRESS,
                    help="sqlite:///PATH (default sqlite:///readings.db) or postgresql://…")
    db.add_argument("--windows", type=Path, default=argparse.SUPPRESS,
                    help="submission windows file (default: the one shipped)")
    p = sub.add_parser("accounting", parents=[db],
                       help="store readings from the broker (a worker of the shared group), or "
                            "manage the store")
    p.add_argument("--broker", help="broker URL, mqtt://HOST:PORT or mqtts://… (default: from "
                                    "--config, else mqtt://127.0.0.1:1883)")
    p.add_argument("--config", type=Path, help="TOML file whose [mqtt] table says how to connect")
    p.add_argument("--worker", default=f"{socket.gethostname()}-{os.getpid()}",
                   help="this worker's name in the shared group, unique per broker "
                        "(default: host name and process id)")
    p.set_defaults(run=_run_accounting)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("replace", parents=[db], help="replace a meter on an account")
    a.add_argument("--account", required=True)
    a.add_argument("--old", required=True, help="serial of the meter taken out")
    a.add_argument("--new", required=True, help="serial of the meter put in")
    a.add_argument("--initial", required=True, type=_registers_kwh,
                   help="the new meter's commissioning reading in kWh: 'total=0.5,t1=0.3,t2=0.2' "
                        "or one number for the total")
    a.add_argument("--at", type=_moment, help="when (ISO 8601; default now)")
    a.add_argument("--tariffs", type=int, help="the new meter's tariff count (default: from --initial)")
    a.add_argument("--model", default="")
    a = actions.add_parser("region", parents=[db], help="set the region (submission windows) of an account")
    a.add_argument("--account", required=True)
    a.add_argument("--region", required=True, help="a code from the windows file, e.g. RU-MOW")
    a = actions.add_parser("correct", parents=[db], help="correct a reading (a new version, with a reason)")
    a.add_argument("--reading", required=True, help="reading id")
    a.add_argument("--set", dest="values", required=True, type=_registers_kwh,
                   help="corrected values in kWh: 'total=…,t1=…'")
    a.add_argument("--reason", required=True)
    a.add_argument("--by", required=True, help="who corrects")
    a = actions.add_parser("approve", parents=[db], help="approve a correction made after 24 hours")
    a.add_argument("--reading", required=True, help="reading id")
    a.add_argument("--version", required=True, type=int)
    a.add_argument("--by", required=True, help="the approving operator")

    p = sub.add_parser("history", parents=[db], help="a meter's readings, versions and consumption")
    p.add_argument("--meter", required=True, help="meter serial")
    p.add_argument("--json", action="store_true", help="stable JSON instead of a table")
    p.set_defaults(run=_run_history)

    p = sub.add_parser("export", parents=[db], help="export readings or consumption as CSV")
    p.add_argument("--csv", action="store_true", required=True, help="CSV (the only format)")
    p.add_argument("--consumption", action="store_true",
                   help="one row per meter and period instead of one per reading")
    p.add_argument("--meter", action="append", help="only this serial (repeatable)")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    p.set_defaults(run=_run_export)

    p = sub.add_parser("read-photo", help="read the meter display in photos")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per line, per image")
    p.set_defaults(run=_run_read_photo)

    p = sub.add_parser("submit-photo", help="turn photos (one per tariff) or a QR code into a reading")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--serial", required=True, help="the meter's serial number")
    p.add_argument("--account", required=True, help="the retailer account the meter belongs to")
    p.add_argument("--model", default="", help="the meter model, when known")
    p.add_argument("--tariffs", type=int, default=None,
                   help="how many tariff registers the meter has (default: as many as were read)")
    p.add_argument("--taken-at", default=None, metavar="ISO8601",
                   help="when the photos were taken (default: the QR code's time, else now)")
    p.add_argument("--config", help="site config (TOML) whose [collector] and [mqtt] say where "
                                    "to publish")
    p.add_argument("--stdout", action="store_true", help="print the reading as JSON instead of "
                   "publishing it")
    p.add_argument("--wait", type=float, default=30.0, metavar="S",
                   help="how long to wait for the accounting side to confirm")
    p.set_defaults(run=_run_submit_photo)
    return parser


def _registers_kwh(text: str) -> dict[str, int]:
    """``total=12345.99,t1=…`` (or a bare number for the total), kWh → exact Wh."""
    from accounting.rules import parse_kwh

    try:
        if "=" not in text:
            return {"total": parse_kwh(text)}
        values = {}
        for part in text.split(","):
            register, _, kwh = part.partition("=")
            values[register.strip().lower()] = parse_kwh(kwh)
        return values
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _moment(text: str) -> datetime:
    from collector.reading import PayloadError, parse_time

    try:
        return parse_time(text)
    except PayloadError as exc:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time like 2026-11-22T14:00:00Z: "
                                         f"{text!r}") from exc


def _open_store(args: argparse.Namespace) -> "Store":
    from accounting.store import Store
    from accounting.windows import load_windows_file

    windows = load_windows_file(args.windows) if "windows" in args else None
    return Store.open(getattr(args, "db", "sqlite:///readings.db"), windows=windows)


def _run_accounting(args: argparse.Namespace) -> int:
    if args.action is None:
        return _run_ingest(args)
    store = _open_store(args)
    try:
        if args.action == "replace":
            store.replace_meter(account=args.account, old=args.old, new=args.new,
                                initial_wh=args.initial, at=args.at or datetime.now(timezone.utc),
                                tariffs=args.tariffs, model=args.model)
            print(f"meter {args.old} replaced by {args.new} on account {args.account}")
        elif args.action == "region":
            store.set_region(args.account, args.region)
            print(f"account {args.account} follows the {args.region} submission windows")
        elif args.action == "correct":
            version = store.correct(args.reading, args.values, reason=args.reason, author=args.by)
            state = "in force" if version.approved_by else "waiting for an operator's approval"
            print(f"reading {args.reading} version {version.version}: {state}")
        else:
            store.approve(args.reading, args.version, operator=args.by)
            print(f"reading {args.reading} version {args.version} approved by {args.by}")
    finally:
        store.close()
    return 0


def _run_ingest(args: argparse.Namespace) -> int:
    import threading

    from accounting.ingest import IngestWorker
    from drivers.tomlfile import parse_toml, read_text
    from mqtt.config import BrokerConfig

    _log_to_stderr(logging.INFO, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.config is not None:
        table = parse_toml(read_text(args.config), str(args.config)).get("mqtt", {})
        config = BrokerConfig.from_toml_table(table, file=str(args.config))
        if args.broker:
            url = BrokerConfig.from_url(args.broker)
            config = dataclasses.replace(config, host=url.host, port=url.port, tls=url.tls)
    else:
        config = BrokerConfig.from_url(args.broker or "mqtt://127.0.0.1:1883")
    store = _open_store(args)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    worker = IngestWorker(config, store, worker_id=args.worker)
    print(f"accounting worker {args.worker}: {config.url} → {getattr(args, 'db', 'sqlite:///readings.db')}",
          file=sys.stderr)
    try:
        worker.run(stop)
    finally:
        store.close()
        print(f"accounting worker {args.worker} stopped: {worker.counters}", file=sys.stderr)
    return 0


def _run_history(args: argparse.Namespace) -> int:
    import json

    from accounting.report import format_history, history_json

    store = _open_store(args)
    try:
        readings = store.history(args.meter)
        if not readings:
            raise StoreError(f"no readings of meter {args.meter}")
        consumption = store.consumption(args.meter)
    finally:
        store.close()
    if args.json:
        print(json.dumps(history_json(args.meter, readings, consumption), indent=2))
    else:
        print(format_history(args.meter, readings, consumption))
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from accounting.report import write_consumption_csv, write_readings_csv

    store = _open_store(args)
    try:
        serials = args.meter or store.serials()
        write = write_consumption_csv if args.consumption else write_readings_csv
        if args.output is None:
            rows = write(store, serials, sys.stdout)
        else:
            with open(args.output, "w", newline="", encoding="utf-8") as out:
                rows = write(store, serials, out)
            print(f"{rows} rows written to {args.output}", file=sys.stderr)
    finally:
        store.close()
    return 0


def _run_profiles(args: argparse.Namespace) -> int:
    from drivers import list_profiles, load_profile

    if args.model is None:
        for name in list_profiles():
            profile = load_profile(name)
            print(f"{name:20} {profile.title}")
        return 0
    print(load_profile(args.model).describe())
    return 0


def _run_sim(args: argparse.Namespace) -> int:
    from firmware_sim import load_sim_config, serve

    return serve(load_sim_config(args.config))

def _run_collect(args: argparse.Namespace) -> int:
    from collector.config import load_config
    from collector.sinks import StdoutSink, broker_config, publishing

    _log_to_stderr(logging.DEBUG if args.verbose else logging.WARNING,
                   "%(asctime)s %(levelname)s %(message)s")
    config = load_config(args.config)
    if args.stdout:
        return _collect(config, StdoutSink(), args.once)
    broker = broker_config(config)
    with publishing(config, broker) as publisher:
        code = _collect(config, publisher, args.once)
        if args.once:
            try:
                publisher.wait_for(lambda s: s.spooled == 0, timeout=args.wait)
            except DeliveryError:
                print(f"meterlink collect: {publisher.status().spooled} readings not yet "
                      f"confirmed stay in {broker.spool.path} and go out on the next run",
                      file=sys.stderr)
    return code


def _collect(config: "SiteConfig", sink: "Sink", once: bool) -> int:
    from collector.scheduler import Scheduler

    scheduler = Scheduler(config, sink)
    if not once:
        asyncio.run(_until_interrupted(scheduler.run))
        return 0
    asyncio.run(scheduler.once())
    failed = {k: s for k, s in scheduler.statuses().items() if s.state != "ok"}
    for label, status in failed.items():
        print(f"meterlink collect: meter {label}: {status.last_error}", file=sys.stderr)
    return 1 if failed else 0


def _run_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from collector.demo import run_demo

    _log_to_stderr(logging.ERROR, "%(levelname)s %(name)s: %(message)s")
    out_dir = Path(args.out).resolve()
    asyncio.run(_until_interrupted(lambda stop: run_demo(out_dir, args.duration, stop)))
    return 0


def _log_to_stderr(level: int, fmt: str) -> None:
    """Log at ``level`` to stderr. pymodbus logs each timeout it raises as an error, with a dump
    of its last frames; ``drivers.modbus`` turns it into a ``MeterError`` and the scheduler
    reports a failing meter once, so pymodbus speaks only when debugging (``--verbose``)."""
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
    if level > logging.DEBUG:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


async def _until_interrupted(job: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``job(stop)``; SIGINT/SIGTERM set ``stop`` so every part shuts down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await job(stop)



def _run_read_photo(args: argparse.Namespace) -> int:
    """Exit 0 when every image was read confidently, 1 when some reading is doubtful (the
    resident should send a better photo), 2 when some image could not be read at all."""
    import json

    from drivers.errors import ReadError
    from ocr import read_display

    status = 0
    for image in args.images:
        try:
            read = read_display(image)
        except ReadError as exc:
            status = 2
            if args.json:
                print(json.dumps({"file": image, "ok": False, "error": exc.reason}))
            print(f"meterlink read-photo: {image}: {exc.reason}", file=sys.stderr)
            continue
        if read.low_confidence:
            status = max(status, 1)
        if args.json:
            print(json.dumps({"file": image, "ok": True, **read.to_dict()}))
        else:
            tariff = read.tariff.upper() if read.tariff else "-"
            doubt = (f"  LOW CONFIDENCE ({', '.join(read.doubtful)} unclear): take a better photo"
                     if read.low_confidence else "")
            print(f"{image}: {read.text} kWh  {tariff}  confidence {read.confidence:.2f}{doubt}")
    return status


def _run_submit_photo(args: argparse.Namespace) -> int:
    from collector.config import load_config
    from collector.photo import reading_from_photos
    from collector.reading import PayloadError, parse_time
    from collector.sinks import broker_config, publishing

    if not args.stdout and args.config is None:
        raise ConfigError("say where the reading goes: --config site.toml (its [mqtt] table) "
                          "or --stdout")
    taken_at = None
    if args.taken_at is not None:
        try:
            taken_at = parse_time(args.taken_at)
        except PayloadError as exc:
            raise ConfigError(str(exc), key="--taken-at") from exc
    reading = reading_from_photos(args.images, serial=args.serial, account=args.account,
                                  model=args.model, tariffs=args.tariffs, taken_at=taken_at)
    if args.stdout:
        print(reading.to_json())
        return 0
    config = load_config(args.config)
    broker = broker_config(config)
    with publishing(config, broker) as publisher:
        asyncio.run(publisher.submit(reading))
        try:
            publisher.wait_for(lambda s: s.spooled == 0, timeout=args.wait)
        except DeliveryError:
            print(f"meterlink submit-photo: reading {reading.id} is spooled in "
                  f"{broker.spool.path} and goes out on the next run", file=sys.stderr)
            return 0
    print(f"reading {reading.id} of meter {reading.meter.serial} delivered "
          f"({', '.join(f'{k}={v // 1000}' for k, v in reading.energy_wh.items())} kWh)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except MeterlinkError as exc:
        print(f"meterlink {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
