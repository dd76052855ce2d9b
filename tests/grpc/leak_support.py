"""What must never reach a caller or a model: tracebacks, Python objects and class names, library messages,
source, install and data paths, secrets."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Iterable

import runwire.server

# A Python exception's class name ("ZeroDivisionError", "JSONDecodeError", "ConnectError"), a repr, a traceback.
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z0-9]*(?:Error|Exception|Warning)\b|<class |<module |object at 0x|Traceback|File \"")
# Source files and install locations.
SOURCE = re.compile(r"\.py\b|site-packages|/usr/lib/|/usr/local/")
# Python's and its libraries' own words.
LIBRARY_WORDS = re.compile(
    r"invalid literal for|could not convert string|Expecting (?:value|property name|',' delimiter)|math domain error"
    r"|Errno \d+|Name or service not known|All connection attempts failed|Failed to parse|Message type \""
)
# Where the server's files, its tests' and its temporary files live.
SERVER_PATHS = [str(Path(runwire.server.__file__).resolve().parents[3]), sys.prefix, sys.base_prefix, "/tmp/", "/work/"]


def internals_in(text: str, *, secrets: Iterable[str] = (), paths: Iterable[str] = ()) -> str | None:
    """The first thing in `text` that gives away the server's insides, or None."""
    for pattern in (CLASS_NAME, SOURCE, LIBRARY_WORDS):
        found = pattern.search(text)
        if found is not None:
            return found[0]
    for needle in (*SERVER_PATHS, *paths, *secrets):
        if needle and needle in text:
            return needle
    return None


def assert_no_internals(text: str, *, secrets: Iterable[str] = (), paths: Iterable[str] = ()) -> None:
    """`text` (a status message, a run's failure, a tool result...) is in the server's own words only."""
    leak = internals_in(text, secrets=secrets, paths=paths)
    assert leak is None, f"{leak!r} leaks into {text[:400]!r}"
