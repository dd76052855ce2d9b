"""Protobuf Timestamps of stored times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

_EPOCH = datetime(1970, 1, 1)


def set_timestamp(target: Any, value: datetime) -> None:
    """Set a protobuf Timestamp to a stored time (UTC, naive or not): integer arithmetic, as the
    library's FromDatetime costs several times more, on every resource and event converted."""
    delta = value.replace(tzinfo=None) - _EPOCH
    target.seconds = delta.days * 86_400 + delta.seconds
    target.nanos = delta.microseconds * 1000
