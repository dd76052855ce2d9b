"""How the client commands print resources: JSON, `key: value` lines, aligned tables."""

from __future__ import annotations

import json
import sys
from datetime import UTC
from typing import Any, Iterable, Sequence, TextIO

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from runwire.client.json_values import message_to_dict, message_to_json

# Well-known types printed as one value rather than field by field.
_SCALAR_MESSAGES = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.FieldMask",
    }
)


def to_json(message: Message) -> str:
    """The message as JSON with the proto field names (`display_name`, not `displayName`)."""
    return message_to_json(message, preserving_proto_field_name=True)


def print_json(message: Message, out: TextIO | None = None) -> None:
    print(to_json(message), file=out or sys.stdout)


def print_json_line(message: Message, out: TextIO | None = None) -> None:
    """One message of a stream as one line of JSON, flushed at once, so a reader can follow line by line."""
    out = out or sys.stdout
    print(json.dumps(message_to_dict(message, preserving_proto_field_name=True), ensure_ascii=False), file=out)
    out.flush()


def enum_label(field: FieldDescriptor, number: int) -> str:
    """`STATE_ACTIVE` -> `ACTIVE`: the value name without the prefix every value of the enum shares."""
    enum = field.enum_type
    value = enum.values_by_number.get(number) if enum is not None else None
    if enum is None or value is None:
        return str(number)
    names = [v.name for v in enum.values]
    prefix = names[0].rsplit("_", 1)[0] + "_" if "_" in names[0] else ""
    if prefix and all(n.startswith(prefix) for n in names):
        return value.name[len(prefix) :]
    return value.name


def _scalar_text(message: Message) -> str:
    """Timestamp -> `2026-01-31T12:00:00Z`, Duration -> `30s`, FieldMask -> `a,b`, Struct -> compact JSON."""
    if message.DESCRIPTOR.full_name == "google.protobuf.FieldMask":
        return ",".join(message.paths)  # type: ignore[attr-defined]
    value = message_to_dict(message)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _value_text(field: FieldDescriptor, value: Any) -> str:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_label(field, value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _scalar_text(value)
    return str(value)


def fields(message: Message, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, text) for every field set in `message`, in declaration order, nested messages flattened."""
    lines: list[tuple[str, str]] = []
    for field, value in message.ListFields():
        key = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for map_key in sorted(value):
                lines.append((f"{key}.{map_key}", _value_text(value_field, value[map_key])))
        elif field.is_repeated:
            for index, item in enumerate(value):
                if field.type == FieldDescriptor.TYPE_MESSAGE and item.DESCRIPTOR.full_name not in _SCALAR_MESSAGES:
                    nested = fields(item, f"{key}[{index}].")
                    lines.extend(nested or [(f"{key}[{index}]", "{}")])
                else:
                    lines.append((f"{key}[{index}]", _value_text(field, item)))
        elif field.type == FieldDescriptor.TYPE_MESSAGE and value.DESCRIPTOR.full_name not in _SCALAR_MESSAGES:
            lines.extend(fields(value, key + "."))
        elif field.type == FieldDescriptor.TYPE_MESSAGE and value.DESCRIPTOR.full_name == "google.protobuf.Struct" and not value:
            continue  # an empty Struct (no options, no metadata) says nothing
        else:
            lines.append((key, _value_text(field, value)))
    return lines


def print_fields(message: Message, out: TextIO | None = None) -> None:
    """`key: value` lines; continuation lines of multi-line values are indented by two spaces."""
    out = out or sys.stdout
    for key, text in fields(message):
        first, *rest = str(text).split("\n") or [""]
        print(f"{key}: {first}".rstrip(), file=out)
        for line in rest:
            print(f"  {line}".rstrip(), file=out)


def timestamp_text(message: Message, field: str) -> str:
    """A Timestamp field as `2026-01-31T12:00:00Z` (seconds precision), or `-` when unset."""
    if not message.HasField(field):
        return "-"
    return getattr(message, field).ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cell(text: str, width: int | None = None) -> str:
    """One line of text, cut to `width` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    if width is not None and len(flat) > width:
        return flat[: width - 1] + "…"
    return flat


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]], out: TextIO | None = None) -> None:
    """Left-aligned columns separated by two spaces; the header line is always printed."""
    out = out or sys.stdout
    rows = [[cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)
