"""Status enums shared across layers (their values are the protos' enum numbers)."""

from __future__ import annotations

import enum


class RunStatus(enum.IntEnum):
    UNSPECIFIED = 0
    QUEUED = 1
    RUNNING = 2
    REQUIRES_INPUT = 3
    SUCCEEDED = 4
    FAILED = 5
    CANCELLED = 6
    TIMED_OUT = 7


TERMINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT})
ACTIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.REQUIRES_INPUT})


class McpState(enum.IntEnum):
    UNSPECIFIED = 0
    CONNECTING = 1
    READY = 2
    ERROR = 3
    DISABLED = 4
