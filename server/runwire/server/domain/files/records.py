"""Files: the states, purposes and modes, the records that cross the service's boundary, and the errors they share."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

from runwire.server.core import names
from runwire.server.core.errors import FailedPrecondition, NotFound, ResourceExhausted
from runwire.server.domain.context import DomainContext
from runwire.server.store.models import FileRow
from runwire.server.store.transaction import Transaction
from runwire.server.wire import convert

DEFAULT_TEXT_CHARS = 100_000
MAX_TEXT_CHARS = 1_000_000


class FileState(enum.IntEnum):
    PENDING = 1
    PROCESSING = 2
    COMPLETED = 3
    FAILED = 4


TERMINAL_STATES = (FileState.COMPLETED, FileState.FAILED)


class Purpose(enum.IntEnum):
    UNSPECIFIED = 0
    ASSISTANTS = 1
    BATCH_INPUT = 2
    BATCH_OUTPUT = 3


class SearchMode(enum.IntEnum):
    UNSPECIFIED = 0
    FULL_TEXT = 1
    SEMANTIC = 2


class AnalyzeMode(enum.IntEnum):
    UNSPECIFIED = 0
    EXTRACT_TEXT = 1
    SUMMARIZE = 2


@dataclass(frozen=True)
class UploadMetadata:
    filename: str
    purpose: int
    display_name: str = ""
    content_type: str = ""
    size_bytes: int = 0
    sha256: str = ""
    session: str = ""
    agent: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    file_id: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class SearchHit:
    file: str
    filename: str
    chunk_index: int
    snippet: str
    score: float
    text_offset: int
    text_chars: int
    page_number: int


@dataclass(frozen=True)
class TextSlice:
    text: str
    offset: int
    next_offset: int
    total_chars: int


@dataclass(frozen=True)
class Analysis:
    file: FileRow
    mode: int
    text: str
    truncated: bool
    input_tokens: int | None
    output_tokens: int | None
    seconds: float


def not_found(name: str) -> NotFound:
    return NotFound(f"file {name!r} does not exist", reason="FILE_NOT_FOUND", metadata={"resource": name})


def too_large(size: int, limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"the file is {size} bytes or more; the server accepts at most {limit} bytes",
        reason="FILE_TOO_LARGE",
        metadata={"limit_bytes": str(limit)},
    )


def not_ready(row: FileRow, name: str) -> FailedPrecondition:
    state = FileState(row.state).name
    return FailedPrecondition(
        f"file {name!r} is {state}; its text is not extracted yet", reason="FILE_NOT_READY", metadata={"state": state}
    )


def require_completed(row: FileRow, name: str) -> None:
    if row.state == FileState.COMPLETED:
        return
    if row.state == FileState.FAILED:
        raise FailedPrecondition(
            f"file {name!r} failed processing ({row.error_reason}): {row.error_message}",
            reason="FILE_NOT_READY",
            metadata={"state": "FAILED", "file_reason": row.error_reason},
        )
    raise not_ready(row, name)


# Registered by services that need files to stay (a batch and its input file): given the open write
# transaction and a file id, why the file cannot be deleted now, or None.
InUseCheck = Callable[[Transaction, str], Awaitable["str | None"]]


async def record_change(ctx: DomainContext, db: Transaction, type: str, row: FileRow) -> None:
    """The resource event of a change of the file, in the transaction `db` that makes the change."""
    await ctx.events.record(db, type, names.FILE.format(row.id), row.owner, convert.file_proto(row))
