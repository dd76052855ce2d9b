"""Files: checked uploads, downloads, listing, deletion, text extraction, search and analysis.

An upload streams into a temporary blob while its size and SHA-256 are
computed; only when the content is complete and checked does one step make it
visible: the blob is renamed into the content-addressed store and the row is
inserted, under one lock that deletions take too, so a blob is never removed
while a new file comes to refer to it. Files for agents then have their text
extracted in a worker process (PENDING -> PROCESSING -> COMPLETED or FAILED),
split into chunks and indexed for full-text search.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import hashlib
import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

from sqlalchemy import and_, or_, select

from runwire.server.config import FileSettings
from runwire.server.wire import convert
from runwire.server.core import names
from runwire.server.core.etags import check_etag
from runwire.server.domain.common import check_labels, check_text, filter_error, parse_filter_field
from runwire.server.domain.context import DomainContext
from runwire.server.domain.secrets import SecretService
from runwire.server.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    ResourceExhausted,
    Unavailable,
    Violations,
)
from runwire.server.core.filtering import FilterError
from runwire.server.core.paging import Page, query_fingerprint, resolve_page_size
from runwire.server.core.principal import Principal
from runwire.server.engine.providers import ModelMessage, ModelRequest, ProviderError, TextChunk, UsageChunk
from runwire.server.files import embeddings, sniff
from runwire.server.files.blobs import BlobStore, TempBlob
from runwire.server.files.extract import ExtractionError, Page as TextPage
from runwire.server.files.processing import extract_in_worker, split_into_chunks
from runwire.server.store import file_repository as files_repo
from runwire.server.store import repositories as repo
from runwire.server.store.filter_sql import filter_to_sql
from runwire.server.store.models import FileRow, SessionRow
from runwire.server.store.transaction import Transaction
from runwire.server.background import spawn

log = logging.getLogger("runwire.server.files")

MAX_CHUNK_BYTES = 1024 * 1024
MAX_FILENAME_CHARS = 255
SHA256_PATTERN = re.compile(r"[0-9a-fA-F]{64}")
DEFAULT_TEXT_CHARS = 100_000
MAX_TEXT_CHARS = 1_000_000
MAX_SEARCH_RESULTS = 100
MAX_SEARCH_WORDS = 32
SNIPPET_CHARS = 300
MAX_INSTRUCTIONS_CHARS = 10_000
# How much of a file's text a summary is based on.
SUMMARY_SOURCE_CHARS = 100_000
# Progress is written to the database in steps of at least this much.
PROGRESS_STEP = 0.1
# Watchers re-read the file at least this often, so changes made by another replica are seen too.
WATCH_POLL_SECONDS = 1.0


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


# Registered by services that need files to stay (a batch and its input file): given the open write
# transaction and a file id, why the file cannot be deleted now, or None.
InUseCheck = Callable[[Any, str], Awaitable["str | None"]]


class FileService:
    def __init__(
        self,
        ctx: DomainContext,
        blobs: BlobStore,
        settings: FileSettings,
        providers: Mapping[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.blobs = blobs
        self.settings = settings
        self.providers = providers or {}
        # Reads the secret an agent names for its own base_url (AnalyzeFile calls the agent's model).
        self.secrets: SecretService | None = None
        self.full_text_index = ctx.store.backend == "sqlite"
        # Held while a blob becomes visible (upload) or is removed (delete): the two never interleave.
        self._blob_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(settings.file_processing_concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changes: dict[str, asyncio.Event] = {}
        self._stopping = False
        self._in_use_checks: list[InUseCheck] = []
        # Set by start() when semantic search is on and its model loads; otherwise why it is unavailable.
        self._embedder: embeddings.Embedder | None = None
        self._semantic_unavailable = "semantic search is off on this server (RUNWIRE_FILE_SEMANTIC_SEARCH)"

    def refuse_deletion_while(self, check: InUseCheck) -> None:
        """DeleteFile fails with FAILED_PRECONDITION `FILE_IN_USE` while `check` gives a reason."""
        self._in_use_checks.append(check)

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Prepare the store and take up the processing an earlier process left unfinished."""
        await self.blobs.start()
        if self.settings.file_semantic_search:
            try:
                self._embedder = await asyncio.to_thread(embeddings.shared)
            except embeddings.EmbeddingsUnavailable as exc:
                self._semantic_unavailable = f"semantic search is unavailable on this server: {exc}"
                log.warning("RUNWIRE_FILE_SEMANTIC_SEARCH is on but %s; full-text search only", exc)
        async with self.ctx.store.read() as db:
            unfinished = await files_repo.file_ids_in_states(db, [FileState.PENDING, FileState.PROCESSING])
        for file_id in unfinished:
            self._schedule(file_id, retry_processing=True)
        if unfinished:
            log.info("resumed text extraction of %d file(s)", len(unfinished))

    async def stop(self) -> None:
        """Stop extractions; their files stay PROCESSING and are taken up at the next start."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.blobs.close()

    # -- upload ---------------------------------------------------------------

    async def upload(self, caller: Principal, parts: AsyncIterator[UploadMetadata | bytes]) -> FileRow:
        """`parts`: the metadata, then the content's chunks, in order."""
        metadata = await anext(parts, None)
        if not isinstance(metadata, UploadMetadata):
            raise InvalidArgument.field("metadata", "the first message must carry the upload's metadata, before any chunk")
        # A retry is the same metadata under the same request_id; the content is not compared (it is not read).
        fingerprint = hashlib.sha256(
            json.dumps({**asdict(metadata), "request_id": "", "labels": dict(metadata.labels)}, sort_keys=True).encode()
        ).hexdigest()
        content_type = self._validate_metadata(metadata)
        limit = self.settings.max_upload_bytes
        if metadata.size_bytes > limit:
            raise too_large(metadata.size_bytes, limit)
        async with self.ctx.store.read() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, metadata.request_id, "UploadFile", fingerprint)
            if replayed is not None:
                return await self._get_in(db, caller, replayed[0])
            session_id, agent_id = await self._attachment_in(db, caller, metadata)
            if metadata.file_id and await files_repo.file_id_taken(db, metadata.file_id):
                raise AlreadyExists(f"file {names.FILE.format(metadata.file_id)!r} already exists", reason="ALREADY_EXISTS")

        temp = self.blobs.new_temp()
        try:
            head = bytearray()
            async for part in parts:
                if isinstance(part, UploadMetadata):
                    raise InvalidArgument.field("metadata", "was sent twice; only the first message carries metadata")
                if not part:
                    raise InvalidArgument.field("chunk", "is empty; every chunk carries 1 byte to 1 MiB")
                if len(part) > MAX_CHUNK_BYTES:
                    raise InvalidArgument.field("chunk", f"is {len(part)} bytes; chunks carry at most {MAX_CHUNK_BYTES} bytes")
                if temp.size + len(part) > limit:
                    raise too_large(temp.size + len(part), limit)
                if metadata.size_bytes and temp.size + len(part) > metadata.size_bytes:
                    raise _size_mismatch(metadata.size_bytes, f"more than {metadata.size_bytes}")
                if len(head) < sniff.HEAD_BYTES:
                    head += part[: sniff.HEAD_BYTES - len(head)]
                await temp.write(part)
            size = temp.size
            if size == 0:
                raise InvalidArgument("the upload has no content; files must have at least one byte", reason="FILE_EMPTY")
            if metadata.size_bytes and size != metadata.size_bytes:
                raise _size_mismatch(metadata.size_bytes, str(size))
            sha256 = await temp.finish()
            if metadata.sha256 and metadata.sha256.lower() != sha256:
                raise InvalidArgument(
                    f"the content's SHA-256 is {sha256}, not the expected {metadata.sha256.lower()}; nothing was stored",
                    reason="CHECKSUM_MISMATCH",
                    metadata={"expected_sha256": metadata.sha256.lower(), "actual_sha256": sha256},
                )
            content_type = self._checked_content_type(metadata, content_type, bytes(head))
            row = self._new_row(caller, metadata, content_type, size, sha256, session_id, agent_id)
            row = await self._make_visible(caller, temp, row, metadata.request_id, fingerprint)
        except BaseException:
            temp.discard()
            raise
        if row.state == FileState.PENDING:
            self._schedule(row.id)
        return row

    def _validate_metadata(self, metadata: UploadMetadata) -> str:
        v = Violations()
        limits = self.ctx.limits
        filename = metadata.filename
        if not filename:
            v.add("metadata.filename", "is required")
        elif len(filename) > MAX_FILENAME_CHARS:
            v.add("metadata.filename", f"is {len(filename)} characters long; the limit is {MAX_FILENAME_CHARS}")
        elif "/" in filename or "\\" in filename or "\x00" in filename or filename in (".", ".."):
            v.add("metadata.filename", "must be a file name without directories")
        check_text(v, "metadata.display_name", metadata.display_name, limits.max_display_name_chars)
        check_labels(v, "metadata.labels", metadata.labels, limits.max_labels)
        if metadata.purpose == Purpose.UNSPECIFIED:
            v.add("metadata.purpose", "is required: PURPOSE_ASSISTANTS or PURPOSE_BATCH_INPUT")
        elif metadata.purpose == Purpose.BATCH_OUTPUT:
            v.add("metadata.purpose", "PURPOSE_BATCH_OUTPUT files are written by the server and cannot be uploaded")
        elif metadata.purpose not in {p.value for p in Purpose}:
            v.add("metadata.purpose", f"unknown purpose {metadata.purpose}")
        if metadata.size_bytes < 0:
            v.add("metadata.size_bytes", "must not be negative")
        if metadata.sha256 and not SHA256_PATTERN.fullmatch(metadata.sha256):
            v.add("metadata.sha256", "must be 64 hexadecimal digits")
        if metadata.file_id and not names.ID_PATTERN.fullmatch(metadata.file_id):
            v.add("metadata.file_id", names.ID_RULE)
        if metadata.session:
            problem = names.SESSION.problem(metadata.session)
            if problem:
                v.add("metadata.session", problem)
        if metadata.agent:
            problem = names.AGENT.problem(metadata.agent)
            if problem:
                v.add("metadata.agent", problem)
        content_type = sniff.normalize(metadata.content_type)
        if len(metadata.content_type) > 200:
            v.add("metadata.content_type", "is longer than 200 characters")
        v.raise_if_any()
        self.ctx.idempotency.validate(metadata.request_id, "metadata.request_id")
        if content_type:
            _check_supported(metadata.purpose, content_type)
        return content_type

    async def _attachment_in(self, db: Transaction, caller: Principal, metadata: UploadMetadata) -> tuple[str | None, str | None]:
        owner = None if caller.is_admin else caller.id
        if metadata.session:
            (session_id,) = names.SESSION.parse(metadata.session, "metadata.session")
            if await repo.get_session(db, session_id, owner, self.ctx.clock()) is None:
                raise NotFound(
                    f"session {metadata.session!r} does not exist", reason="SESSION_NOT_FOUND", metadata={"resource": metadata.session}
                )
            return session_id, None
        if metadata.agent:
            (agent_id,) = names.AGENT.parse(metadata.agent, "metadata.agent")
            if await repo.get_agent(db, agent_id, owner) is None:
                raise NotFound(
                    f"agent {metadata.agent!r} does not exist", reason="AGENT_NOT_FOUND", metadata={"resource": metadata.agent}
                )
            return None, agent_id
        return None, None

    @staticmethod
    def _checked_content_type(metadata: UploadMetadata, declared: str, head: bytes) -> str:
        detected = sniff.detect(head)
        if not declared:
            guessed = sniff.guess(metadata.filename, detected)
            _check_supported(metadata.purpose, guessed, field_name="content")
            return guessed
        if not sniff.matches(declared, detected):
            raise InvalidArgument(
                f"the content is {sniff.describe(detected)}, not {declared} as declared",
                reason="CONTENT_TYPE_MISMATCH",
                metadata={"declared": declared, "detected": sniff.describe(detected)},
                field_violations=[],
            )
        return declared

    def _new_row(
        self,
        caller: Principal,
        metadata: UploadMetadata,
        content_type: str,
        size: int,
        sha256: str,
        session_id: str | None,
        agent_id: str | None,
    ) -> FileRow:
        now = self.ctx.clock()
        needs_text = metadata.purpose == Purpose.ASSISTANTS
        return FileRow(
            id=metadata.file_id or names.new_id(),
            owner=caller.id,
            filename=metadata.filename,
            display_name=metadata.display_name or metadata.filename[:200],
            content_type=content_type,
            purpose=metadata.purpose,
            size_bytes=size,
            sha256=sha256,
            state=FileState.PENDING if needs_text else FileState.COMPLETED,
            progress=0.0 if needs_text else 1.0,
            error_reason="",
            error_message="",
            session_id=session_id,
            agent_id=agent_id,
            text_chars=0,
            page_count=0,
            chunk_count=0,
            labels=dict(metadata.labels),
            create_time=now,
            update_time=now,
            revision=1,
        )

    async def _make_visible(
        self, caller: Principal, temp: TempBlob, row: FileRow, request_id: str, fingerprint: str
    ) -> FileRow:
        """Rename the blob into place and insert the row as one step; undo the blob if the row fails."""
        created = False
        async with self._blob_lock:
            try:
                async with self.ctx.store.write() as db:
                    replayed = await self.ctx.idempotency.replay(db, caller, request_id, "UploadFile", fingerprint)
                    if replayed is not None:
                        temp.discard()
                        return await self._get_in(db, caller, replayed[0])
                    if await files_repo.file_id_taken(db, row.id):
                        raise AlreadyExists(f"file {names.FILE.format(row.id)!r} already exists", reason="ALREADY_EXISTS")
                    created = await self.blobs.commit(temp, row.sha256)
                    db.add(row)
                    await self._record(db, "file.created", row)
                    self.ctx.idempotency.remember(db, caller, request_id, "UploadFile", fingerprint, [names.FILE.format(row.id)])
            except BaseException:
                if created:
                    async with self.ctx.store.read() as db:
                        if not await files_repo.blob_in_use(db, row.sha256):
                            await self.blobs.delete(row.sha256)
                raise
        self._notify(row.id)
        return row

    async def create_from_bytes(
        self,
        caller: Principal,
        *,
        filename: str,
        data: bytes,
        purpose: int,
        content_type: str,
        labels: Mapping[str, str] | None = None,
    ) -> FileRow:
        """A file the server writes itself (for example batch results): stored COMPLETED, no extraction."""
        temp = self.blobs.new_temp()
        try:
            await temp.write(data)
            sha256 = await temp.finish()
            metadata = UploadMetadata(filename=filename, purpose=purpose, content_type=content_type, labels=labels or {})
            row = self._new_row(caller, metadata, content_type, len(data), sha256, None, None)
            row.state, row.progress = FileState.COMPLETED, 1.0
            return await self._make_visible(caller, temp, row, "", "")
        except BaseException:
            temp.discard()
            raise

    # -- reads ----------------------------------------------------------------

    async def get(self, caller: Principal, name: str, field_name: str = "name") -> FileRow:
        names.FILE.parse(name, field_name)
        async with self.ctx.store.read() as db:
            return await self._get_in(db, caller, name)

    async def _get_in(self, db: Transaction, caller: Principal, name: str) -> FileRow:
        (file_id,) = names.FILE.parse(name, "name")
        row = await files_repo.get_file(db, file_id, None if caller.is_admin else caller.id)
        if row is None:
            raise not_found(name)
        return row

    async def list(self, caller: Principal, *, page_size: int, page_token: str, filter_text: str, order_by: str) -> Page:
        base = select(FileRow)
        if not caller.is_admin:
            base = base.where(FileRow.owner == caller.id)
        return await self.ctx.list(
            caller,
            "files",
            base,
            files_repo.FILE_LISTING,
            page_size=page_size,
            page_token=page_token,
            filter_text=filter_text,
            order_by=order_by,
            default_order="create_time desc",
        )

    async def download(
        self, caller: Principal, name: str, *, offset: int = 0, limit: int = 0
    ) -> tuple[FileRow, AsyncIterator[bytes]]:
        """The file and its content from `offset`, at most `limit` bytes (0: to the end)."""
        v = Violations()
        if offset < 0:
            v.add("offset", "must not be negative")
        if limit < 0:
            v.add("limit", "must not be negative")
        v.raise_if_any()
        row = await self.get(caller, name)
        if offset > row.size_bytes:
            raise OutOfRange(
                f"offset {offset} is beyond the end of the file ({row.size_bytes} bytes)",
                reason="INVALID_ARGUMENT",
                metadata={"size_bytes": str(row.size_bytes)},
            )
        return row, self._content(row, offset, limit)

    async def _content(self, row: FileRow, offset: int, limit: int) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.blobs.read(row.sha256, offset, limit):
                yield chunk
        except FileNotFoundError:  # deleted since it was read
            raise not_found(names.FILE.format(row.id)) from None

    async def read_content(self, caller: Principal, name: str, *, max_bytes: int | None = None) -> bytes:
        """The whole content of a file the caller may see (for example a batch's JSONL input).

        NOT_FOUND `FILE_NOT_FOUND` when it does not exist for the caller; RESOURCE_EXHAUSTED `FILE_TOO_LARGE`
        when it is larger than `max_bytes`.
        """
        row, chunks = await self.download(caller, name)
        if max_bytes is not None and row.size_bytes > max_bytes:
            raise too_large(row.size_bytes, max_bytes)
        return b"".join([chunk async for chunk in chunks])

    async def watch(self, caller: Principal, name: str) -> AsyncIterator[FileRow]:
        """The file now, then on each change of state or progress, until COMPLETED or FAILED."""
        row = await self.get(caller, name)
        last: tuple[int, float] | None = None
        while True:
            changed = self._changes.setdefault(row.id, asyncio.Event())
            row = await self.get(caller, name)
            if (row.state, row.progress) != last:
                last = (row.state, row.progress)
                yield row
            if row.state in TERMINAL_STATES:
                self._changes.pop(row.id, None)  # nothing will change any more
                return
            try:
                await asyncio.wait_for(changed.wait(), WATCH_POLL_SECONDS)
            except TimeoutError:
                pass

    async def get_text(self, caller: Principal, name: str, *, offset: int, max_chars: int) -> TextSlice:
        v = Violations()
        if offset < 0:
            v.add("offset", "must not be negative")
        if max_chars < 0 or max_chars > MAX_TEXT_CHARS:
            v.add("max_chars", f"must be between 1 and {MAX_TEXT_CHARS:,} (0 means {DEFAULT_TEXT_CHARS:,})")
        v.raise_if_any()
        max_chars = max_chars or DEFAULT_TEXT_CHARS
        async with self.ctx.store.read() as db:
            row = await self._get_in(db, caller, name)
            _require_completed(row, name)
            if offset > row.text_chars:
                raise OutOfRange(
                    f"offset {offset} is beyond the end of the text ({row.text_chars} characters)",
                    reason="INVALID_ARGUMENT",
                    metadata={"text_chars": str(row.text_chars)},
                )
            text = await files_repo.text_slice(db, row.id, offset, max_chars)
        return TextSlice(text, offset, offset + len(text), row.text_chars)

    # -- delete ---------------------------------------------------------------

    async def delete(
        self,
        caller: Principal,
        name: str,
        *,
        etag: str = "",
        allow_missing: bool = False,
        request_id: str = "",
        fingerprint: str = "",
    ) -> None:
        (file_id,) = names.FILE.parse(name, "name")
        self.ctx.idempotency.validate(request_id)
        async with self._blob_lock:
            async with self.ctx.store.write() as db:
                if await self.ctx.idempotency.replay(db, caller, request_id, "DeleteFile", fingerprint) is not None:
                    return
                row = await files_repo.get_file(db, file_id, None if caller.is_admin else caller.id)
                if row is None:
                    if allow_missing:
                        return
                    raise not_found(name)
                check_etag("file", row.id, row.revision, row.incarnation, etag)
                for check in self._in_use_checks:
                    why = await check(db, row.id)
                    if why:
                        raise FailedPrecondition(
                            f"file {name!r} is in use: {why}", reason="FILE_IN_USE", metadata={"resource": name}
                        )
                sha256 = row.sha256
                await files_repo.delete_chunks(db, row.id, self.full_text_index)
                await self._record(db, "file.deleted", row)
                await db.delete(row)
                await db.flush()
                blob_still_used = await files_repo.blob_in_use(db, sha256)
                self.ctx.idempotency.remember(db, caller, request_id, "DeleteFile", fingerprint, [])
            if not blob_still_used:
                await self.blobs.delete(sha256)
        task = self._tasks.get(file_id)
        if task is not None:
            task.cancel()
        self._notify(file_id)

    # -- processing -----------------------------------------------------------

    def _schedule(self, file_id: str, *, retry_processing: bool = False) -> asyncio.Task[None]:
        task = self._tasks.get(file_id)
        if task is None or task.done():
            task = spawn(self._process(file_id, retry_processing), name=f"runwire-file-{file_id}")
            self._tasks[file_id] = task
            task.add_done_callback(lambda t: self._tasks.pop(file_id, None) if self._tasks.get(file_id) is t else None)
        return task

    async def _process(self, file_id: str, retry_processing: bool) -> None:
        async with self._slots:
            if self._stopping:
                return
            claimable = [FileState.PENDING, FileState.PROCESSING] if retry_processing else [FileState.PENDING]
            async with self.ctx.store.write() as db:
                claimed = await files_repo.claim_for_processing(db, file_id, claimable, FileState.PROCESSING, self.ctx.clock())
                row = await files_repo.get_file(db, file_id, None) if claimed else None
                if row is not None:
                    await self._record(db, "file.updated", row)
            if row is None:
                return
            self._notify(file_id)
            try:
                pages = await self._extract(row)
                chunks = split_into_chunks(pages, self.settings.file_chunk_chars)
                vectors = await self._embed_chunks(chunks)
                await self._finish(
                    file_id,
                    FileState.COMPLETED,
                    chunks=chunks,
                    vectors=vectors,
                    text_chars=sum(len(c.text) for c in chunks),
                    page_count=max((p.number for p in pages), default=0),
                )
            except ExtractionError as error:
                log.info("text extraction of files/%s failed: %s %s (%s)", file_id, error.reason, error.message, error.detail or "-")
                await self._finish(file_id, FileState.FAILED, reason=error.reason, message=error.message[:2000])
            except asyncio.CancelledError:
                raise  # deleted, or the server stops: a later start takes the file up again
            except Exception:
                log.exception("text extraction of files/%s failed unexpectedly", file_id)
                await self._finish(file_id, FileState.FAILED, reason="INTERNAL", message="text extraction failed unexpectedly")

    async def _embed_chunks(self, chunks: builtins.list[Any]) -> builtins.list[bytes] | None:
        """One float32 vector per chunk when semantic search is on; computed in a thread, off the event loop."""
        embedder = self._embedder
        if embedder is None or not chunks:
            return None
        vectors = await asyncio.to_thread(embedder.embed, [c.text for c in chunks])
        return [row.astype("<f4").tobytes() for row in vectors]

    async def _extract(self, row: FileRow) -> builtins.list[TextPage]:
        last = [0.0]

        async def progress(fraction: float) -> None:
            # Progress stops short of 1.0: the file is COMPLETED only once its chunks are stored.
            fraction = min(fraction, 0.95)
            if fraction - last[0] >= PROGRESS_STEP:
                last[0] = fraction
                async with self.ctx.store.write() as db:
                    stored = await files_repo.get_file(db, row.id, None)
                    if stored is not None and stored.state == FileState.PROCESSING:
                        stored.progress = fraction
                        stored.update_time = self.ctx.clock()
                        await self._record(db, "file.updated", stored)
                self._notify(row.id)

        async with self.blobs.local_copy(row.sha256) as path:
            return await extract_in_worker(path, row.content_type, self.settings, progress, self.blobs.scratch_path(".json"))

    async def _finish(
        self,
        file_id: str,
        state: FileState,
        *,
        chunks: builtins.list[Any] | None = None,
        vectors: builtins.list[bytes] | None = None,
        text_chars: int = 0,
        page_count: int = 0,
        reason: str = "",
        message: str = "",
    ) -> None:
        async with self.ctx.store.write() as db:
            row = await files_repo.get_file(db, file_id, None)
            if row is None:  # deleted meanwhile
                return
            await files_repo.replace_chunks(
                db, file_id, chunks or [], self.full_text_index, vectors, embeddings.MODEL_NAME
            )
            row.state = state
            row.progress = 1.0 if state == FileState.COMPLETED else row.progress
            row.error_reason, row.error_message = reason, message
            row.text_chars, row.page_count, row.chunk_count = text_chars, page_count, len(chunks or [])
            row.update_time = self.ctx.clock()
            row.revision += 1
            await self._record(db, "file.updated", row)
        self._notify(file_id)

    async def _record(self, db: Transaction, type: str, row: FileRow) -> None:
        await self.ctx.events.record(db, type, names.FILE.format(row.id), row.owner, convert.file_proto(row))

    def _notify(self, file_id: str) -> None:
        changed = self._changes.pop(file_id, None)
        if changed is not None:
            changed.set()

    # -- search ---------------------------------------------------------------

    async def search(
        self,
        caller: Principal,
        query: str,
        *,
        session: str = "",
        agent: str = "",
        filter_text: str = "",
        page_size: int = 0,
        page_token: str = "",
        mode: int = SearchMode.UNSPECIFIED,
    ) -> tuple[builtins.list[SearchHit], str]:
        words = _query_words(query, self.ctx.limits.max_search_query_chars)
        semantic = self._semantic_mode(mode)
        size = resolve_page_size(page_size, 10, MAX_SEARCH_RESULTS)
        expr = parse_filter_field(filter_text, self.ctx.limits.max_filter_chars)
        try:
            filter_clause = filter_to_sql(expr, files_repo.SEARCH_FILTER_FIELDS)
        except FilterError as exc:
            raise filter_error(exc) from None
        fingerprint = query_fingerprint(
            "files:search", caller.id, query, session, agent, filter_text.strip(), str(int(semantic))
        )
        after = self.ctx.page_tokens.decode(page_token, fingerprint)
        offset = int(after[0]) if after else 0
        owner = None if caller.is_admin else caller.id
        conditions = [FileRow.state == FileState.COMPLETED]
        if owner is not None:
            conditions.append(FileRow.owner == owner)
        if filter_clause is not None:
            conditions.append(filter_clause)
        async with self.ctx.store.read() as db:
            if session:
                (session_id,) = names.SESSION.parse(session, "session")
                if await repo.get_session(db, session_id, owner, self.ctx.clock()) is None:
                    raise NotFound(f"session {session!r} does not exist", reason="SESSION_NOT_FOUND", metadata={"resource": session})
                conditions.append(FileRow.session_id == session_id)
            elif agent:
                (agent_id,) = names.AGENT.parse(agent, "agent")
                if await repo.get_agent(db, agent_id, owner) is None:
                    raise NotFound(f"agent {agent!r} does not exist", reason="AGENT_NOT_FOUND", metadata={"resource": agent})
                conditions.append(FileRow.agent_id == agent_id)
            if semantic:
                candidates = await files_repo.chunks_with_embeddings(db, file_scope=and_(*conditions), model=embeddings.MODEL_NAME)
            else:
                hits = await files_repo.search_chunks(
                    db, words=words, file_scope=and_(*conditions), full_text_index=self.full_text_index, offset=offset, limit=size + 1
                )
        if semantic:
            hits = (await self._rank_semantically(query, candidates))[offset : offset + size + 1]
        token = self.ctx.page_tokens.encode(fingerprint, [offset + size]) if len(hits) > size else ""
        return [_hit(h, words) for h in hits[:size]], token

    async def search_for_run(
        self, principal: Principal, session: str, query: str, limit: int, *, semantic: bool = False
    ) -> builtins.list[SearchHit]:
        """What the `file_search` tool sees: the owner's COMPLETED files attached to the run's session or its agent."""
        words = _query_words(query, self.ctx.limits.max_search_query_chars)
        if semantic:
            self._semantic_mode(SearchMode.SEMANTIC)
        (session_id,) = names.SESSION.parse(session, "session")
        async with self.ctx.store.read() as db:
            row = await db.execute(select(SessionRow.agent_id).where(SessionRow.id == session_id))
            agent_id = row.scalar_one_or_none()
            attached = FileRow.session_id == session_id
            if agent_id is not None:
                attached = or_(attached, FileRow.agent_id == agent_id)
            scope = and_(FileRow.owner == principal.id, FileRow.state == FileState.COMPLETED, attached)
            if semantic:
                candidates = await files_repo.chunks_with_embeddings(db, file_scope=scope, model=embeddings.MODEL_NAME)
            else:
                hits = await files_repo.search_chunks(
                    db, words=words, file_scope=scope, full_text_index=self.full_text_index, offset=0, limit=limit
                )
        if semantic:
            hits = (await self._rank_semantically(query, candidates))[:limit]
        return [_hit(h, words) for h in hits]

    def _semantic_mode(self, mode: int) -> bool:
        """Whether `mode` asks for semantic search; FAILED_PRECONDITION when this server cannot do it."""
        if mode not in tuple(SearchMode):
            raise InvalidArgument.field("mode", f"is {mode}, not a known search mode")
        if mode != SearchMode.SEMANTIC:
            return False
        if self._embedder is None:
            raise FailedPrecondition(self._semantic_unavailable, reason="SEMANTIC_SEARCH_UNAVAILABLE")
        return True

    async def _rank_semantically(
        self, query: str, candidates: builtins.list[tuple[files_repo.ChunkHit, bytes]]
    ) -> builtins.list[files_repo.ChunkHit]:
        """All candidates, most similar in meaning to the query first (cosine similarity; vectors are unit length)."""
        embedder = self._embedder
        assert embedder is not None
        if not candidates:
            return []

        def rank() -> list[files_repo.ChunkHit]:
            import numpy as np

            target = embedder.embed([query])[0]
            matrix = np.frombuffer(b"".join(v for _, v in candidates), dtype="<f4").reshape(len(candidates), -1)
            scores = matrix @ target
            order = np.argsort(-scores, kind="stable")
            return [replace(candidates[i][0], score=float(scores[i])) for i in order]

        return await asyncio.to_thread(rank)

    # -- analysis -------------------------------------------------------------

    async def analyze(
        self,
        caller: Principal,
        name: str,
        *,
        mode: int,
        agent: str = "",
        instructions: str = "",
        max_chars: int = 0,
        request_id: str = "",
    ) -> Analysis:
        v = Violations()
        if mode not in (AnalyzeMode.EXTRACT_TEXT, AnalyzeMode.SUMMARIZE):
            v.add("mode", "is required: MODE_EXTRACT_TEXT or MODE_SUMMARIZE")
        if mode == AnalyzeMode.SUMMARIZE and not agent:
            v.add("agent", "is required with MODE_SUMMARIZE: the agent whose model writes the summary")
        if mode == AnalyzeMode.EXTRACT_TEXT and agent:
            v.add("agent", "is only used with MODE_SUMMARIZE")
        if agent and names.AGENT.problem(agent):
            v.add("agent", names.AGENT.problem(agent) or "")
        if len(instructions) > MAX_INSTRUCTIONS_CHARS:
            v.add("instructions", f"is {len(instructions)} characters long; the limit is {MAX_INSTRUCTIONS_CHARS:,}")
        if max_chars < 0 or max_chars > MAX_TEXT_CHARS:
            v.add("max_chars", f"must be between 1 and {MAX_TEXT_CHARS:,} (0 means {DEFAULT_TEXT_CHARS:,})")
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        max_chars = max_chars or DEFAULT_TEXT_CHARS
        started = time.perf_counter()
        row = await self.get(caller, name)
        if row.state in (FileState.PENDING, FileState.PROCESSING):
            raise _not_ready(row, name)
        if mode == AnalyzeMode.EXTRACT_TEXT:
            row = await self._extract_again(caller, row, name)
            text = await self._text_prefix(row, max_chars + 1)
            return Analysis(row, mode, text[:max_chars], len(text) > max_chars, None, None, time.perf_counter() - started)
        _require_completed(row, name)
        summary, usage = await self._summarize(caller, row, agent, instructions)
        return Analysis(row, mode, summary[:max_chars], len(summary) > max_chars, *usage, time.perf_counter() - started)

    async def _extract_again(self, caller: Principal, row: FileRow, name: str) -> FileRow:
        if row.content_type not in sniff.EXTRACTABLE:
            raise FailedPrecondition(
                f"the server extracts no text from {row.content_type}", reason="UNSUPPORTED_CONTENT_TYPE"
            )
        async with self.ctx.store.write() as db:
            stored = await files_repo.get_file(db, row.id, None)
            if stored is None:
                raise not_found(name)
            if stored.state in (FileState.PENDING, FileState.PROCESSING):
                raise _not_ready(stored, name)
            stored.state, stored.progress = FileState.PENDING, 0.0
            stored.update_time = self.ctx.clock()
            stored.revision += 1
            await self._record(db, "file.updated", stored)
        self._notify(row.id)
        # Shielded: a caller that gives up does not leave the file half-processed; the extraction finishes.
        await asyncio.shield(self._schedule(row.id))
        return await self.get(caller, name)

    async def _text_prefix(self, row: FileRow, chars: int) -> str:
        if row.state != FileState.COMPLETED:
            return ""
        async with self.ctx.store.read() as db:
            return await files_repo.text_slice(db, row.id, 0, chars)

    async def _summarize(
        self, caller: Principal, row: FileRow, agent_name: str, instructions: str
    ) -> tuple[str, tuple[int, int]]:
        (agent_id,) = names.AGENT.parse(agent_name, "agent")
        async with self.ctx.store.read() as db:
            agent = await repo.get_agent(db, agent_id, None if caller.is_admin else caller.id)
            if agent is None:
                raise NotFound(f"agent {agent_name!r} does not exist", reason="AGENT_NOT_FOUND", metadata={"resource": agent_name})
            source = await files_repo.text_slice(db, row.id, 0, SUMMARY_SOURCE_CHARS)
        provider_name = str(agent.model.get("provider") or "builtin")
        provider = self.providers.get(provider_name)
        if provider is None:
            raise FailedPrecondition(f"the agent's provider {provider_name!r} is not available", reason="PROVIDER_ERROR")
        system = "\n\n".join(
            p
            for p in (
                agent.instructions,
                f"Summarize the document {row.filename!r} that the user sends.",
                instructions,
            )
            if p
        )
        model = agent.model
        if provider_name == "openai" and not model.get("base_url"):
            problem = self.ctx.endpoints.problem(str(model.get("endpoint") or ""), str(model.get("model") or ""))
            if problem is not None:
                raise FailedPrecondition(problem.message, reason=problem.reason)
        api_key = ""
        if model.get("api_key_secret"):
            if self.secrets is None:
                raise FailedPrecondition("secrets cannot be read by this server", reason="SECRET_NOT_FOUND")
            # The agent owner's key, sent only to the agent's own base_url, as in a run.
            api_key = await self.secrets.value_for(agent.owner, str(model["api_key_secret"]))
        request = ModelRequest(
            model=str(model.get("model") or ""),
            messages=(ModelMessage(role="system", text=system), ModelMessage(role="user", text=source)),
            temperature=model.get("temperature"),
            max_output_tokens=model.get("max_output_tokens"),
            base_url=str(model.get("base_url") or ""),
            api_key=api_key,
            endpoint=str(model.get("endpoint") or ""),
            options=dict(model.get("options") or {}),
        )
        parts: list[str] = []
        usage = (0, 0)
        try:
            async for chunk in provider.stream(request):
                if isinstance(chunk, TextChunk):
                    parts.append(chunk.text)
                elif isinstance(chunk, UsageChunk):
                    usage = (chunk.input_tokens, chunk.output_tokens)
        except ProviderError as error:
            if error.reason != "PROVIDER_ERROR":  # a refused destination or a removed endpoint: not transient
                raise FailedPrecondition(f"the model provider failed: {error.message}", reason=error.reason) from None
            raise Unavailable(f"the model provider failed: {error.message}", reason="PROVIDER_ERROR") from None
        return "".join(parts), usage


def _check_supported(purpose: int, content_type: str, field_name: str = "metadata.content_type") -> None:
    accepted = sniff.EXTRACTABLE if purpose == Purpose.ASSISTANTS else (sniff.JSONL,)
    if content_type not in accepted:
        raise InvalidArgument(
            f"{content_type or 'this content'} is not accepted for this purpose; accepted: {', '.join(accepted)}",
            reason="UNSUPPORTED_CONTENT_TYPE",
            metadata={"content_type": content_type},
        )


def _size_mismatch(expected: int, actual: str) -> InvalidArgument:
    return InvalidArgument(
        f"metadata.size_bytes says {expected} bytes but the content has {actual}; nothing was stored",
        reason="UPLOAD_SIZE_MISMATCH",
        metadata={"expected_bytes": str(expected)},
    )


def _not_ready(row: FileRow, name: str) -> FailedPrecondition:
    state = FileState(row.state).name
    return FailedPrecondition(
        f"file {name!r} is {state}; its text is not extracted yet", reason="FILE_NOT_READY", metadata={"state": state}
    )


def _require_completed(row: FileRow, name: str) -> None:
    if row.state == FileState.COMPLETED:
        return
    if row.state == FileState.FAILED:
        raise FailedPrecondition(
            f"file {name!r} failed processing ({row.error_reason}): {row.error_message}",
            reason="FILE_NOT_READY",
            metadata={"state": "FAILED", "file_reason": row.error_reason},
        )
    raise _not_ready(row, name)


def _query_words(query: str, max_chars: int) -> list[str]:
    if len(query) > max_chars:
        raise InvalidArgument.field("query", f"is {len(query)} characters long; the limit is {max_chars}")
    words = query.split()
    if not words:
        raise InvalidArgument.field("query", "is required: one or more words to look for")
    if len(words) > MAX_SEARCH_WORDS:
        raise InvalidArgument.field("query", f"has {len(words)} words; the limit is {MAX_SEARCH_WORDS}")
    return words


def _hit(hit: files_repo.ChunkHit, words: list[str]) -> SearchHit:
    return SearchHit(
        file=names.FILE.format(hit.file_id),
        filename=hit.filename,
        chunk_index=hit.chunk_index,
        snippet=_snippet(hit.text, words),
        score=hit.score,
        text_offset=hit.text_offset,
        text_chars=len(hit.text),
        page_number=hit.page_number,
    )


def _snippet(text: str, words: list[str]) -> str:
    """Up to SNIPPET_CHARS of the chunk around the first word found, on one line."""
    flat = " ".join(text.split())
    lowered = flat.lower()
    found = [at for at in (lowered.find(w.lower()) for w in words) if at >= 0]
    start = max(0, min(found) - SNIPPET_CHARS // 3) if found else 0
    prefix = "…" if start else ""
    room = SNIPPET_CHARS - len(prefix)
    excerpt = flat[start : start + room]
    if start + room < len(flat):
        excerpt = excerpt[:-1] + "…"
    return prefix + excerpt
