"""Where file contents live: a content-addressed blob store behind a small interface.

Contents are keyed by their SHA-256, so equal uploads share one blob and a
blob is deleted only when no file refers to it any more (the domain decides
that). Uploads are written to a temporary file first and only renamed into
place once complete and checked: a failed or aborted upload leaves nothing.
Temporary files (uploads in progress, extraction output) carry the name of the
process that writes them, which holds a lock on `tmp/<owner>.lock` while it
lives: a start removes every temporary file whose owner holds no lock, so
what a killed process was writing is gone at the next start.
`LocalBlobStore` keeps blobs in a directory; an S3-compatible store would
implement the same methods (multipart upload for `TempBlob`, ranged GET for
`read`, a download to a temporary file for `local_copy`).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import uuid
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, BinaryIO, Protocol

# Writes are gathered to this size before each trip to a worker thread (write + hash off the event loop).
WRITE_BUFFER_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024
log = logging.getLogger("runwire.server.files")


class TempBlob(Protocol):
    """An upload in progress: bytes appended in order, hashed as they arrive."""

    size: int

    async def write(self, data: bytes) -> None: ...

    async def finish(self) -> str:
        """Flush everything written; returns the SHA-256 (hex) of the whole content."""
        ...

    def discard(self) -> None:
        """Forget the upload. Synchronous, so it also runs in a cancelled call's cleanup."""
        ...


class BlobStore(Protocol):
    async def start(self) -> None:
        """Ready the store, and remove the temporary files of processes that ended without cleaning up."""
        ...

    def close(self) -> None: ...

    def new_temp(self) -> TempBlob: ...

    def scratch_path(self, suffix: str) -> Path:
        """A new local path for a temporary file of this process, removed at the next start if left behind."""
        ...

    async def commit(self, temp: TempBlob, sha256: str) -> bool:
        """Make the finished temp blob the content of `sha256`; True when the blob did not exist before."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    def read(self, sha256: str, offset: int = 0, limit: int = 0) -> AsyncIterator[bytes]:
        """The bytes from `offset`, at most `limit` of them (0: to the end), in chunks of at most 1 MiB."""
        ...

    async def delete(self, sha256: str) -> None: ...

    def local_copy(self, sha256: str) -> AbstractAsyncContextManager[Path]:
        """A local path holding the content while the context lasts (for extraction in another process)."""
        ...


class LocalTempBlob:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        # The write in flight in a worker thread: the next chunk is received while this one is written.
        self._pending: asyncio.Future[None] | None = None

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if not self._buffer and len(data) >= WRITE_BUFFER_BYTES:
            await self._write(data)  # a full chunk goes as it is, without a copy
            return
        self._buffer += data
        if len(self._buffer) >= WRITE_BUFFER_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if not self._buffer:
            return
        data, self._buffer = bytes(self._buffer), bytearray()
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        if self._file is None:
            # Opened here, not in the worker thread: once discard() ran, no late write can create the file again.
            self._file = open(self.path, "wb")
        if self._pending is not None:
            await self._pending  # one write at a time, in order (the hash must see the bytes in order)
        self._pending = asyncio.get_running_loop().run_in_executor(None, self._write_sync, self._file, data)

    def _write_sync(self, handle: BinaryIO, data: bytes) -> None:
        handle.write(data)
        self._hash.update(data)

    async def finish(self) -> str:
        await self._flush()
        if self._pending is not None:
            await self._pending
        await asyncio.to_thread(self._close_sync, True)
        return self._hash.hexdigest()

    def _close_sync(self, durable: bool) -> None:
        if self._file is None:
            if durable:  # an empty content still gets its (empty) file
                self.path.touch()
            return
        if durable:
            self._file.flush()
            os.fsync(self._file.fileno())
        self._file.close()
        self._file = None

    def discard(self) -> None:
        self._buffer = bytearray()
        if self._pending is not None:
            # Its outcome no longer matters; retrieving it keeps asyncio from logging it.
            self._pending.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._close_sync(False)
        self.path.unlink(missing_ok=True)


class LocalBlobStore:
    """Blobs as files under `root/blobs/ab/cd/<sha256>`; temporary files under `root/tmp/<owner>-<id>.<suffix>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.temp = root / "tmp"
        # This process's name on its temporary files, and its lock (held from start to close).
        self.owner = uuid.uuid4().hex[:16]
        self._lock: BinaryIO | None = None

    async def start(self) -> None:
        removed = await asyncio.to_thread(self._prepare)
        if removed:
            log.info("removed %d temporary file(s) left by an earlier process in %s", removed, self.temp)

    def _prepare(self) -> int:
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.temp.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            self._lock = open(self.temp / f"{self.owner}.lock", "wb")
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        live = {self.owner}
        removed = 0
        for leftover in sorted(self.temp.iterdir(), key=lambda p: p.suffix == ".lock"):  # lock files last
            owner = leftover.name.split("-", 1)[0] if "-" in leftover.name else leftover.stem
            if owner in live or (leftover.suffix == ".lock" and owner not in live and _held(leftover)):
                live.add(owner)
                continue
            if owner not in live and (self.temp / f"{owner}.lock").exists() and _held(self.temp / f"{owner}.lock"):
                live.add(owner)
                continue
            try:
                leftover.unlink()
                removed += leftover.suffix != ".lock"
            except OSError:
                pass
        return removed

    def close(self) -> None:
        """Give up the lock: this process writes no more temporary files."""
        if self._lock is not None:
            (self.temp / f"{self.owner}.lock").unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def scratch_path(self, suffix: str) -> Path:
        return self.temp / f"{self.owner}-{uuid.uuid4().hex}{suffix}"

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.blobs / sha256[:2] / sha256[2:4] / sha256

    def new_temp(self) -> LocalTempBlob:
        return LocalTempBlob(self.scratch_path(".part"))

    async def commit(self, temp: TempBlob, sha256: str) -> bool:
        assert isinstance(temp, LocalTempBlob)
        return await asyncio.to_thread(self._commit_sync, temp.path, self.path_of(sha256))

    @staticmethod
    def _commit_sync(source: Path, target: Path) -> bool:
        if target.exists():
            source.unlink(missing_ok=True)
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)  # atomic within one file system
        return True

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_of(sha256).exists)

    async def read(self, sha256: str, offset: int = 0, limit: int = 0) -> AsyncIterator[bytes]:
        path = self.path_of(sha256)
        handle = await asyncio.to_thread(open, path, "rb")
        try:
            await asyncio.to_thread(handle.seek, offset)
            remaining = limit if limit > 0 else None
            while remaining is None or remaining > 0:
                size = READ_CHUNK_BYTES if remaining is None else min(READ_CHUNK_BYTES, remaining)
                data = await asyncio.to_thread(handle.read, size)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data
        finally:
            handle.close()

    async def delete(self, sha256: str) -> None:
        await asyncio.to_thread(self.path_of(sha256).unlink, True)

    @asynccontextmanager
    async def local_copy(self, sha256: str) -> AsyncIterator[Path]:
        yield self.path_of(sha256)


def _held(lock: Path) -> bool:
    """Whether a live process holds the lock file (a lock dies with its process, however it ended)."""
    try:
        with open(lock, "rb") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False
