"""FileService through real stubs: checked uploads, downloads, listing, deletion, extraction of every supported type,
hostile files, search, analysis, and the `file_search` tool inside a run."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runwire.server.app import RunwireServer
from runwire.server.config import FileSettings
from runwire.server.core.principal import Principal
from runwire.v1 import file_pb2, file_pb2_grpc
from tests.conftest import new_request_id, rpc_error
from tests.grpc import file_samples
from tests.grpc.run_support import TOOL_STATE, Runs, as_dict, connected, kind, run_settings

File = file_pb2.File
ASSISTANTS, BATCH_INPUT = File.PURPOSE_ASSISTANTS, File.PURPOSE_BATCH_INPUT
COMPLETED, FAILED = File.STATE_COMPLETED, File.STATE_FAILED
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
WATCH_TIMEOUT = 60.0


@dataclasses.dataclass
class Files:
    runs: Runs
    stub: file_pb2_grpc.FileServiceStub

    @property
    def server(self) -> RunwireServer:
        return self.runs.server

    @property
    def storage(self) -> Path:
        return self.server.settings.data_dir / "files"

    def upload_call(self, data: bytes, filename: str = "notes.txt", *, chunk_size: int = 64 * 1024, **metadata: Any) -> Any:
        metadata.setdefault("purpose", ASSISTANTS)
        first = file_pb2.UploadFileRequest(metadata=file_pb2.UploadFileMetadata(filename=filename, **metadata))
        chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
        return self.stub.UploadFile(iter([first, *(file_pb2.UploadFileRequest(chunk=c) for c in chunks)]), timeout=30)

    async def upload(self, data: bytes, filename: str = "notes.txt", **metadata: Any) -> File:
        return await self.upload_call(data, filename, **metadata)

    async def settled(self, name: str) -> list[File]:
        """Every WatchFile snapshot until COMPLETED or FAILED."""

        async def read() -> list[File]:
            return [snapshot async for snapshot in self.stub.WatchFile(file_pb2.WatchFileRequest(name=name))]

        return await asyncio.wait_for(read(), WATCH_TIMEOUT)

    async def download(self, name: str, **request: Any) -> tuple[File, bytes]:
        messages = [m async for m in self.stub.DownloadFile(file_pb2.DownloadFileRequest(name=name, **request))]
        assert messages[0].WhichOneof("data") == "file"
        assert all(m.WhichOneof("data") == "chunk" for m in messages[1:])
        return messages[0].file, b"".join(m.chunk for m in messages[1:])

    async def names(self, **request: Any) -> list[str]:
        return [f.name for f in (await self.stub.ListFiles(file_pb2.ListFilesRequest(**request))).files]

    def stored_blobs(self) -> list[Path]:
        return [p for p in (self.storage / "blobs").rglob("*") if p.is_file()]

    def temp_files(self) -> list[Path]:
        """Temporary files, without the lock file the server holds while it runs."""
        return [p for p in (self.storage / "tmp").glob("*") if p.suffix != ".lock"]


@asynccontextmanager
async def serving(tmp_path: Path, **file_settings: Any) -> AsyncIterator[Files]:
    settings = run_settings(tmp_path)
    settings = dataclasses.replace(settings, files=dataclasses.replace(FileSettings(), **file_settings))
    server = RunwireServer(settings)
    await server.start()
    try:
        async with connected(server) as runs:
            yield Files(runs, file_pb2_grpc.FileServiceStub(runs.client.channel))
    finally:
        await server.stop(grace=0.5)


@pytest.fixture
async def files(tmp_path: Path) -> AsyncIterator[Files]:
    async with serving(tmp_path, max_unzipped_bytes=8 * 1024 * 1024, max_image_pixels=10_000_000) as instance:
        yield instance


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- every supported type ------------------------------------------------------------

SAMPLES = [
    ("notes.txt", "text/plain", b"Plain notes about the aurora borealis.\n", "aurora"),
    ("readme.md", "text/markdown", b"# Title\n\nMarkdown mentions a *narwhal* here.\n", "narwhal"),
    ("table.csv", "text/csv", b"animal,count\nokapi,3\nlemur,5\n", "okapi"),
    ("data.json", "application/json", json.dumps({"creature": "axolotl", "legs": 4}).encode(), "axolotl"),
    (
        "page.html",
        "text/html",
        b"<html><head><style>p{color:red}</style><script>var quokka=1;</script></head>"
        b"<body><h1>Zoo</h1><p>The pangolin sleeps.</p></body></html>",
        "pangolin",
    ),
    ("report.pdf", "application/pdf", file_samples.pdf("Quarterly report on the tapir budget", "Second page: capybara"), "capybara"),
    ("letter.docx", DOCX, file_samples.docx("Dear reader,", "the wombat arrives on Monday."), "wombat"),
    ("scan.png", "image/png", file_samples.png_with_text("Invoice for the flamingo"), "flamingo"),
]


@pytest.mark.parametrize(("filename", "content_type", "data", "word"), SAMPLES, ids=[s[0] for s in SAMPLES])
async def test_each_supported_type_is_uploaded_extracted_and_searchable(
    files: Files, filename: str, content_type: str, data: bytes, word: str
) -> None:
    uploaded = await files.upload(
        data, filename, content_type=content_type, size_bytes=len(data), sha256=sha256(data), labels={"kind": "sample"}
    )
    assert uploaded.name.startswith("files/")
    assert (uploaded.filename, uploaded.display_name, uploaded.content_type) == (filename, filename, content_type)
    assert (uploaded.size_bytes, uploaded.sha256) == (len(data), sha256(data))
    assert uploaded.state in (File.STATE_PENDING, File.STATE_PROCESSING)

    snapshots = await files.settled(uploaded.name)
    final = snapshots[-1]
    assert final.state == COMPLETED, final.error
    assert final.progress == 1.0 and final.text_chars > 0 and final.chunk_count >= 1
    # Snapshots only move forward: PENDING, PROCESSING with growing progress, then COMPLETED.
    steps = [(s.state, s.progress) for s in snapshots]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)

    text = await files.stub.GetFileText(file_pb2.GetFileTextRequest(name=uploaded.name))
    assert word in text.text.lower()
    assert (text.total_chars, text.next_offset) == (final.text_chars, final.text_chars)
    if content_type == "text/html":
        assert "quokka" not in text.text and "color" not in text.text
    if content_type == "application/pdf":
        assert final.page_count == 2

    found = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query=word.upper()))
    assert [r.file for r in found.results] == [uploaded.name]
    assert word in found.results[0].snippet.lower()
    _, content = await files.download(uploaded.name)
    assert content == data


async def test_content_type_is_guessed_from_the_content_and_the_name(files: Files) -> None:
    pdf = await files.upload(file_samples.pdf("no declared type"), "scan")
    markdown = await files.upload(b"# heading\n", "notes.md")
    jsonl = await files.upload(b'{"agent": "agents/x"}\n', "tasks.jsonl", purpose=BATCH_INPUT)
    assert (pdf.content_type, markdown.content_type, jsonl.content_type) == (
        "application/pdf",
        "text/markdown",
        "application/jsonl",
    )
    # Batch input needs no extraction: it is ready at once.
    assert (jsonl.state, jsonl.progress) == (COMPLETED, 1.0)


# -- checked uploads -------------------------------------------------------------------


async def test_checksum_mismatch_stores_nothing(files: Files) -> None:
    data = b"the real content" * 1000
    failure = await rpc_error(files.upload_call(data, sha256=sha256(b"something else"), chunk_size=1000))
    assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CHECKSUM_MISMATCH")
    assert failure.metadata["actual_sha256"] == sha256(data)
    assert await files.names() == []
    assert files.stored_blobs() == [] and files.temp_files() == []


async def test_size_limit_is_enforced_as_the_content_arrives(tmp_path: Path) -> None:
    async with serving(tmp_path, max_upload_bytes=10_000) as files:
        over = await rpc_error(files.upload_call(b"x" * 10_001, chunk_size=4096))
        assert (over.code, over.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "FILE_TOO_LARGE")
        assert over.metadata["limit_bytes"] == "10000"
        # A declared size over the limit fails before any content is read.
        declared = await rpc_error(files.upload_call(b"x", size_bytes=50_000))
        assert declared.reason == "FILE_TOO_LARGE"
        exactly = await files.upload(b"x" * 10_000)
        assert exactly.size_bytes == 10_000
        assert await files.names() == [exactly.name]
        assert files.temp_files() == []


async def test_size_mismatch_and_empty_uploads_are_refused(files: Files) -> None:
    longer = await rpc_error(files.upload_call(b"abcdef", size_bytes=3))
    shorter = await rpc_error(files.upload_call(b"abc", size_bytes=6))
    empty = await rpc_error(files.upload_call(b""))
    assert (longer.reason, shorter.reason) == ("UPLOAD_SIZE_MISMATCH", "UPLOAD_SIZE_MISMATCH")
    assert (empty.code, empty.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "FILE_EMPTY")
    assert await files.names() == [] and files.temp_files() == []


async def test_an_upload_aborted_mid_stream_leaves_nothing(files: Files) -> None:
    sent_half = asyncio.Event()

    async def requests() -> AsyncIterator[file_pb2.UploadFileRequest]:
        yield file_pb2.UploadFileRequest(metadata=file_pb2.UploadFileMetadata(filename="big.txt", purpose=ASSISTANTS))
        for _ in range(4):  # 4 MiB: past the write buffer, so a temporary file exists on the server
            yield file_pb2.UploadFileRequest(chunk=b"y" * (1024 * 1024))
        sent_half.set()
        await asyncio.Event().wait()  # the client stalls, then gives up

    call = files.stub.UploadFile(requests())
    await asyncio.wait_for(sent_half.wait(), 30)
    await _until(lambda: files.temp_files() != [])
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await _until(lambda: files.temp_files() == [])
    assert await files.names() == [] and files.stored_blobs() == []
    # The server is fine: the next upload works.
    assert (await files.upload(b"after the abort")).size_bytes == 15


async def _until(condition: Any, timeout: float = 30.0) -> None:
    """Wait for something the server does in the background (bounded: a bug fails instead of hanging)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_stream_protocol_errors(files: Files) -> None:
    chunk_first = files.stub.UploadFile(iter([file_pb2.UploadFileRequest(chunk=b"abc")]))
    failure = await rpc_error(chunk_first)
    assert (failure.code, "metadata") == (grpc.StatusCode.INVALID_ARGUMENT, next(iter(failure.field_violations)))
    meta = file_pb2.UploadFileRequest(metadata=file_pb2.UploadFileMetadata(filename="a.txt", purpose=ASSISTANTS))
    twice = await rpc_error(files.stub.UploadFile(iter([meta, file_pb2.UploadFileRequest(chunk=b"a"), meta])))
    assert "metadata" in twice.field_violations
    bad = await rpc_error(files.upload_call(b"abc", "../etc/passwd", purpose=File.PURPOSE_BATCH_OUTPUT, sha256="xyz", file_id="Bad"))
    assert set(bad.field_violations) == {"metadata.filename", "metadata.purpose", "metadata.sha256", "metadata.file_id"}
    no_purpose = await rpc_error(files.upload_call(b"abc", purpose=File.PURPOSE_UNSPECIFIED))
    assert "metadata.purpose" in no_purpose.field_violations
    missing_session = await rpc_error(files.upload_call(b"abc", session="sessions/nope-nope"))
    assert (missing_session.code, missing_session.reason) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_content_types_are_checked_against_the_bytes(files: Files) -> None:
    png = file_samples.png_with_text("hi")
    lying = await rpc_error(files.upload_call(png, "report.pdf", content_type="application/pdf"))
    assert (lying.code, lying.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CONTENT_TYPE_MISMATCH")
    assert (lying.metadata["declared"], lying.metadata["detected"]) == ("application/pdf", "image/png")
    binary_as_text = await rpc_error(files.upload_call(b"\x00\x01\x02binary", "a.txt", content_type="text/plain"))
    assert binary_as_text.reason == "CONTENT_TYPE_MISMATCH"
    unsupported = await rpc_error(files.upload_call(b"PK\x03\x04zip", "a.zip", content_type="application/zip"))
    assert (unsupported.code, unsupported.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UNSUPPORTED_CONTENT_TYPE")
    batch_pdf = await rpc_error(files.upload_call(file_samples.pdf("x"), "t.pdf", purpose=BATCH_INPUT))
    assert batch_pdf.reason == "UNSUPPORTED_CONTENT_TYPE"
    assert await files.names() == [] and files.stored_blobs() == []


async def test_a_repeated_request_id_returns_the_first_file(files: Files) -> None:
    request_id = new_request_id()
    first = await files.upload(b"same content", request_id=request_id)
    again = await files.upload(b"same content", request_id=request_id)
    assert again.name == first.name
    assert await files.names() == [first.name]
    other = await rpc_error(files.upload_call(b"same content", "renamed.txt", request_id=request_id))
    assert other.reason == "REQUEST_ID_REUSED"
    taken = await rpc_error(files.upload_call(b"x", file_id=first.name.split("/")[1]))
    assert (taken.code, taken.reason) == (grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS")


# -- hostile content: clear failures, healthy server ---------------------------------------------


async def _failed(files: Files, data: bytes, filename: str, content_type: str) -> File:
    uploaded = await files.upload(data, filename, content_type=content_type)
    final = (await files.settled(uploaded.name))[-1]
    assert final.state == FAILED
    return final


async def test_hostile_files_fail_with_a_reason_and_the_server_stays_healthy(files: Files) -> None:
    corrupt = await _failed(files, file_samples.corrupt_pdf(), "broken.pdf", "application/pdf")
    assert corrupt.error.reason == "EXTRACTION_FAILED" and "PDF" in corrupt.error.message
    bomb = await _failed(files, file_samples.zip_bomb_docx(16 * 1024 * 1024), "bomb.docx", DOCX)
    assert bomb.error.reason == "DECOMPRESSION_LIMIT_EXCEEDED"
    huge = await _failed(files, file_samples.huge_png(100_000, 100_000), "huge.png", "image/png")
    assert huge.error.reason == "FILE_TOO_COMPLEX" and "pixels" in huge.error.message
    not_json = await _failed(files, b'{"unclosed": ', "bad.json", "application/json")
    assert not_json.error.reason == "EXTRACTION_FAILED"

    # A failed file can still be downloaded, but has no text yet.
    _, content = await files.download(corrupt.name)
    assert content == file_samples.corrupt_pdf()
    not_ready = await rpc_error(files.stub.GetFileText(file_pb2.GetFileTextRequest(name=corrupt.name)))
    assert (not_ready.code, not_ready.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "FILE_NOT_READY")
    health = health_pb2_grpc.HealthStub(files.runs.client.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service="runwire.v1.FileService"))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    fine = await files.upload(b"still working", content_type="text/plain")
    assert (await files.settled(fine.name))[-1].state == COMPLETED


# What no message a caller sees may hold: a server path, a class name, a library's own words.
LEAKS = re.compile(
    r"(^|[\s'\"(])/[\w.-]+/|[A-Z]\w*(Error|Exception|Warning)\b|Traceback|pypdf|PIL|Pillow|tesseract|zlib|"
    r"cannot identify image file|decompression bomb|Stream has ended|Truncated File Read|Expecting value|File is not a zip"
)


@pytest.mark.parametrize(
    ("sample", "filename", "content_type", "reason", "message"),
    [
        (file_samples.malformed_png, "broken.png", "image/png", "EXTRACTION_FAILED", "the PNG image is damaged or truncated"),
        (lambda: file_samples.huge_png(100_000, 100_000), "huge.png", "image/png", "FILE_TOO_COMPLEX",
         "the image is 100000x100000 = 10000000000 pixels; the limit is"),
        (lambda: file_samples.huge_png(9_000, 9_000), "big.png", "image/png", "FILE_TOO_COMPLEX", "9000x9000 = 81000000 pixels"),
        (file_samples.truncated_pdf, "cut.pdf", "application/pdf", "EXTRACTION_FAILED", "the PDF is damaged or truncated"),
        (file_samples.corrupt_pdf, "corrupt.pdf", "application/pdf", "EXTRACTION_FAILED", "the PDF is damaged or truncated"),
        (file_samples.encrypted_pdf, "secret.pdf", "application/pdf", "EXTRACTION_FAILED", "the PDF is encrypted"),
        (lambda: file_samples.zip_bomb_docx(16 * 1024 * 1024), "bomb.docx", DOCX, "DECOMPRESSION_LIMIT_EXCEEDED", "expands"),
        (lambda: b"PK\x03\x04 but no archive follows", "notzip.docx", DOCX, "EXTRACTION_FAILED", "the DOCX is not a valid zip archive"),
        # Past the head the upload sniffs: accepted, then found broken by the extraction.
        (lambda: b"caf\xc3\xa9 " * 2000 + b"\xff\xfe", "broken.txt", "text/plain", "EXTRACTION_FAILED", "not UTF-8 text (byte 12000)"),
        (lambda: b'{"unclosed": ', "bad.json", "application/json", "EXTRACTION_FAILED", "not valid JSON (line 1, column 14)"),
    ],
    ids=["malformed-png", "huge-png", "big-png", "truncated-pdf", "corrupt-pdf", "encrypted-pdf", "zip-bomb", "not-zip", "bad-utf8", "bad-json"],
)
async def test_a_failed_file_says_why_in_the_servers_own_words(
    tmp_path: Path, sample: Any, filename: str, content_type: str, reason: str, message: str
) -> None:
    async with serving(tmp_path, max_image_pixels=50_000_000) as files:
        data_dir = str(files.server.settings.data_dir.resolve())
        final = await _failed(files, sample(), filename, content_type)
        assert final.error.reason == reason
        assert message in final.error.message
        assert not LEAKS.search(final.error.message), final.error.message
        assert data_dir not in final.error.message and str(tmp_path) not in final.error.message
        # The caller's other views of the file say the same, and no more.
        fetched = await files.stub.GetFile(file_pb2.GetFileRequest(name=final.name))
        assert fetched.error == final.error
        not_ready = await rpc_error(files.stub.GetFileText(file_pb2.GetFileTextRequest(name=final.name)))
        assert data_dir not in not_ready.message and not LEAKS.search(not_ready.message)


async def test_extraction_beyond_the_time_limit_fails(tmp_path: Path) -> None:
    async with serving(tmp_path, file_processing_timeout_seconds=0.001) as files:
        final = await _failed(files, b"any text", "a.txt", "text/plain")
        assert final.error.reason == "PROCESSING_LIMIT_EXCEEDED"


# -- reads, lists, deletes -------------------------------------------------------------------------


async def test_download_streams_the_content_and_byte_ranges(files: Files) -> None:
    data = b"".join(b"line %07d\n" % i for i in range(300_000))  # ~3.6 MiB: several chunks each way
    uploaded = await files.upload(data, "lines.txt", sha256=sha256(data))
    whole_file, whole = await files.download(uploaded.name)
    assert (whole_file.name, whole) == (uploaded.name, data)
    _, middle = await files.download(uploaded.name, offset=13, limit=12)
    assert middle == data[13:25]
    _, tail = await files.download(uploaded.name, offset=len(data) - 3)
    assert tail == data[-3:]
    beyond = await rpc_error(files.stub.DownloadFile(file_pb2.DownloadFileRequest(name=uploaded.name, offset=len(data) + 1)).read())
    assert beyond.code == grpc.StatusCode.OUT_OF_RANGE
    missing = await rpc_error(files.stub.DownloadFile(file_pb2.DownloadFileRequest(name="files/nope-nope")).read())
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND")


async def test_list_filters_orders_and_pages(files: Files) -> None:
    a = await files.upload(b"aaa", "a.txt", labels={"team": "red"})
    b = await files.upload(file_samples.pdf("b"), "b.pdf")
    c = await files.upload(b'{"x": 1}\n', "c.jsonl", purpose=BATCH_INPUT)
    assert await files.names() == [c.name, b.name, a.name]
    assert await files.names(order_by="filename") == [a.name, b.name, c.name]
    assert await files.names(filter="purpose = BATCH_INPUT") == [c.name]
    assert await files.names(filter='content_type = "application/pdf"') == [b.name]
    assert await files.names(filter="labels.team = red") == [a.name]
    assert await files.names(filter="state = COMPLETED AND purpose = BATCH_INPUT") == [c.name]
    first = await files.stub.ListFiles(file_pb2.ListFilesRequest(page_size=2, order_by="size_bytes desc"))
    assert first.total_size == 3 and len(first.files) == 2
    rest = await files.stub.ListFiles(
        file_pb2.ListFilesRequest(page_size=2, order_by="size_bytes desc", page_token=first.next_page_token)
    )
    assert [f.name for f in [*first.files, *rest.files]] == [b.name, c.name, a.name] and not rest.next_page_token
    bad_filter = await rpc_error(files.stub.ListFiles(file_pb2.ListFilesRequest(filter="colour = red")))
    assert bad_filter.reason == "INVALID_FILTER"
    foreign_token = await rpc_error(
        files.stub.ListFiles(file_pb2.ListFilesRequest(page_size=2, order_by="filename", page_token=first.next_page_token))
    )
    assert foreign_token.reason == "INVALID_PAGE_TOKEN"


async def test_delete_removes_the_bytes_unless_another_file_shares_them(files: Files) -> None:
    first = await files.upload(b"shared bytes", "one.txt")
    second = await files.upload(b"shared bytes", "two.txt")
    assert len(files.stored_blobs()) == 1
    await files.settled(first.name)
    await files.settled(second.name)  # processing changes the etag; it must be over before the etag is read
    await files.stub.DeleteFile(file_pb2.DeleteFileRequest(name=first.name))
    assert len(files.stored_blobs()) == 1
    _, content = await files.download(second.name)
    assert content == b"shared bytes"
    stale = await rpc_error(files.stub.DeleteFile(file_pb2.DeleteFileRequest(name=second.name, etag='"stale"')))
    assert stale.reason == "ETAG_MISMATCH"
    current = await files.stub.GetFile(file_pb2.GetFileRequest(name=second.name))
    await files.stub.DeleteFile(file_pb2.DeleteFileRequest(name=second.name, etag=current.etag))
    assert files.stored_blobs() == [] and await files.names() == []
    gone = await rpc_error(files.stub.GetFile(file_pb2.GetFileRequest(name=first.name)))
    assert (gone.code, gone.reason) == (grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND")
    await files.stub.DeleteFile(file_pb2.DeleteFileRequest(name=first.name, allow_missing=True))
    found = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="shared"))
    assert list(found.results) == []


async def test_a_file_another_service_needs_cannot_be_deleted(files: Files) -> None:
    needed = await files.upload(b'{"custom_id": "a"}\n', "tasks.jsonl", purpose=BATCH_INPUT)

    async def batch_reads(db: Any, file_id: str) -> str | None:
        return "batches/nightly has not ended" if f"files/{file_id}" == needed.name else None

    files.server.files.refuse_deletion_while(batch_reads)
    refused = await rpc_error(files.stub.DeleteFile(file_pb2.DeleteFileRequest(name=needed.name)))
    assert (refused.code, refused.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "FILE_IN_USE")
    assert "batches/nightly" in refused.message
    assert await files.names() == [needed.name] and len(files.stored_blobs()) == 1


async def test_files_are_private_to_their_owner(files: Files) -> None:
    mine = await files.upload(b"private words")
    stranger = Principal(id="someone-else")
    with pytest.raises(Exception) as caught:
        await files.server.files.read_content(stranger, mine.name)
    assert getattr(caught.value, "reason", "") == "FILE_NOT_FOUND"


async def test_read_content_gives_a_files_bytes_to_other_services(files: Files) -> None:
    lines = b'{"custom_id": "a"}\n{"custom_id": "b"}\n'
    uploaded = await files.upload(lines, "tasks.jsonl", purpose=BATCH_INPUT)
    local = Principal(id="local")
    assert await files.server.files.read_content(local, uploaded.name) == lines
    with pytest.raises(Exception) as caught:
        await files.server.files.read_content(local, uploaded.name, max_bytes=10)
    assert getattr(caught.value, "reason", "") == "FILE_TOO_LARGE"


# -- search, text, analysis, and the file_search tool ----------------------------------------------


async def test_search_is_scoped_filtered_and_paged(files: Files) -> None:
    session = await files.runs.session()
    agent = (await files.runs.client.agent()).name
    in_session = await files.upload(b"the heron flies over the lake", "s.txt", session=session)
    on_agent = await files.upload(b"a heron stands in the reeds", "a.txt", agent=agent)
    loose = await files.upload(b"heron heron heron everywhere", "l.md")
    assert (in_session.session, on_agent.agent) == (session, agent)
    for uploaded in (in_session, on_agent, loose):
        assert (await files.settled(uploaded.name))[-1].state == COMPLETED

    everything = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="heron"))
    assert {r.file for r in everything.results} == {in_session.name, on_agent.name, loose.name}
    assert everything.results[0].file == loose.name  # most occurrences ranks first
    scoped = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="heron", session=session))
    assert [r.file for r in scoped.results] == [in_session.name]
    by_agent = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="heron", agent=agent))
    assert [r.file for r in by_agent.results] == [on_agent.name]
    filtered = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="heron", filter='content_type = "text/markdown"'))
    assert [r.file for r in filtered.results] == [loose.name]
    both_words = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="heron LAKE"))
    assert [r.file for r in both_words.results] == [in_session.name]

    first = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="heron", page_size=2))
    rest = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="heron", page_size=2, page_token=first.next_page_token))
    assert len(first.results) == 2 and len(rest.results) == 1 and not rest.next_page_token
    assert {r.file for r in [*first.results, *rest.results]} == {in_session.name, on_agent.name, loose.name}
    empty = await rpc_error(files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="  ")))
    assert "query" in empty.field_violations


async def test_long_text_is_chunked_and_read_in_slices(tmp_path: Path) -> None:
    async with serving(tmp_path, file_chunk_chars=100) as files:
        words = [f"word{i:04d}" for i in range(500)]
        text = " ".join(words)
        uploaded = await files.upload(text.encode())
        final = (await files.settled(uploaded.name))[-1]
        assert final.text_chars == len(text) and final.chunk_count > 40
        pieces, offset = [], 0
        while offset < final.text_chars:
            part = await files.stub.GetFileText(file_pb2.GetFileTextRequest(name=uploaded.name, offset=offset, max_chars=333))
            pieces.append(part.text)
            offset = part.next_offset
        assert "".join(pieces) == text
        hit = (await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="word0420"))).results[0]
        assert text[hit.text_offset : hit.text_offset + hit.text_chars].count("word0420") == 1
        beyond = await rpc_error(files.stub.GetFileText(file_pb2.GetFileTextRequest(name=uploaded.name, offset=len(text) + 1)))
        assert beyond.code == grpc.StatusCode.OUT_OF_RANGE


async def test_analyze_extracts_again_or_summarizes_with_the_agents_provider(files: Files) -> None:
    uploaded = await files.upload(file_samples.pdf("Minutes of the gecko committee"), "minutes.pdf")
    await files.settled(uploaded.name)
    Mode = file_pb2.AnalyzeFileRequest
    extracted = await files.stub.AnalyzeFile(Mode(name=uploaded.name, mode=Mode.MODE_EXTRACT_TEXT, max_chars=10))
    assert (extracted.text, extracted.truncated) == ("Minutes of", True)
    assert extracted.file.state == COMPLETED
    agent = (await files.runs.client.agent()).name
    summary = await files.stub.AnalyzeFile(Mode(name=uploaded.name, mode=Mode.MODE_SUMMARIZE, agent=agent))
    # The builtin provider is deterministic: it answers with what it was sent.
    assert "gecko committee" in summary.text and summary.usage.output_tokens > 0
    no_agent = await rpc_error(files.stub.AnalyzeFile(Mode(name=uploaded.name, mode=Mode.MODE_SUMMARIZE)))
    assert "agent" in no_agent.field_violations
    no_mode = await rpc_error(files.stub.AnalyzeFile(Mode(name=uploaded.name)))
    assert "mode" in no_mode.field_violations


async def test_a_run_finds_text_of_an_attached_pdf_with_file_search(files: Files) -> None:
    runs = files.runs
    agent = await runs.agent(tools=["file_search"])
    session = await runs.session(agent)
    other_session = await runs.session(agent)
    pdf = file_samples.pdf("Safety manual", "The emergency exit code is lynx-7742")
    attached = await files.upload(pdf, "manual.pdf", session=session)
    elsewhere = await files.upload(b"lynx in another conversation", "other.txt", session=other_session)
    await files.settled(attached.name)
    await files.settled(elsewhere.name)

    events = await runs.execute_all(session, '[[tool:file_search {"query": "lynx exit"}]]')

    completed = next(e for e in events if kind(e) == "tool_call_completed").tool_call_completed
    assert completed.state == TOOL_STATE.STATE_SUCCEEDED
    results = as_dict(completed.result.output)["results"]
    assert [r["file"] for r in results] == [attached.name]
    assert results[0]["page"] == 2 and "lynx-7742" in results[0]["snippet"]
    run = await runs.get(events[0].run)
    assert "lynx-7742" in run.output.text



async def test_search_without_the_full_text_index_matches_every_word(files: Files) -> None:
    # How databases other than SQLite search (PostgreSQL): LIKE on every word, ranked by occurrences.
    files.server.files.full_text_index = False
    one = await files.upload(b"Owls hunt at night; the owl is quiet.", "a.txt")
    two = await files.upload(b"owl", "b.txt")
    for uploaded in (one, two):
        assert (await files.settled(uploaded.name))[-1].state == COMPLETED
    found = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="OWL"))
    assert [r.file for r in found.results] == [one.name, two.name]
    both = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="owl night"))
    assert [r.file for r in both.results] == [one.name]
    await files.stub.DeleteFile(file_pb2.DeleteFileRequest(name=one.name))
    after = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="owl"))
    assert [r.file for r in after.results] == [two.name]


async def test_extraction_left_unfinished_is_taken_up_at_the_next_start(tmp_path: Path) -> None:
    async with serving(tmp_path) as files:
        files.server.files._stopping = True  # as if the process died before extracting anything
        uploaded = await files.upload(file_samples.pdf("Resumed after a restart"), "late.pdf")
        assert (await files.stub.GetFile(file_pb2.GetFileRequest(name=uploaded.name))).state == File.STATE_PENDING
    async with serving(tmp_path) as files:
        final = (await files.settled(uploaded.name))[-1]
        assert final.state == COMPLETED
        text = await files.stub.GetFileText(file_pb2.GetFileTextRequest(name=uploaded.name))
        assert "Resumed after a restart" in text.text
