"""Files: text extraction in a worker process (PENDING -> PROCESSING -> COMPLETED or FAILED), chunks and their
vectors, and the change notifications watchers wait on.

Files for agents have their text extracted after upload, split into chunks and indexed for full-text
search (and, with semantic search on, embedded). An extraction an earlier process left unfinished is
taken up at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from runwire.server.background import spawn
from runwire.server.config import FileSettings
from runwire.server.domain.context import DomainContext
from runwire.server.domain.files.records import FileState, record_change
from runwire.server.files import embeddings
from runwire.server.files.blobs import BlobStore
from runwire.server.files.extract import ExtractionError
from runwire.server.files.extract import Page as TextPage
from runwire.server.files.processing import extract_in_worker, split_into_chunks
from runwire.server.store import file_repository as files_repo
from runwire.server.store.models import FileRow

log = logging.getLogger("runwire.server.files")

# Progress is written to the database in steps of at least this much.
PROGRESS_STEP = 0.1


class FileProcessing:
    def __init__(self, ctx: DomainContext, blobs: BlobStore, settings: FileSettings) -> None:
        self.ctx = ctx
        self.blobs = blobs
        self.settings = settings
        self.full_text_index = ctx.store.backend == "sqlite"
        self._slots = asyncio.Semaphore(settings.file_processing_concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changes: dict[str, asyncio.Event] = {}
        self._stopping = False
        # Set by start() when semantic search is on and its model loads; otherwise why it is unavailable.
        self.embedder: embeddings.Embedder | None = None
        self.semantic_unavailable = "semantic search is off on this server (RUNWIRE_FILE_SEMANTIC_SEARCH)"

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Load the semantic search model, and take up the processing an earlier process left unfinished."""
        if self.settings.file_semantic_search:
            try:
                self.embedder = await asyncio.to_thread(embeddings.shared)
            except embeddings.EmbeddingsUnavailable as exc:
                self.semantic_unavailable = f"semantic search is unavailable on this server: {exc}"
                log.warning("RUNWIRE_FILE_SEMANTIC_SEARCH is on but %s; full-text search only", exc)
        async with self.ctx.store.read() as db:
            unfinished = await files_repo.file_ids_in_states(db, [FileState.PENDING, FileState.PROCESSING])
        for file_id in unfinished:
            self.schedule(file_id, retry_processing=True)
        if unfinished:
            log.info("resumed text extraction of %d file(s)", len(unfinished))

    async def stop(self) -> None:
        """Stop extractions; their files stay PROCESSING and are taken up at the next start."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def cancel(self, file_id: str) -> None:
        """Stop the extraction of a deleted file."""
        task = self._tasks.get(file_id)
        if task is not None:
            task.cancel()

    def next_change(self, file_id: str) -> asyncio.Event:
        """The event the next change of the file's state or progress sets (take it before reading the file)."""
        return self._changes.setdefault(file_id, asyncio.Event())

    def forget(self, file_id: str) -> None:
        """The file changes no more: drop what its watchers waited on."""
        self._changes.pop(file_id, None)

    # -- processing -----------------------------------------------------------

    def schedule(self, file_id: str, *, retry_processing: bool = False) -> asyncio.Task[None]:
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
                    await record_change(self.ctx, db, "file.updated", row)
            if row is None:
                return
            self.notify(file_id)
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

    async def _embed_chunks(self, chunks: list[Any]) -> list[bytes] | None:
        """One float32 vector per chunk when semantic search is on; computed in a thread, off the event loop."""
        embedder = self.embedder
        if embedder is None or not chunks:
            return None
        vectors = await asyncio.to_thread(embedder.embed, [c.text for c in chunks])
        return [row.astype("<f4").tobytes() for row in vectors]

    async def _extract(self, row: FileRow) -> list[TextPage]:
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
                        await record_change(self.ctx, db, "file.updated", stored)
                self.notify(row.id)

        async with self.blobs.local_copy(row.sha256) as path:
            return await extract_in_worker(path, row.content_type, self.settings, progress, self.blobs.scratch_path(".json"))

    async def _finish(
        self,
        file_id: str,
        state: FileState,
        *,
        chunks: list[Any] | None = None,
        vectors: list[bytes] | None = None,
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
            await record_change(self.ctx, db, "file.updated", row)
        self.notify(file_id)

    def notify(self, file_id: str) -> None:
        changed = self._changes.pop(file_id, None)
        if changed is not None:
            changed.set()
