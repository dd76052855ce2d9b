"""The server's notion of now: naive UTC, the form stored in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Callable

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Naive UTC, the form stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)
