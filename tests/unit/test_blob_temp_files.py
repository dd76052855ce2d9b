"""The blob store's temporary files: a start removes those of processes that are gone, never those of a live one."""

from __future__ import annotations

from pathlib import Path

from runwire.server.files.blobs import LocalBlobStore


async def test_a_start_removes_the_temporary_files_of_gone_processes_only(tmp_path: Path) -> None:
    root = tmp_path / "files"
    live = LocalBlobStore(root)
    await live.start()
    upload = live.new_temp()
    await upload.write(b"x" * (2 * 1024 * 1024))  # past the write buffer: on disk
    extraction_output = live.scratch_path(".json")
    extraction_output.write_text("[]")
    # An earlier version's upload, and a killed process's upload and extraction output (its lock died with it).
    legacy = root / "tmp" / "0123456789abcdef.part"
    legacy.write_bytes(b"old")
    killed = [root / "tmp" / "deadbeefdeadbeef-1.part", root / "tmp" / "deadbeefdeadbeef-2.json", root / "tmp" / "deadbeefdeadbeef.lock"]
    for path in killed:
        path.write_bytes(b"")

    second = LocalBlobStore(root)
    await second.start()
    left = sorted(p.name for p in (root / "tmp").iterdir())
    assert left == sorted([upload.path.name, extraction_output.name, f"{live.owner}.lock", f"{second.owner}.lock"])

    upload.discard()
    live.close()
    extraction_output.write_text("[]")  # written after close: nobody owns it any more
    second.close()
    third = LocalBlobStore(root)
    await third.start()
    assert sorted(p.name for p in (root / "tmp").iterdir()) == [f"{third.owner}.lock"]
    third.close()
    assert list((root / "tmp").iterdir()) == []
