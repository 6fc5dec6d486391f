"""The ``meterlink`` command: one subcommand per job users and scripts rely on (see DESIGN.md).

Every subcommand turns ``MeterlinkError`` into a one-line reason on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Awaitable, Callable, Sequence

from drivers.errors import ConfigError, MeterlinkError

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
    p.add_argument("-v", "--verbose", action="store_true", help="log every poll failure")
    p.set_defaults(run=_run_collect)

    p = sub.add_parser("demo", help="simulated meters → collector, live, on this machine")
    p.add_argument("--out", default="meterlink-demo", help="folder for the demo's config and data")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    p.set_defaults(run=_run_demo)
    return parser


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
    from collector.scheduler import Scheduler
    from collector.sinks import StdoutSink

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    config = load_config(args.config)
    if not args.stdout:
        raise ConfigError("no sink configured: add an [mqtt] table or pass --stdout",
                          file=config.path)
    scheduler = Scheduler(config, StdoutSink())
    if args.once:
        asyncio.run(scheduler.once())
        failed = {k: s for k, s in scheduler.statuses().items() if s.state != "ok"}
        for label, status in failed.items():
            print(f"meterlink collect: meter {label}: {status.last_error}", file=sys.stderr)
        return 1 if failed else 0
    asyncio.run(_until_interrupted(scheduler.run))
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from collector.demo import run_demo

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    out_dir = Path(args.out).resolve()
    asyncio.run(_until_interrupted(lambda stop: run_demo(out_dir, args.duration, stop)))
    return 0


async def _until_interrupted(job: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``job(stop)``; SIGINT/SIGTERM set ``stop`` so every part shuts down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await job(stop)


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
