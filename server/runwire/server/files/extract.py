"""Text extraction, one function per format. Synchronous and self-contained: it runs in a worker process
(see worker.py), never on the server's event loop, under the limits it is given."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import warnings
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable
from xml.etree import ElementTree

from runwire.server.files import sniff

Progress = Callable[[float], None]


@dataclass(frozen=True)
class ExtractLimits:
    max_image_pixels: int
    max_pdf_pages: int
    max_unzipped_bytes: int
    max_unzip_ratio: int
    max_text_chars: int
    ocr_timeout_seconds: float


@dataclass(frozen=True)
class Page:
    """Text of one page (number from 1), or of the whole file (number 0) for formats without pages."""

    number: int
    text: str


class ExtractionError(Exception):
    """The file cannot be read; `reason` is an ErrorReason name stored on the file.

    `message` is shown to the file's owner: the project's own words, never a library's text, a path or a class
    name. `detail` (what the parser said) goes to the server's log only."""

    def __init__(self, reason: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail


def extract(path: Path, content_type: str, limits: ExtractLimits, progress: Progress) -> list[Page]:
    reader = _READERS.get(content_type)
    if reader is None and content_type in sniff.IMAGE_TYPES:
        reader = _image
    if reader is None:
        raise ExtractionError("UNSUPPORTED_CONTENT_TYPE", f"no text extraction for {content_type}")
    pages = reader(path, limits, progress)
    return _capped(pages, limits.max_text_chars)


def _capped(pages: list[Page], max_chars: int) -> list[Page]:
    kept: list[Page] = []
    total = 0
    for page in pages:
        if total + len(page.text) > max_chars:
            kept.append(Page(page.number, page.text[: max_chars - total]))
            break
        kept.append(page)
        total += len(page.text)
    return kept


# -- text formats --------------------------------------------------------------


def _read_text(path: Path, limits: ExtractLimits) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExtractionError("EXTRACTION_FAILED", f"the content is not UTF-8 text (byte {exc.start})") from None


def _plain(path: Path, limits: ExtractLimits, progress: Progress) -> list[Page]:
    return [Page(0, _read_text(path, limits))]


def _json(path: Path, limits: ExtractLimits, progress: Progress) -> list[Page]:
    text = _read_text(path, limits)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExtractionError(
            "EXTRACTION_FAILED", f"not valid JSON (line {exc.lineno}, column {exc.colno})", _detail(exc)
        ) from None
    return [Page(0, text)]


def _csv(path: Path, limits: ExtractLimits, progress: Progress) -> list[Page]:
    text = _read_text(path, limits)
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        lines = [" | ".join(cell.strip() for cell in row) for row in rows]
    except csv.Error as exc:
        raise ExtractionError("EXTRACTION_FAILED", f"not valid CSV (line {rows.line_num})", _detail(exc)) from None
    return [Page(0, "\n".join(lines))]


class _HtmlText(HTMLParser):
    _SKIPPED = {"script", "style", "template", "noscript"}
    _BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html(path: Path, limits: ExtractLimits, progress: Progress) -> list[Page]:
    parser = _HtmlText()
    parser.feed(_read_text(path, limits))
    parser.close()
    text = re.sub(r"[ \t\r\f\v]+", " ", "".join(parser.parts))
    return [Page(0, re.sub(r"\n\s*\n+", "\n\n", text).strip())]


# -- PDF -------------------------------------------------------------------------


def _pdf(path: Path, limits: ExtractLimits, progress: Progress) -> list[Page]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            raise ExtractionError("EXTRACTION_FAILED", "the PDF is encrypted")
        count = len(reader.pages)
        if count > limits.max_pdf_pages:
            raise ExtractionError("FILE_TOO_COMPLEX", f"the PDF has {count} pages; the limit is {limits.max_pdf_pages}")
        pages = []
        total = 0
        for index, page in enumerate(reader.pages):
            text = page.extract_text() or ""
            pages.append(Page(index + 1, text))
            total += len(text)
            progress((index + 1) / max(count, 1))
            if total >= limits.max_text_chars:
                break
        return pages
    except ExtractionError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError, RecursionError, ZeroDivisionError) as exc:
        raise ExtractionError("EXTRACTION_FAILED", "the PDF is damaged or truncated and cannot be read", _detail(exc)) from None


# -- DOCX ------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx(path: Path, limits: ExtractLimits, progress: Progress) -> list[Page]:
    try:
        with zipfile.ZipFile(path) as archive:
            _check_archive(archive, limits)
            try:
                info = archive.getinfo("word/document.xml")
            except KeyError:
                raise ExtractionError("EXTRACTION_FAILED", "the archive has no word/document.xml; it is not a DOCX") from None
            xml = _read_member(archive, info, limits)
    except zipfile.BadZipFile as exc:
        raise ExtractionError("EXTRACTION_FAILED", "the DOCX is not a valid zip archive", _detail(exc)) from None
    progress(0.5)
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise ExtractionError("EXTRACTION_FAILED", "the DOCX declares a DTD, which documents never need")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        line, column = exc.position
        raise ExtractionError(
            "EXTRACTION_FAILED", f"word/document.xml is not well-formed XML (line {line}, column {column})", _detail(exc)
        ) from None
    paragraphs = []
    for paragraph in root.iter(f"{_W}p"):
        parts = []
        for node in paragraph.iter():
            if node.tag == f"{_W}t" and node.text:
                parts.append(node.text)
            elif node.tag == f"{_W}tab":
                parts.append("\t")
            elif node.tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
        paragraphs.append("".join(parts))
    return [Page(0, "\n".join(paragraphs))]


def _check_archive(archive: zipfile.ZipFile, limits: ExtractLimits) -> None:
    """Refuse zip bombs from the directory alone, before inflating anything."""
    members = archive.infolist()
    if len(members) > 10_000:
        raise ExtractionError("DECOMPRESSION_LIMIT_EXCEEDED", f"the archive has {len(members)} entries; the limit is 10000")
    declared = sum(m.file_size for m in members)
    if declared > limits.max_unzipped_bytes:
        raise ExtractionError(
            "DECOMPRESSION_LIMIT_EXCEEDED",
            f"the archive expands to {declared} bytes; the limit is {limits.max_unzipped_bytes}",
        )
    for member in members:
        if member.file_size > 1024 * 1024 and member.file_size > limits.max_unzip_ratio * max(member.compress_size, 1):
            raise ExtractionError(
                "DECOMPRESSION_LIMIT_EXCEEDED",
                f"{member.filename} expands {member.file_size // max(member.compress_size, 1)}-fold; "
                f"the limit is {limits.max_unzip_ratio}",
            )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ExtractLimits) -> bytes:
    """Inflate at most the limit, whatever the directory claims (it can lie)."""
    cap = min(limits.max_unzipped_bytes, limits.max_unzip_ratio * max(info.compress_size, 1) + 1024 * 1024)
    data = bytearray()
    with archive.open(info) as member:
        while True:
            block = member.read(1024 * 1024)
            if not block:
                return bytes(data)
            data += block
            if len(data) > cap:
                raise ExtractionError("DECOMPRESSION_LIMIT_EXCEEDED", f"{info.filename} expands beyond {cap} bytes")


# -- images (OCR) ----------------------------------------------------------------


def _image(path: Path, limits: ExtractLimits, progress: Progress) -> list[Page]:
    from PIL import Image

    # The size is checked here, from the header, with the project's own message; Pillow's own check would
    # raise (or warn) with its words instead.
    Image.MAX_IMAGE_PIXELS = None
    kind = _image_kind(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning about the content is a content the server refuses
            with Image.open(path) as image:  # reads the header only
                width, height = image.size
                if width * height > limits.max_image_pixels:
                    raise ExtractionError(
                        "FILE_TOO_COMPLEX",
                        f"the image is {width}x{height} = {width * height} pixels; the limit is {limits.max_image_pixels}",
                    )
                image.verify()
    except ExtractionError:
        raise
    except Exception as exc:  # Pillow reports damage with many exception types (OSError, SyntaxError, struct.error...)
        raise ExtractionError("EXTRACTION_FAILED", f"{kind} is damaged or truncated and cannot be read", _detail(exc)) from None
    progress(0.2)
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        raise ExtractionError("OCR_UNAVAILABLE", "the server has no OCR engine (install tesseract-ocr)")
    try:
        done = subprocess.run(
            [tesseract, str(path), "stdout"],
            capture_output=True,
            timeout=limits.ocr_timeout_seconds,
            env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired:
        raise ExtractionError("PROCESSING_LIMIT_EXCEEDED", f"OCR took longer than {limits.ocr_timeout_seconds:g} s") from None
    except OSError as exc:
        raise ExtractionError("OCR_UNAVAILABLE", "the server's OCR engine could not be started", _detail(exc)) from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip()
        raise ExtractionError(
            "EXTRACTION_FAILED", f"OCR could not read {kind}", f"tesseract exit status {done.returncode}: {said[-500:]}"
        )
    return [Page(0, done.stdout.decode("utf-8", "replace").strip())]


def _image_kind(path: Path) -> str:
    """`the PNG image`, `the JPEG image`... from the first bytes, for messages."""
    with open(path, "rb") as handle:
        detected = sniff.detect(handle.read(16))
    return f"the {detected.removeprefix('image/').upper()} image" if detected.startswith("image/") else "the image"


def _detail(exc: BaseException) -> str:
    """What a library said, for the server's log only."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


_READERS: dict[str, Callable[[Path, ExtractLimits, Progress], list[Page]]] = {
    "text/plain": _plain,
    "text/markdown": _plain,
    "application/jsonl": _plain,
    "application/json": _json,
    "text/csv": _csv,
    "text/html": _html,
    sniff.PDF: _pdf,
    sniff.DOCX: _docx,
}
