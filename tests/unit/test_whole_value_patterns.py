"""Pattern checks match whole values: Python's `$` also matches before a trailing newline, so no pattern of
the server or the Python client ends in `$`; they are applied with `fullmatch` instead."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "server" / "runwire").rglob("*.py")), *sorted((ROOT / "clients" / "python" / "runwire").rglob("*.py"))]
# A string literal passed to re.compile/re.match/re.search that ends with an unescaped `$`.
DOLLAR_ANCHORED = re.compile(r"""re\.(?:compile|match|search)\(\s*r?(["'])(?:(?!\1).)*(?<!\\)\$\1""")


def test_no_pattern_is_anchored_with_a_dollar() -> None:
    assert SOURCES
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in SOURCES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if DOLLAR_ANCHORED.search(line)
    ]
    assert found == []
