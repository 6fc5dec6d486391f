"""Register words → numbers: a pure function of the 16-bit words a Modbus reply carries.

Modbus fixes the byte order inside one register (big-endian) but not the order of the
registers that make up a 32- or 64-bit value, and some gateways swap the bytes too. The four
layouts are named by where the bytes A (most significant) … D/H land:

    big      ABCD       most significant word first (the Modbus convention)
    little   CDAB       least significant word first ("word swapped"; common on meters)
    swapped  BADC       bytes swapped inside each word, words in big order
    reversed DCBA       fully little-endian

No transport and no meter knowledge here, so every layout is testable with bytes alone.
"""

from __future__ import annotations

import struct
from typing import Literal, Sequence

RegisterType = Literal["u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64"]
WordOrder = Literal["big", "little", "swapped", "reversed"]

TYPE_WORDS: dict[str, int] = {
    "u16": 1, "s16": 1, "u32": 2, "s32": 2, "u64": 4, "s64": 4, "f32": 2, "f64": 4,
}
WORD_ORDERS: tuple[str, ...] = ("big", "little", "swapped", "reversed")
_STRUCT = {"f32": ">f", "f64": ">d"}


def register_bytes(words: Sequence[int], order: WordOrder) -> bytes:
    """Reassemble the big-endian byte string of one value from its words in ``order``."""
    if order in ("little", "reversed"):
        words = words[::-1]
    raw = b"".join(w.to_bytes(2, "big") for w in words)
    if order in ("swapped", "reversed"):
        raw = bytes(b for pair in zip(raw[1::2], raw[0::2]) for b in pair)
    return raw


def decode_value(words: Sequence[int], kind: RegisterType, order: WordOrder = "big") -> int | float:
    """Decode one value; integers stay ``int``, f32/f64 become ``float`` (NaN and inf included).

    Raises ``ValueError`` when the word count does not fit the type or a word is out of 0..65535.
    """
    expected = TYPE_WORDS[kind]
    if len(words) != expected:
        raise ValueError(f"{kind} needs {expected} registers, got {len(words)}")
    if any(not 0 <= w <= 0xFFFF for w in words):
        raise ValueError(f"register words must be 0..65535: {list(words)}")
    raw = register_bytes(words, order)
    if kind in _STRUCT:
        return struct.unpack(_STRUCT[kind], raw)[0]
    return int.from_bytes(raw, "big", signed=kind.startswith("s"))
