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
    p.add_argument("--stdout", action="store_true", help="print the reading as JSON instead of "
                   "publishing it")
    p.set_defaults(run=_run_submit_photo)
    return parser


def _run_profiles(args: argparse.Namespace) -> int:
    from drivers import list_profiles, load_profile

    if args.model is None:
        for name in list_profiles():
            profile = load_profile(name)
            print(f"{name:16} {profile.title}")
        return 0
    print(load_profile(args.model).describe())
    return 0


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
            doubt = "  LOW CONFIDENCE: take a better photo" if read.low_confidence else ""
            print(f"{image}: {read.text} kWh  {tariff}  confidence {read.confidence:.2f}{doubt}")
    return status


def _run_submit_photo(args: argparse.Namespace) -> int:
    from collector.photo import reading_from_photos
    from collector.reading import PayloadError, parse_time
    from drivers.errors import ConfigError

    if not args.stdout:
        raise ConfigError("no MQTT broker is configured for publishing yet; "
                          "use --stdout to print the reading")
    taken_at = None
    if args.taken_at is not None:
        try:
            taken_at = parse_time(args.taken_at)
        except PayloadError as exc:
            raise ConfigError(str(exc), key="--taken-at") from exc
    reading = reading_from_photos(args.images, serial=args.serial, account=args.account,
                                  model=args.model, tariffs=args.tariffs, taken_at=taken_at)
    print(reading.to_json())
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
