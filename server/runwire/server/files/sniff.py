"""Content types: which are accepted, what a file's first bytes say it is, and whether that agrees with its claim."""

from __future__ import annotations

import codecs
import mimetypes
from dataclasses import dataclass

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
JSONL = "application/jsonl"

# What each accepted type must look like: "text" (UTF-8 without NUL bytes) or a binary signature.
TEXT_TYPES = ("text/plain", "text/markdown", "text/csv", "application/json", "text/html", JSONL)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/tiff", "image/webp")
EXTRACTABLE = (*TEXT_TYPES, PDF, DOCX, *IMAGE_TYPES)

_ALIASES = {
    "text/x-markdown": "text/markdown",
    "application/x-ndjson": JSONL,
    "application/x-jsonlines": JSONL,
    "application/jsonlines": JSONL,
    "image/jpg": "image/jpeg",
}
_EXTENSIONS = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".jsonl": JSONL,
    ".ndjson": JSONL,
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": PDF,
    ".docx": DOCX,
}
_SIGNATURES = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"PK\x03\x04", "application/zip"),
)
# Bytes of the head kept for sniffing.
HEAD_BYTES = 8192


def normalize(content_type: str) -> str:
    """`Text/Plain; charset=utf-8` -> `text/plain`; known aliases to their standard name."""
    base = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def detect(head: bytes) -> str:
    """What the first bytes look like: a binary type, `text`, or `application/octet-stream`."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if _looks_like_text(head):
        return "text"
    return "application/octet-stream"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        # The head may end inside a multi-byte character: decode it as a prefix.
        codecs.getincrementaldecoder("utf-8")().decode(head.removeprefix(codecs.BOM_UTF8), final=False)
    except UnicodeDecodeError:
        return False
    return True


def guess(filename: str, detected: str) -> str:
    """The content type of a file uploaded without one."""
    if detected not in ("text", "application/zip", "application/octet-stream"):
        return detected
    extension = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    by_name = _EXTENSIONS.get(extension) or normalize(mimetypes.guess_type(filename)[0] or "")
    if detected == "text":
        return by_name if by_name and matches(by_name, detected) else "text/plain"
    return by_name if by_name and matches(by_name, detected) else detected


@dataclass(frozen=True)
class Mismatch:
    declared: str
    detected: str


def matches(content_type: str, detected: str) -> bool:
    """Whether content that looks like `detected` can be what `content_type` claims."""
    if content_type in TEXT_TYPES or content_type.startswith("text/"):
        return detected == "text"
    if content_type == DOCX:
        return detected == "application/zip"
    if content_type == PDF or content_type in IMAGE_TYPES:
        return detected == content_type
    # Types the server does not read: only a known signature of another type contradicts them.
    return detected in ("text", "application/octet-stream") or detected == content_type


def describe(detected: str) -> str:
    return {"text": "UTF-8 text", "application/octet-stream": "unrecognized binary data"}.get(detected, detected)
