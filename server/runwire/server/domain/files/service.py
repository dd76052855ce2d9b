"""Files: checked uploads, downloads, listing, reading and deletion of the file resource.

An upload streams into a temporary blob while its size and SHA-256 are
computed; only when the content is complete and checked does one step make it
visible: the blob is renamed into the content-addressed store and the row is
inserted, under one lock that deletions take too, so a blob is never removed
while a new file comes to refer to it. Files for agents then have their text
extracted (domain/files/processing.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import asdict
from typing import AsyncIterator, Mapping

from sqlalchemy import select

from runwire.server.config import FileSettings
from runwire.server.core import names
from runwire.server.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    Violations,
)
from runwire.server.core.etags import check_etag
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.domain.common import check_labels, check_text
from runwire.server.domain.context import DomainContext
from runwire.server.domain.files.processing import FileProcessing
from runwire.server.domain.files.records import (
    DEFAULT_TEXT_CHARS,
    MAX_TEXT_CHARS,
    TERMINAL_STATES,
    FileState,
    InUseCheck,
    Purpose,
    TextSlice,
    UploadMetadata,
    not_found,
    record_change,
    require_completed,
    too_large,
)
from runwire.server.domain.resources import ListQuery, WriteOptions
from runwire.server.files import sniff
from runwire.server.files.blobs import BlobStore, TempBlob
from runwire.server.store import file_repository as files_repo
from runwire.server.store import repositories as repo
from runwire.server.store.models import FileRow
from runwire.server.store.transaction import Transaction

log = logging.getLogger("runwire.server.files")

MAX_CHUNK_BYTES = 1024 * 1024
MAX_FILENAME_CHARS = 255
SHA256_PATTERN = re.compile(r"[0-9a-fA-F]{64}")
# Watchers re-read the file at least this often, so changes made by another replica are seen too.
WATCH_POLL_SECONDS = 1.0


class FileService:
    def __init__(self, ctx: DomainContext, blobs: BlobStore, settings: FileSettings, processing: FileProcessing) -> None:
        self.ctx = ctx
        self.blobs = blobs
        self.settings = settings
        # Extracts the text of new files; its notifications wake watchers.
        self.processing = processing
        # Held while a blob becomes visible (upload) or is removed (delete): the two never interleave.
        self._blob_lock = asyncio.Lock()
        self._in_use_checks: list[InUseCheck] = []

    def refuse_deletion_while(self, check: InUseCheck) -> None:
        """DeleteFile fails with FAILED_PRECONDITION `FILE_IN_USE` while `check` gives a reason."""
        self._in_use_checks.append(check)

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Prepare the store and take up the processing an earlier process left unfinished."""
        await self.blobs.start()
        await self.processing.start()

    async def stop(self) -> None:
        """Stop extractions; their files stay PROCESSING and are taken up at the next start."""
        await self.processing.stop()
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
            self.processing.schedule(row.id)
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
                    await record_change(self.ctx, db, "file.created", row)
                    self.ctx.idempotency.remember(db, caller, request_id, "UploadFile", fingerprint, [names.FILE.format(row.id)])
            except BaseException:
                if created:
                    async with self.ctx.store.read() as db:
                        if not await files_repo.blob_in_use(db, row.sha256):
                            await self.blobs.delete(row.sha256)
                raise
        self.processing.notify(row.id)
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

    async def list(self, caller: Principal, query: ListQuery) -> Page:
        base = select(FileRow)
        if not caller.is_admin:
            base = base.where(FileRow.owner == caller.id)
        return await self.ctx.list(
            caller,
            "files",
            base,
            files_repo.FILE_LISTING,
            page_size=query.page_size,
            page_token=query.page_token,
            filter_text=query.filter,
            order_by=query.order_by,
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
            changed = self.processing.next_change(row.id)
            row = await self.get(caller, name)
            if (row.state, row.progress) != last:
                last = (row.state, row.progress)
                yield row
            if row.state in TERMINAL_STATES:
                self.processing.forget(row.id)  # nothing will change any more
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
            require_completed(row, name)
            if offset > row.text_chars:
                raise OutOfRange(
                    f"offset {offset} is beyond the end of the text ({row.text_chars} characters)",
                    reason="INVALID_ARGUMENT",
                    metadata={"text_chars": str(row.text_chars)},
                )
            text = await files_repo.text_slice(db, row.id, offset, max_chars)
        return TextSlice(text, offset, offset + len(text), row.text_chars)

    # -- delete ---------------------------------------------------------------

    async def delete(self, caller: Principal, name: str, options: WriteOptions) -> None:
        (file_id,) = names.FILE.parse(name, "name")
        self.ctx.idempotency.validate(options.request_id)
        async with self._blob_lock:
            async with self.ctx.store.write() as db:
                if await self.ctx.idempotency.replay(db, caller, options.request_id, "DeleteFile", options.fingerprint) is not None:
                    return
                row = await files_repo.get_file(db, file_id, None if caller.is_admin else caller.id)
                if row is None:
                    if options.allow_missing:
                        return
                    raise not_found(name)
                check_etag("file", row.id, row.revision, row.incarnation, options.etag)
                for check in self._in_use_checks:
                    why = await check(db, row.id)
                    if why:
                        raise FailedPrecondition(
                            f"file {name!r} is in use: {why}", reason="FILE_IN_USE", metadata={"resource": name}
                        )
                sha256 = row.sha256
                await files_repo.delete_chunks(db, row.id, self.processing.full_text_index)
                await record_change(self.ctx, db, "file.deleted", row)
                await db.delete(row)
                await db.flush()
                blob_still_used = await files_repo.blob_in_use(db, sha256)
                self.ctx.idempotency.remember(db, caller, options.request_id, "DeleteFile", options.fingerprint, [])
            if not blob_still_used:
                await self.blobs.delete(sha256)
        self.processing.cancel(file_id)
        self.processing.notify(file_id)


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
