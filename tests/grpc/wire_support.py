"""Protobuf wire format by hand, for requests that no message class would build: corrupt, or nested past the
decoder's depth limit (upb refuses to build those too)."""

from __future__ import annotations

WIRE_VARINT = 0
WIRE_I64 = 1
WIRE_LEN = 2
WIRE_I32 = 5


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative numbers are ten bytes on the wire, as protobuf writes them
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(field_number: int, wire_type: int) -> bytes:
    return varint(field_number << 3 | wire_type)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    return tag(field_number, WIRE_LEN) + varint(len(payload)) + payload


def deep_value(depth: int) -> bytes:
    """A google.protobuf.Value holding a list holding a list... `depth` times."""
    value = length_delimited(3, b"bottom")  # Value.string_value
    for _ in range(depth):
        value = length_delimited(6, length_delimited(1, value))  # Value.list_value, ListValue.values
    return value


def deep_struct(depth: int) -> bytes:
    """A google.protobuf.Struct whose one field holds `deep_value(depth)`."""
    entry = length_delimited(1, b"deep") + length_delimited(2, deep_value(depth))  # map entry: key, value
    return length_delimited(1, entry)
