"""``python -m firmware_sim.lcd OUTDIR --count N --seed S``: write a labelled set of display images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from firmware_sim.lcd.camera import CONDITIONS
from firmware_sim.lcd.display import STYLES
from firmware_sim.lcd.labelled_set import write_set


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_sim.lcd",
                                     description="Write rendered meter-display images and labels.csv.")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--styles", default=",".join(STYLES),
                        help=f"comma-separated, from: {', '.join(STYLES)}")
    parser.add_argument("--conditions", choices=sorted(CONDITIONS), default="mild",
                        help="photo degradations: mild (tuning) or harsh (held-out)")
    parser.add_argument("--crops", action="store_true",
                        help="the reading field alone, stretched to a fixed size, instead of photos")
    parser.add_argument("--qr", type=float, default=0.0, metavar="CHANCE",
                        help="chance that a photo shows a dynamic QR code beside the display")
    args = parser.parse_args(argv)
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    if args.count < 1:
        parser.error("--count must be at least 1")
    try:
        samples = write_set(args.outdir, args.count, args.seed, CONDITIONS[args.conditions],
                            styles=styles, crop=args.crops, qr_chance=args.qr)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {len(samples)} images and labels.csv to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
