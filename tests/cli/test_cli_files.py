"""`runwire files`, run in-process against a real server."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from runwire.cli.main import main
from tests.conftest import Client


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(client: Client, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `runwire ARGS --server <test server>` in a thread (the server's loop keeps serving) and capture its output."""
    monkeypatch.delenv("RUNWIRE_SERVER", raising=False)
    server = f"127.0.0.1:{client.server.port}"

    async def run(*argv: str) -> Result:
        capsysbinary.readouterr()
        code = await asyncio.to_thread(main, [*argv, "--server", server])
        captured = capsysbinary.readouterr()
        return Result(code, captured.out.decode(), captured.err.decode())

    return run


async def test_upload_with_progress_then_list_get_search_download_and_delete(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "field-notes.md"
    body = "# Field notes\n\n" + "The kestrel hovers above the meadow.\n" * 60_000  # ~2 MiB: several chunks
    source.write_text(body)

    uploaded = await cli("files", "upload", str(source), "--wait", "--label", "trip=north", "--json")
    assert uploaded.code == 0, uploaded.err
    file = json.loads(uploaded.out)
    assert (file["filename"], file["content_type"], file["state"]) == ("field-notes.md", "text/markdown", "STATE_COMPLETED")
    assert "uploading field-notes.md" in uploaded.err and "100.0%" in uploaded.err
    # Processing counts percent, not bytes, and a completed file ends at 100%.
    processing = uploaded.err.split("processing field-notes.md")[-1].splitlines()[0]
    assert processing.rstrip().endswith("100.0%") and " B" not in processing
    name = file["name"]

    listed = await cli("files", "list")
    assert name in listed.out and "COMPLETED" in listed.out
    shown = await cli("files", "get", name.split("/")[1])
    assert "north" in shown.out and "field-notes.md" in shown.out
    found = await cli("files", "search", "kestrel meadow")
    assert name in found.out

    target = tmp_path / "copy.md"
    downloaded = await cli("files", "download", name, "-o", str(target))
    assert downloaded.code == 0, downloaded.err
    assert target.read_text() == body
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    streamed = await cli("files", "download", name, "-o", "-")
    assert streamed.out == body

    deleted = await cli("files", "delete", name)
    assert (deleted.code, deleted.out.strip()) == (0, f"deleted {name}")
    missing = await cli("files", "get", name)
    assert missing.code == 1 and "FILE_NOT_FOUND" in missing.err


async def test_upload_failures_are_reported(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nowhere = await cli("files", "upload", str(tmp_path / "absent.txt"))
    assert nowhere.code == 1 and "not a readable file" in nowhere.err
    lying = tmp_path / "photo.pdf"
    lying.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    refused = await cli("files", "upload", str(lying), "--content-type", "application/pdf", "--no-progress")
    assert refused.code == 1 and "CONTENT_TYPE_MISMATCH" in refused.err
