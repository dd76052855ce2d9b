"""JSON values <-> google.protobuf.Struct and Value: the one conversion for every JSON a Struct carries.

A Struct holds every number as a double. Going in, integers become doubles: exact up to
±(2^53 - 1), JavaScript's Number.MAX_SAFE_INTEGER; beyond, the nearest double, as in JavaScript and
every JSON parser that reads numbers as doubles (they stay numbers, so a schema or a tool still sees a
number, not a string). Coming out, a number with no fractional part within ±(2^53 - 1) becomes an int,
so `42` stays `42` and a tool declared with `{"type": "integer"}` gets an int; a larger one comes out
as a float, which says that its last digits may not be the ones sent (2^53 + 1 arrives as the double
2^53; shown as an int it would pass for an exact value). -0 comes out as 0.

Refused with a JsonValueError naming where: NaN and ±Infinity (not JSON), object keys that are not
strings, values that are not JSON, and nesting deeper than MAX_DEPTH. Protobuf stops decoding at 100
levels of messages and each JSON level is up to three of them, so a deeper Struct inside a run event
could be sent but not read. Text holding a lone surrogate, which UTF-8 cannot encode, gets U+FFFD in
its place.
"""

from __future__ import annotations

import json
import math
from collections import abc
from typing import Any, Mapping

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

# Objects and lists inside each other, the outermost counting as 1.
MAX_DEPTH = 20
# Integers up to this magnitude are exact in a double, and no other integer rounds to them.
MAX_SAFE_INTEGER = 2**53 - 1


class JsonValueError(ValueError):
    """A value that cannot be carried as JSON in a Struct; `path` says where (`a.b[2]`, empty for the whole)."""

    def __init__(self, path: str, problem: str) -> None:
        shown = path if len(path) <= 120 else path[:119] + "…"
        super().__init__(f"{shown}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def normalize(value: Mapping[str, Any], *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """`value` as it comes back out of a Struct: checked, integral numbers within ±(2^53 - 1) as ints, others as
    floats, text with lone surrogates (which UTF-8 cannot encode) repaired as valid_text does."""
    if not isinstance(value, abc.Mapping):
        raise JsonValueError("", f"not a JSON object but {_kind(value)}")
    return _normalize(value, "", 1, max_depth)


def to_struct(value: Mapping[str, Any] | None, target: struct_pb2.Struct | None = None) -> struct_pb2.Struct:
    """A Struct holding `value` (checked as normalize does), set into `target` when given."""
    struct = struct_pb2.Struct() if target is None else target
    struct.Clear()
    if value:
        struct.update(normalize(value))
    return struct


def from_struct(struct: struct_pb2.Struct, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The JSON object a Struct holds, with integral numbers as ints (see the module's rule)."""
    return {key: _from_value(item, key, 2, max_depth) for key, item in struct.fields.items()}


def encoded_size(value: Any) -> int:
    """Bytes of `value` as compact JSON (UTF-8)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def valid_text(text: str) -> str:
    """`text` encodable as UTF-8, as protobuf strings must be: a lone surrogate (JSON allows `\\ud800`)
    becomes U+FFFD. Plain ASCII, nearly every text, is returned at once."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def number(value: float) -> int | float:
    """A double as JSON shows it: an int when integral and exact."""
    if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        return int(value)
    return value


def with_integers(value: Any) -> Any:
    """JSON from json_format.MessageToDict with its integral numbers as ints (see `number`): the proto
    JSON mapping does not tell 42 from 42.0, and Python's json writes floats as `42.0`."""
    if isinstance(value, float):
        return number(value)
    if isinstance(value, dict):
        return {key: with_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_integers(item) for item in value]
    return value


def _normalize(value: Any, path: str, depth: int, max_depth: int) -> Any:
    if isinstance(value, str):
        return valid_text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) <= MAX_SAFE_INTEGER:
            return value
        try:
            return float(value)
        except OverflowError:
            raise JsonValueError(path, "is a number too large for a double") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise JsonValueError(path, f"is {value}, which is not a JSON number")
        return number(value)
    if isinstance(value, abc.Mapping):
        _check_depth(path, depth, max_depth)
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise JsonValueError(path, f"has a key that is {_kind(key)}, not a string")
            result[valid_text(key)] = _normalize(item, _join(path, key), depth + 1, max_depth)
        return result
    if isinstance(value, (list, tuple)):
        _check_depth(path, depth, max_depth)
        return [_normalize(item, f"{path}[{index}]", depth + 1, max_depth) for index, item in enumerate(value)]
    raise JsonValueError(path, f"is {_kind(value)}, which is not a JSON value")


def _from_value(value: struct_pb2.Value, path: str, depth: int, max_depth: int) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        if not math.isfinite(value.number_value):
            raise JsonValueError(path, f"is {value.number_value}, which is not a JSON number")
        return number(value.number_value)
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        _check_depth(path, depth, max_depth)
        fields = value.struct_value.fields
        return {key: _from_value(item, _join(path, key), depth + 1, max_depth) for key, item in fields.items()}
    if kind == "list_value":
        _check_depth(path, depth, max_depth)
        items = value.list_value.values
        return [_from_value(item, f"{path}[{index}]", depth + 1, max_depth) for index, item in enumerate(items)]
    return None  # null_value, or a Value with nothing set


def _check_depth(path: str, depth: int, max_depth: int) -> None:
    if depth > max_depth:
        raise JsonValueError(path, f"nests objects and lists deeper than {max_depth} levels")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), "another kind of value"
    )


_INTEGER_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64,
    }
)


_WELL_KNOWN_JSON: dict[str, tuple[type | tuple[type, ...], str]] = {
    "google.protobuf.Struct": (dict, "must be an object"),
    "google.protobuf.ListValue": (list, "must be a list"),
    "google.protobuf.Timestamp": (str, "must be an RFC 3339 time such as \"2030-01-02T03:04:05Z\""),
    "google.protobuf.Duration": (str, "must be a duration such as \"30s\""),
    "google.protobuf.FieldMask": (str, "must be a comma-separated list of field paths"),
}


def proto_json_problem(value: Any, descriptor: Descriptor, path: str = "") -> tuple[str, str] | None:
    """The first field of `value` (proto JSON for `descriptor`) that cannot be read, as (path, problem) in the
    server's own words, or None when nothing is found (protobuf's reader may still refuse it)."""
    if not isinstance(value, dict):
        return path, f"must be an object (a {descriptor.name})"
    by_name = {**{f.name: f for f in descriptor.fields}, **{f.json_name: f for f in descriptor.fields}}
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        field = by_name.get(key)
        if field is None:
            return where, f"is not a field of {descriptor.name}"
        if item is None:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if not isinstance(item, dict):
                return where, "must be an object"
            continue
        if field.is_repeated:
            if not isinstance(item, list):
                return where, "must be a list"
            for index, element in enumerate(item):
                problem = _proto_json_field_problem(field, element, f"{where}[{index}]")
                if problem:
                    return problem
        else:
            problem = _proto_json_field_problem(field, item, where)
            if problem:
                return problem
    return None


def _proto_json_field_problem(field: FieldDescriptor, value: Any, where: str) -> tuple[str, str] | None:
    if field.message_type is not None:
        well_known = _WELL_KNOWN_JSON.get(field.message_type.full_name)
        if well_known is not None:
            kinds, problem = well_known
            return None if isinstance(value, kinds) else (where, problem)
        if field.message_type.full_name.startswith("google.protobuf."):
            return None  # other well-known types have JSON forms of their own; protobuf's reader checks them
        return proto_json_problem(value, field.message_type, where)
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING and not isinstance(value, str):
        return where, "must be a string"
    if kind == FieldDescriptor.TYPE_BYTES and not isinstance(value, str):
        return where, "must be a base64 string"
    if kind == FieldDescriptor.TYPE_BOOL and not isinstance(value, bool):
        return where, "must be true or false"
    if kind in _INTEGER_TYPES and (isinstance(value, bool) or not isinstance(value, (int, str))):
        return where, "must be an integer"
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE) and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
        return where, "must be a number"
    if kind == FieldDescriptor.TYPE_ENUM and (isinstance(value, bool) or not isinstance(value, (int, str))):
        enum_name = field.enum_type.name if field.enum_type is not None else "the enum"
        return where, f"must be one of the names of {enum_name}"
    return None
