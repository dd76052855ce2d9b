"""Extraction worker: `python -m runwire.server.files.worker`, one process per file.

Reads a JSON job on stdin, writes progress lines (`{"progress": 0.5}`) on
stdout, the pages to the job's output file, and a last line: `{"done": true}`
or `{"error": {"reason": ..., "message": ...}}`. Running in its own process
under an address-space limit means a hostile file (a zip bomb, a huge image,
a PDF that sends the parser into a loop) can at worst end this process,
never the server.
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import asdict
from pathlib import Path

from runwire.server.files.extract import ExtractionError, ExtractLimits, extract


def _say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
    job = json.loads(sys.stdin.read())
    memory = int(job["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    limits = ExtractLimits(**job["limits"])
    last = [0.0]

    def progress(fraction: float) -> None:
        if fraction - last[0] >= 0.05 or fraction >= 1.0:
            last[0] = fraction
            _say({"progress": round(min(fraction, 1.0), 4)})

    try:
        pages = extract(Path(job["path"]), job["content_type"], limits, progress)
    except ExtractionError as error:
        _say({"error": {"reason": error.reason, "message": error.message, "detail": error.detail}})
        return 0
    except MemoryError:
        _say({"error": {"reason": "PROCESSING_LIMIT_EXCEEDED", "message": f"extraction needed more than {memory} bytes of memory"}})
        return 0
    except RecursionError:
        _say({"error": {"reason": "EXTRACTION_FAILED", "message": "the file nests too deeply to be read"}})
        return 0
    except Exception as exc:  # an unexpected parser failure is the file's problem, reported on the file
        detail = f"{type(exc).__name__}: {exc}"[:500]
        _say({"error": {"reason": "EXTRACTION_FAILED", "message": "the file is damaged and cannot be read", "detail": detail}})
        return 0
    Path(job["output"]).write_text(json.dumps([asdict(page) for page in pages]), encoding="utf-8")
    _say({"done": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
