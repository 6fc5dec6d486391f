"""The ``meterlink`` command: one subcommand per job users and scripts rely on (see DESIGN.md).

Every subcommand turns ``MeterlinkError`` into a one-line reason on stderr and a non-zero exit;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from drivers.errors import MeterlinkError

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
