"""End to end: files uploaded to a real `runwire serve` process with grpcurl, extracted in its worker processes, and
searched; then the CLI uploads and downloads against the same process."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from runwire.v1 import file_pb2, file_pb2_grpc
from tests.e2e.test_serve_grpcurl import ADMIN_KEY, ServeProcess, _grpcurl
from tests.grpc import file_samples

pytestmark = pytest.mark.e2e
METADATA = (("x-api-key", ADMIN_KEY),)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path / "data")
    try:
        yield process
    finally:
        process.stop()


def _call(address: str, method: str, data: str) -> subprocess.CompletedProcess[str]:
    command = [_grpcurl(), "-plaintext", "-H", f"x-api-key: {ADMIN_KEY}", "-d", data, address, f"runwire.v1.FileService/{method}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_a_pdf_uploaded_with_grpcurl_is_extracted_and_found(serve: ServeProcess) -> None:
    pdf = file_samples.pdf("Annual report", "The heliotrope project ends in May")
    metadata = {
        "filename": "report.pdf",
        "purpose": "PURPOSE_ASSISTANTS",
        "size_bytes": len(pdf),
        "sha256": hashlib.sha256(pdf).hexdigest(),
    }
    half = len(pdf) // 2
    # Client streaming: one JSON message after another.
    stream = " ".join(
        json.dumps(m)
        for m in (
            {"metadata": metadata},
            {"chunk": base64.b64encode(pdf[:half]).decode()},
            {"chunk": base64.b64encode(pdf[half:]).decode()},
        )
    )
    uploaded = _call(serve.address, "UploadFile", stream)
    assert uploaded.returncode == 0, uploaded.stderr
    name = json.loads(uploaded.stdout)["name"]

    watched = _call(serve.address, "WatchFile", json.dumps({"name": name}))
    assert watched.returncode == 0, watched.stderr
    assert '"state": "STATE_COMPLETED"' in watched.stdout, (watched.stdout, serve.log.read_text()[-4000:])
    found = _call(serve.address, "SearchFiles", json.dumps({"query": "heliotrope"}))
    result = json.loads(found.stdout)["results"][0]
    assert (result["file"], result["page_number"]) == (name, 2)

    lying = json.dumps({"metadata": {**metadata, "sha256": "0" * 64}}) + " " + json.dumps({"chunk": base64.b64encode(pdf).decode()})
    wrong = _call(serve.address, "UploadFile", lying)
    assert wrong.returncode != 0 and "CHECKSUM_MISMATCH" in wrong.stderr and "Traceback" not in wrong.stderr


def test_cli_upload_and_download_against_a_served_process(serve: ServeProcess, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"kingfisher sightings\n" * 1000)
    base = [sys.executable, "-m", "runwire.cli.main", "files"]
    options = ["--server", serve.address, "--api-key", ADMIN_KEY]
    uploaded = subprocess.run([*base, "upload", str(source), "--wait", "--json", *options], capture_output=True, text=True, timeout=60)
    assert uploaded.returncode == 0, uploaded.stderr
    name = json.loads(uploaded.stdout)["name"]
    assert "100.0%" in uploaded.stderr
    target = tmp_path / "copy.txt"
    downloaded = subprocess.run([*base, "download", name, "-o", str(target), *options], capture_output=True, text=True, timeout=60)
    assert downloaded.returncode == 0, downloaded.stderr
    assert target.read_bytes() == source.read_bytes()


def test_an_upload_cut_short_by_a_killed_server_leaves_nothing_after_the_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    temp_dir = data_dir / "files" / "tmp"
    first = ServeProcess(data_dir, log_name="first.log")
    sent_enough = threading.Event()
    server_gone = threading.Event()

    def slow_upload() -> Iterator[file_pb2.UploadFileRequest]:
        yield file_pb2.UploadFileRequest(
            metadata=file_pb2.UploadFileMetadata(filename="big.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS, size_bytes=64 << 20)
        )
        for _ in range(3):  # past the store's write buffer: the bytes reach the temporary file
            yield file_pb2.UploadFileRequest(chunk=b"z" * (1024 * 1024))
        sent_enough.set()
        server_gone.wait(60)  # the rest never comes: the server dies first

    try:
        with grpc.insecure_channel(first.address) as channel:
            call = file_pb2_grpc.FileServiceStub(channel).UploadFile.future(slow_upload(), metadata=METADATA, timeout=60)
            assert sent_enough.wait(30)
            deadline = time.monotonic() + 30
            while not list(temp_dir.glob("*.part")):
                assert time.monotonic() < deadline, "the upload never reached a temporary file"
                time.sleep(0.01)
            first.process.send_signal(signal.SIGKILL)
            assert first.stop() == -signal.SIGKILL
            server_gone.set()
            with pytest.raises(grpc.RpcError):
                call.result()
    finally:
        server_gone.set()
        if first.process.poll() is None:
            first.process.kill()
            first.stop()
    assert list(temp_dir.glob("*.part"))  # what the killed process was writing

    second = ServeProcess(data_dir, log_name="second.log")
    try:
        assert [p.name for p in temp_dir.iterdir() if not p.name.endswith(".lock")] == []
        with grpc.insecure_channel(second.address) as channel:
            listed = file_pb2_grpc.FileServiceStub(channel).ListFiles(file_pb2.ListFilesRequest(), metadata=METADATA, timeout=10)
        assert list(listed.files) == []
        assert [p for p in (data_dir / "files" / "blobs").rglob("*") if p.is_file()] == []
    finally:
        assert second.stop() == 0
    # A stopped server leaves no temporary file, not even its lock.
    assert list(temp_dir.iterdir()) == []
