"""The register codec against ``struct``: every type in every word order.

The expectation is built independently of ``drivers.codec``: ``struct`` packs the value big-endian
(bytes A B C D … most significant first) and a permutation written from the word-order definitions
lays those bytes out as they travel on the wire; the codec must recover the value from the words.
"""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.codec import TYPE_WORDS, WORD_ORDERS, decode_value

# Wire position i holds big-endian byte WIRE[order][i]  (A=0, B=1, …).
WIRE = {
    2: {"big": "AB", "little": "AB", "swapped": "BA", "reversed": "BA"},
    4: {"big": "ABCD", "little": "CDAB", "swapped": "BADC", "reversed": "DCBA"},
    8: {"big": "ABCDEFGH", "little": "GHEFCDAB", "swapped": "BADCFEHG",
        "reversed": "HGFEDCBA"},
}
STRUCT = {"u16": ">H", "s16": ">h", "u32": ">I", "s32": ">i", "u64": ">Q", "s64": ">q",
          "f32": ">f", "f64": ">d"}


def _wire_words(big_endian: bytes, order: str) -> list[int]:
    wire = bytes(big_endian[ord(c) - ord("A")] for c in WIRE[len(big_endian)][order])
    return [int.from_bytes(wire[i:i + 2], "big") for i in range(0, len(wire), 2)]


def _values(kind: str) -> st.SearchStrategy:
    if kind == "f32":
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if kind == "f64":
        return st.floats(width=64, allow_nan=True, allow_infinity=True)
    bits = TYPE_WORDS[kind] * 16
    if kind.startswith("s"):
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return st.integers(0, 2 ** bits - 1)


@pytest.mark.parametrize("order", WORD_ORDERS)
@pytest.mark.parametrize("kind", sorted(STRUCT))
@given(data=st.data())
def test_decode_matches_struct(kind: str, order: str, data: st.DataObject) -> None:
    value = data.draw(_values(kind))
    raw = struct.pack(STRUCT[kind], value)
    got = decode_value(_wire_words(raw, order), kind, order)  # type: ignore[arg-type]
    if kind.startswith("f"):
        assert isinstance(got, float)
        # Compare bit patterns: NaN != NaN, and -0.0 must stay -0.0.
        assert struct.pack(STRUCT[kind], got) == raw
    else:
        assert type(got) is int and got == value


def test_word_orders_of_one_documented_value() -> None:
    # 123456789 = 0x075BCD15: bytes A=07 B=5B C=CD D=15.
    assert decode_value([0x075B, 0xCD15], "u32", "big") == 123456789
    assert decode_value([0xCD15, 0x075B], "u32", "little") == 123456789
    assert decode_value([0x5B07, 0x15CD], "u32", "swapped") == 123456789
    assert decode_value([0x15CD, 0x5B07], "u32", "reversed") == 123456789


def test_float_nan_is_returned_for_the_caller_to_judge() -> None:
    assert math.isnan(decode_value([0x7FC0, 0x0000], "f32"))


def test_wrong_word_count_is_refused() -> None:
    with pytest.raises(ValueError, match="u64 needs 4 registers, got 3"):
        decode_value([0, 0, 0], "u64")


def test_word_outside_16_bits_is_refused() -> None:
    with pytest.raises(ValueError, match="0..65535"):
        decode_value([0x1_0000, 0], "u32")
