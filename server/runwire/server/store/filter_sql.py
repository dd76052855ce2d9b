"""Translate a parsed AIP-160 filter (domain/filtering.py) into a SQLAlchemy WHERE clause.

Each resource declares which fields can be filtered with a `FieldSpec` per
field name; anything else is refused with a FilterError that lists the
allowed fields, operators or values.

Semantics (the same on SQLite and PostgreSQL):

* ``string``: ``=`` / ``!=`` exact, ``< <= > >=`` byte-wise order,
  ``:`` case-insensitive "contains" (``ILIKE '%text%'``; SQLite folds ASCII
  letters only), ``field:*`` "is set" (neither NULL nor empty). Bare words and
  numbers are taken as their text.
* ``int``: integer literals only. ``timestamp``: RFC 3339 strings with a
  ``Z`` or numeric offset, compared as naive UTC (how the tables store them).
* ``duration``: seconds with an ``s`` suffix, as protobuf's JSON writes a
  Duration: ``duration > "1.5s"`` (the column holds seconds).
* ``bool``: ``true`` / ``false``. ``enum``: a name from `FieldSpec.enum_values`.
* ``map`` (a JSON object of strings, e.g. labels): ``labels:env`` and
  ``labels.env:*`` test that the key is present, ``labels.env = "prod"`` /
  ``!=`` compare its value as a string, ``labels.env:"pro"`` is "contains".
  Keys that are not identifiers are quoted: ``labels."app/tier" = web``.
* ``= null`` / ``!= null`` test for NULL (for a map key: absence).

Every comparison is two-valued: a NULL column (or a missing map key) never
matches ``= < <= > >= :`` and always matches ``!=``, so ``NOT a = 1`` selects
exactly the rows ``a = 1`` does not, as callers expect, instead of SQL's
three-valued logic silently dropping NULL rows from both.
"""

from __future__ import annotations

import operator
import os.path
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, TypeAlias

from sqlalchemy import and_, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from runwire.server.core.filtering import And, Comparison, Expr, FilterError, Not, Or, Value

__all__ = ["FieldSpec", "FieldType", "filter_to_sql", "parse_timestamp"]

FieldType: TypeAlias = Literal["string", "int", "bool", "timestamp", "duration", "enum", "map"]

_ORDERED = frozenset({"=", "!=", "<", "<=", ">", ">="})
_DEFAULT_OPS: dict[str, frozenset[str]] = {
    "string": _ORDERED | {":"},
    "int": _ORDERED,
    "timestamp": _ORDERED,
    "duration": _ORDERED,
    "bool": frozenset({"=", "!="}),
    "enum": frozenset({"=", "!="}),
    "map": frozenset({":", "=", "!="}),
}
_OP_ORDER = ("=", "!=", "<", "<=", ">", ">=", ":")
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LIKE_ESCAPE = "\\"


@dataclass(frozen=True, eq=False)  # eq=False: == on columns builds SQL, not a bool
class FieldSpec:
    """How one filterable field maps onto the database.

    column: the column or SQL expression to compare (for ``map``: the JSON column).
    type: how values are read and which operators make sense.
    enum_values: for ``enum``, accepted name -> stored value. Names are
        matched case-sensitively; each may also be written without the prefix
        all names share up to its last underscore, as protobuf enum values
        carry their type's name: with ``AGENT_STATE_ACTIVE`` and
        ``AGENT_STATE_ARCHIVED``, ``state = ACTIVE`` works too.
    ops: allowed operators; None means the type's defaults (see _DEFAULT_OPS).
    nullable_empty: NULL and "" mean the same (optional references such as
        a parent id): ``field = ""`` and ``field = null`` both match either.
    """

    column: Any
    type: FieldType
    enum_values: Mapping[str, Any] = field(default_factory=dict)
    ops: frozenset[str] | None = None
    nullable_empty: bool = False
    _enum_lookup: Mapping[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Misconfiguration is a programming error, so not a FilterError.
        if self.type not in _DEFAULT_OPS:
            raise ValueError(f"unknown field type {self.type!r}")
        if self.type == "enum" and not self.enum_values:
            raise ValueError("an enum field needs enum_values")
        if self.ops is not None and not self.ops <= set(_OP_ORDER):
            raise ValueError(f"unknown operators {sorted(self.ops - set(_OP_ORDER))}")
        object.__setattr__(self, "_enum_lookup", _enum_aliases(self.enum_values))

    @property
    def allowed_ops(self) -> frozenset[str]:
        return _DEFAULT_OPS[self.type] if self.ops is None else self.ops


def filter_to_sql(expr: Expr | None, fields: Mapping[str, FieldSpec]) -> ColumnElement[bool] | None:
    """The WHERE clause for a parsed filter; None for no filter. Raises FilterError."""
    if expr is None:
        return None
    return _to_sql(expr, fields)


def _to_sql(expr: Expr, fields: Mapping[str, FieldSpec]) -> ColumnElement[bool]:
    if isinstance(expr, And):
        return and_(*(_to_sql(item, fields) for item in expr.items))
    if isinstance(expr, Or):
        return or_(*(_to_sql(item, fields) for item in expr.items))
    if isinstance(expr, Not):
        return not_(_to_sql(expr.item, fields))
    return _comparison(expr, fields)


# --- Field lookup ----------------------------------------------------------


def _resolve(cmp: Comparison, fields: Mapping[str, FieldSpec]) -> tuple[str, FieldSpec, str | None]:
    """(field name, spec, map key or None); the longest declared prefix of the path wins."""
    path = cmp.path
    for length in range(len(path), 0, -1):
        name = ".".join(path[:length])
        spec = fields.get(name)
        if spec is None:
            continue
        rest = path[length:]
        if not rest:
            return name, spec, None
        if spec.type == "map" and len(rest) == 1:
            return name, spec, rest[0]
        if spec.type == "map":
            raise FilterError(
                f"map field {name} has one level of keys, but {cmp.field} has {len(rest)}",
                cmp.position,
                hint=f'quote a key that contains dots: {name}."{".".join(rest)}"',
            )
        break
    known = ", ".join(fields) or "(none)"
    raise FilterError(f"unknown field {_quoted(cmp.field)}", cmp.position, hint=f"filterable fields: {known}")


def _check_op(cmp: Comparison, name: str, spec: FieldSpec, key: str | None) -> None:
    if spec.type == "map" and key is None:
        allowed = spec.allowed_ops & {":"}
        hint = f"use {name}:KEY to test for a key, or {name}.KEY = VALUE to compare its value"
    else:
        allowed = spec.allowed_ops
        hint = "allowed operators: " + (", ".join(op for op in _OP_ORDER if op in allowed) or "none")
    if cmp.op not in allowed:
        raise FilterError(f"operator '{cmp.op}' is not supported for field {cmp.field}", cmp.position, hint=hint)
    if cmp.value.kind == "null" and cmp.op not in ("=", "!="):
        raise FilterError(f"null can only be compared with = or != (field {cmp.field})", cmp.value.position)


# --- Comparisons -----------------------------------------------------------


def _comparison(cmp: Comparison, fields: Mapping[str, FieldSpec]) -> ColumnElement[bool]:
    name, spec, key = _resolve(cmp, fields)
    _check_op(cmp, name, spec, key)
    if spec.type == "map":
        return _map_comparison(cmp, spec.column, key)
    column, nullable = spec.column, _is_nullable(spec.column)
    value = cmp.value
    if spec.nullable_empty and cmp.op in ("=", "!=") and _means_empty(value):
        return _is_empty(column, negate=cmp.op == "!=")
    if value.kind == "null":
        return column.is_(None) if cmp.op == "=" else column.is_not(None)
    if cmp.op == ":" and value.kind == "word" and value.text == "*":
        return _is_set(column, spec.type)
    if cmp.op == ":" and spec.type == "string":
        return _contains(column, value.text, nullable)
    converted = _convert(cmp, spec)
    return _compare(column, "=" if cmp.op == ":" else cmp.op, converted, nullable)


def _means_empty(value: Value) -> bool:
    return value.kind == "null" or (value.kind == "string" and value.text == "")


def _map_comparison(cmp: Comparison, column: Any, key: str | None) -> ColumnElement[bool]:
    if key is None:  # `labels:env`
        return _has_key(column, _map_key(cmp, cmp.value.text))
    element = column[_map_key(cmp, key)].as_string()
    value = cmp.value
    if value.kind == "null":
        return element.is_(None) if cmp.op == "=" else element.is_not(None)
    if cmp.op == ":" and value.kind == "word" and value.text == "*":
        return _has_key(column, key)
    if cmp.op == ":":
        return _contains(element, value.text, nullable=True)
    return _compare(element, cmp.op, value.text, nullable=True)


def _compare(column: Any, op: str, value: Any, nullable: bool) -> ColumnElement[bool]:
    predicate = _COMPARE[op](column, value)
    if not nullable:
        return predicate
    if op == "!=":
        return or_(column.is_(None), predicate)
    return and_(column.is_not(None), predicate)


def _contains(column: Any, text: str, nullable: bool) -> ColumnElement[bool]:
    pattern = "%" + _escape_like(text) + "%"
    predicate = column.ilike(pattern, escape=_LIKE_ESCAPE)
    return and_(column.is_not(None), predicate) if nullable else predicate


def _escape_like(text: str) -> str:
    # The escape character first, so the escapes added for % and _ stay intact.
    return text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", _LIKE_ESCAPE + "%").replace("_", _LIKE_ESCAPE + "_")


def _has_key(column: Any, key: str) -> ColumnElement[bool]:
    # ->> / JSON_EXTRACT give NULL for a missing key on both databases (JSONB's ? would be PostgreSQL-only).
    return column[key].as_string().is_not(None)


def _is_set(column: Any, field_type: str) -> ColumnElement[bool]:
    if field_type == "string":
        return and_(column.is_not(None), column != "")
    return column.is_not(None)


def _is_empty(column: Any, negate: bool) -> ColumnElement[bool]:
    if negate:
        return and_(column.is_not(None), column != "")
    return or_(column.is_(None), column == "")


def _is_nullable(column: Any) -> bool:
    """False only for a column declared NOT NULL; expressions (e.g. JSON paths) may be NULL."""
    element = column.__clause_element__() if hasattr(column, "__clause_element__") else column
    return bool(getattr(element, "nullable", True))


def _map_key(cmp: Comparison, key: str) -> str:
    # SQLite's JSON path syntax ($."key") has no way to escape a double quote.
    if '"' in key or not key:
        raise FilterError(
            f"invalid map key {_quoted(key)} in field {cmp.field}",
            cmp.position,
            hint="keys must be non-empty and contain no double quote",
        )
    return key


# --- Values ----------------------------------------------------------------


def _convert(cmp: Comparison, spec: FieldSpec) -> Any:
    if spec.type == "string":
        return cmp.value.text
    if spec.type == "int":
        return _int(cmp)
    if spec.type == "bool":
        return _bool(cmp)
    if spec.type == "timestamp":
        return _timestamp(cmp)
    if spec.type == "duration":
        return _duration(cmp)
    return _enum(cmp, spec)


def _int(cmp: Comparison) -> int:
    value = cmp.value
    if value.kind != "number" or not re.fullmatch(r"-?\d+", value.text):
        raise _wrong_value(cmp, "an integer such as 42")
    return int(value.text)


def _bool(cmp: Comparison) -> bool:
    if cmp.value.kind != "bool":
        raise _wrong_value(cmp, "true or false")
    return cmp.value.text == "true"


def _timestamp(cmp: Comparison) -> datetime:
    parsed = parse_timestamp(cmp.value.text) if cmp.value.kind in ("string", "word") else None
    if parsed is None:
        raise _wrong_value(cmp, 'an RFC 3339 timestamp with a time zone, such as "2026-01-01T00:00:00Z"')
    return parsed


_DURATION = re.compile(r"(\d+(?:\.\d{1,9})?)s")


def _duration(cmp: Comparison) -> float:
    match = _DURATION.fullmatch(cmp.value.text) if cmp.value.kind in ("string", "word") else None
    if match is None:
        raise _wrong_value(cmp, 'a duration in seconds with an "s" suffix, such as "1.5s"')
    return float(match.group(1))


def _enum(cmp: Comparison, spec: FieldSpec) -> Any:
    lookup = spec._enum_lookup
    if cmp.value.kind in ("string", "word") and cmp.value.text in lookup:
        return lookup[cmp.value.text]
    short = [name for name in lookup if name not in spec.enum_values]
    names = ", ".join(short or list(spec.enum_values))
    raise _wrong_value(cmp, f"one of {names}")


def _enum_aliases(values: Mapping[str, Any]) -> dict[str, Any]:
    """Full names plus names without their shared `PREFIX_` (full names win a clash)."""
    lookup = dict(values)
    if not values:
        return lookup
    common = os.path.commonprefix(list(values))
    prefix = common[: common.rfind("_") + 1]
    for name, stored in values.items():
        short = name[len(prefix) :]
        if prefix and short and short not in values:
            lookup.setdefault(short, stored)
    return lookup


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 (offset required) -> naive UTC datetime; None if malformed or out of range."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        offset = timedelta(0) if zulu else timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz)
        return local.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return None


def _wrong_value(cmp: Comparison, expected: str) -> FilterError:
    return FilterError(
        f"field {cmp.field} expects {expected}, got {_show(cmp.value)}",
        cmp.value.position if cmp.value.position is not None else cmp.position,
    )


def _show(value: Value) -> str:
    return _quoted(value.text) if value.kind == "string" else value.text


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
