"""End to end: files uploaded to a real `runwire serve` process with grpcurl, extracted in its worker processes, and
searched; then the CLI uploads and downloads against the same process."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.test_serve_grpcurl import ADMIN_KEY, ServeProcess, _grpcurl
from tests.grpc import file_samples

pytestmark = pytest.mark.e2e


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
    assert '"state": "STATE_COMPLETED"' in watched.stdout
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
