"""Messages and Structs as JSON with integers shown as integers.

A google.protobuf.Struct holds every number as a double, and json_format writes `42` back as `42.0`.
These helpers write a number with no fractional part within ±(2^53 - 1) (JavaScript's
Number.MAX_SAFE_INTEGER, the range a double holds exactly) as an integer, as the server does; a
larger one stays a float, as its last digits may differ from those sent.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

MAX_SAFE_INTEGER = 2**53 - 1


def with_integers(value: Any) -> Any:
    """JSON (as json.loads or json_format.MessageToDict gives it) with integral floats as ints."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER else value
    if isinstance(value, dict):
        return {key: with_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_integers(item) for item in value]
    return value


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct (tool arguments, a tool's output, metadata) as a dict: `{"n": 42}`, not `{"n": 42.0}`."""
    return with_integers(json_format.MessageToDict(struct))


def message_to_dict(message: Message, **options: Any) -> Any:
    """json_format.MessageToDict, with integers as integers."""
    return with_integers(json_format.MessageToDict(message, **options))


def message_to_json(message: Message, *, indent: int | None = 2, ensure_ascii: bool = True, **options: Any) -> str:
    """json_format.MessageToJson, with integers as integers."""
    return json.dumps(message_to_dict(message, **options), indent=indent, ensure_ascii=ensure_ascii)
