"""Runs text extraction in a worker process, bounded in time and memory, and splits the text into search chunks."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Awaitable, Callable

from runwire.server.config import FileSettings
from runwire.server.files.extract import ExtractionError, ExtractLimits, Page


@dataclass(frozen=True)
class Chunk:
    index: int
    text_offset: int
    page_number: int
    text: str


async def extract_in_worker(
    path: Path,
    content_type: str,
    settings: FileSettings,
    on_progress: Callable[[float], Awaitable[None]],
    output: Path,
) -> list[Page]:
    """The file's pages of text; raises ExtractionError with the reason to record on the file.

    `output` is where the worker writes the pages: a temporary file of the blob store, so one left by a killed
    server is removed at the next start."""
    limits = ExtractLimits(
        max_image_pixels=settings.max_image_pixels,
        max_pdf_pages=settings.max_pdf_pages,
        max_unzipped_bytes=settings.max_unzipped_bytes,
        max_unzip_ratio=settings.max_unzip_ratio,
        max_text_chars=settings.max_extracted_text_chars,
        ocr_timeout_seconds=settings.file_processing_timeout_seconds,
    )
    job = {
        "path": str(path),
        "content_type": content_type,
        "limits": asdict(limits),
        "memory_bytes": settings.file_processing_memory_bytes,
        "output": str(output),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runwire.server.files.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(job).encode())
        process.stdin.close()
        async with asyncio.timeout(settings.file_processing_timeout_seconds):
            outcome = await _follow(process.stdout, on_progress)
            await process.wait()
        if outcome is None:
            raise ExtractionError(
                "PROCESSING_LIMIT_EXCEEDED",
                f"the extraction process ended without a result (exit status {process.returncode}); "
                "the file probably needs more memory than the server allows",
            )
        if "error" in outcome:
            error = outcome["error"]
            raise ExtractionError(error["reason"], error["message"], error.get("detail", ""))
        raw = await asyncio.to_thread(output.read_text, encoding="utf-8")
        return [Page(int(p["number"]), str(p["text"])) for p in json.loads(raw)]
    except TimeoutError:
        raise ExtractionError(
            "PROCESSING_LIMIT_EXCEEDED", f"extraction took longer than {settings.file_processing_timeout_seconds:g} s"
        ) from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        output.unlink(missing_ok=True)


async def _follow(stdout: asyncio.StreamReader, on_progress: Callable[[float], Awaitable[None]]) -> dict | None:
    while True:
        line = await stdout.readline()
        if not line:
            return None
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "progress" in message:
            await on_progress(float(message["progress"]))
        elif "done" in message or "error" in message:
            return message


def split_into_chunks(pages: list[Page], chunk_chars: int) -> list[Chunk]:
    """Contiguous slices of the text (pages joined by blank lines), cut at whitespace near `chunk_chars`.

    Joined in order, the chunks are exactly the file's extracted text.
    """
    chunks: list[Chunk] = []
    offset = 0
    for page_index, page in enumerate(pages):
        text = page.text if page_index == len(pages) - 1 else page.text + "\n\n"
        start = 0
        while start < len(text):
            end = min(start + chunk_chars, len(text))
            if end < len(text):
                cut = max(text.rfind(" ", start + chunk_chars // 2, end), text.rfind("\n", start + chunk_chars // 2, end))
                if cut > start:
                    end = cut + 1
            chunks.append(Chunk(len(chunks), offset + start, page.number, text[start:end]))
            start = end
        offset += len(text)
    return chunks
