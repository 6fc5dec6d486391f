"""The simulator's register encoder: byte layouts by hand, agreement with the drivers' decoder."""

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.codec import decode_value
from firmware_sim import encode_value

# 0x12345678 as u32 and 0x0102030405060708 as u64 in each layout, written out byte by byte.
U32 = {"big": (0x1234, 0x5678), "little": (0x5678, 0x1234),
       "swapped": (0x3412, 0x7856), "reversed": (0x7856, 0x3412)}
U64 = {"big": (0x0102, 0x0304, 0x0506, 0x0708), "little": (0x0708, 0x0506, 0x0304, 0x0102),
       "swapped": (0x0201, 0x0403, 0x0605, 0x0807), "reversed": (0x0807, 0x0605, 0x0403, 0x0201)}


@pytest.mark.parametrize("order", U32)
def test_u32_lands_in_the_documented_byte_layout(order):
    assert encode_value(0x12345678, "u32", order) == U32[order]


@pytest.mark.parametrize("order", U64)
def test_u64_lands_in_the_documented_byte_layout(order):
    assert encode_value(0x0102030405060708, "u64", order) == U64[order]


def test_signed_values_are_twos_complement():
    assert encode_value(-2, "s16") == (0xFFFE,)
    assert encode_value(-1, "s32", "little") == (0xFFFF, 0xFFFF)
    assert encode_value(-(2 ** 63), "s64") == (0x8000, 0, 0, 0)


def test_floats_are_ieee754():
    assert encode_value(1.0, "f32") == (0x3F80, 0x0000)
    assert encode_value(-2.5, "f64", "little") == (0, 0, 0, 0xC004)


@pytest.mark.parametrize(("value", "kind"), [(65536, "u16"), (-1, "u32"), (2 ** 31, "s32"),
                                             (1.5, "u32")])
def test_a_value_the_type_cannot_hold_is_rejected(value, kind):
    with pytest.raises(ValueError):
        encode_value(value, kind)


ORDERS = st.sampled_from(["big", "little", "swapped", "reversed"])
INTEGERS = st.one_of(
    st.tuples(st.just("u16"), st.integers(0, 2 ** 16 - 1)),
    st.tuples(st.just("s16"), st.integers(-(2 ** 15), 2 ** 15 - 1)),
    st.tuples(st.just("u32"), st.integers(0, 2 ** 32 - 1)),
    st.tuples(st.just("s32"), st.integers(-(2 ** 31), 2 ** 31 - 1)),
    st.tuples(st.just("u64"), st.integers(0, 2 ** 64 - 1)),
    st.tuples(st.just("s64"), st.integers(-(2 ** 63), 2 ** 63 - 1)),
)


@given(INTEGERS, ORDERS)
def test_every_integer_type_and_order_decodes_back_with_the_drivers_codec(kind_value, order):
    kind, value = kind_value
    words = encode_value(value, kind, order)
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode_value(words, kind, order) == value


@given(st.floats(allow_nan=False, width=32), ORDERS)
def test_every_f32_decodes_back_with_the_drivers_codec(value, order):
    assert decode_value(encode_value(value, "f32", order), "f32", order) == value


@given(st.floats(allow_nan=False), ORDERS)
def test_every_f64_decodes_back_with_the_drivers_codec(value, order):
    assert decode_value(encode_value(value, "f64", order), "f64", order) == value


@given(st.integers(0, 2 ** 32 - 1))
def test_big_order_is_the_struct_big_endian_layout(value):
    words = encode_value(value, "u32", "big")
    assert struct.pack(">HH", *words) == struct.pack(">I", value)


def test_nan_survives_encoding():
    assert math.isnan(decode_value(encode_value(math.nan, "f32"), "f32"))
