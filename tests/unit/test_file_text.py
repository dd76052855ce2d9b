"""Content sniffing and the splitting of extracted text into search chunks."""

from __future__ import annotations

import pytest

from runwire.server.files import sniff
from runwire.server.files.extract import Page
from runwire.server.files.processing import split_into_chunks


@pytest.mark.parametrize(
    ("head", "detected"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"PK\x03\x04", "application/zip"),
        ("naïve café".encode(), "text"),
        ("naïve".encode()[:3], "text"),  # cut inside a character: still text
        (b"\x00\x01binary", "application/octet-stream"),
        (b"\xff\xfe\xfa", "application/octet-stream"),
    ],
)
def test_detect(head: bytes, detected: str) -> None:
    assert sniff.detect(head) == detected


def test_declared_types_must_agree_with_the_bytes() -> None:
    assert sniff.matches("text/csv", "text")
    assert sniff.matches(sniff.DOCX, "application/zip")
    assert not sniff.matches("application/pdf", "image/png")
    assert not sniff.matches("text/plain", "application/octet-stream")
    assert sniff.normalize("Text/Markdown; charset=utf-8") == "text/markdown"
    assert sniff.guess("notes.md", "text") == "text/markdown"
    assert sniff.guess("photo.md", "image/png") == "image/png"
    assert sniff.guess("no-extension", "text") == "text/plain"


def test_chunks_cover_the_text_exactly_and_keep_their_pages() -> None:
    pages = [Page(1, "alpha " * 50), Page(2, "beta " * 70), Page(3, "")]
    chunks = split_into_chunks(pages, 64)
    text = "\n\n".join(p.text for p in pages)
    assert "".join(c.text for c in chunks) == text
    assert all(len(c.text) <= 64 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert text[chunk.text_offset : chunk.text_offset + len(chunk.text)] == chunk.text
    assert {c.page_number for c in chunks if "beta" in c.text} == {2}
    assert split_into_chunks([Page(0, "")], 64) == []
