"""Requests per meter per poll: meterlink's coalesced read plan against one request per value.

For each shipped profile, prints the requests and registers one poll of one meter takes with
``ReadPlan.for_map`` (contiguous registers in one request, small gaps bridged) and with the baseline
``one_request_per_value`` (what mbmd-style polling sends), and the RTU wire time of both at
9600 baud: (request 8 bytes + reply 5 + 2n bytes + 2 × 3.5 characters of silence) × 11 bits per
character / baud, summed over the requests (see ``drivers.plan.rtu_wire_time_s``). Both plans are
computed in the same run. Usage: ``python bench/read_plan.py`` (prints JSON).
"""

from __future__ import annotations

import json
import sys

from drivers import ReadPlan, list_profiles, load_profile
from drivers.plan import one_request_per_value, rtu_wire_time_s

BAUD = 9600
BITS_PER_CHAR = 11


def _figures(plan: ReadPlan) -> dict[str, float | int]:
    return {
        "requests": len(plan.blocks),
        "registers": sum(block.count for block in plan.blocks),
        "rtu_wire_ms": round(rtu_wire_time_s(plan, BAUD, BITS_PER_CHAR) * 1000, 2),
    }


def main() -> int:
    profiles = {}
    for name in list_profiles():
        regmap = load_profile(name)
        ours = _figures(ReadPlan.for_map(regmap))
        baseline = _figures(one_request_per_value(regmap))
        profiles[name] = {
            "values": len(regmap.registers),
            "ours": ours,
            "one_request_per_value": baseline,
            "request_ratio": round(ours["requests"] / baseline["requests"], 3),
            "wire_time_ratio": round(ours["rtu_wire_ms"] / baseline["rtu_wire_ms"], 3),
        }
    json.dump({
        "bench": "read_plan",
        "baud": BAUD,
        "bits_per_char": BITS_PER_CHAR,
        "wire_time_formula": "sum over requests of (8 + (5 + 2*count) + 2*3.5) chars "
                             "* bits_per_char / baud; meter turnaround excluded",
        "profiles": profiles,
    }, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
