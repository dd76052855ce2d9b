"""The shell blocks of the Markdown docs, as the tests that run them see them.

Every ```sh block of README.md, docs/*.md and clients/*/README.md runs in
tests/e2e/test_newcomer.py, in the order written, unless an HTML comment on
the line before it says otherwise:

    <!-- not run: REASON -->          the block cannot run in a test (a long-running server, a download);
                                     REASON says why, and where it is tested instead if it is
    <!-- background: HOST:PORT -->     the block starts a server: it runs in the background, the next
                                     block waits until HOST:PORT accepts connections, and it is stopped
                                     at the end
    <!-- tested: NAME -->              the block runs, and other tests find it by NAME too

A `(tested: NAME)` inside a `not run` comment names the block for the test that runs it elsewhere.
```console blocks are transcripts: the lines after `$ ` run, and each other line without `…` must
appear in their output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(
    r"(?:^[ \t]*<!--(?P<marker>[^>]*)-->[ \t]*\n)?^(?P<indent>[ \t]*)```(?P<language>sh|console)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.S | re.M,
)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    body: str
    marker: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def not_run(self) -> str | None:
        """Why the block does not run here, or None when it runs."""
        return self.marker.removeprefix("not run:").strip() if self.marker.startswith("not run:") else None

    @property
    def background(self) -> str | None:
        return self.marker.removeprefix("background:").strip() if self.marker.startswith("background:") else None

    @property
    def name(self) -> str | None:
        found = re.search(r"tested: ([\w-]+)", self.marker)
        return found.group(1) if found else None


def documents() -> list[Path]:
    """The documents whose blocks run, in the order a newcomer reads them."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "clients").glob("*/README.md"))]


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    return [
        Block(
            path=path,
            line=text.count("\n", 0, match.start("body")),
            language=match.group("language"),
            body=_dedent(match.group("body"), match.group("indent")),
            marker=(match.group("marker") or "").strip(),
        )
        for match in _BLOCK.finditer(text)
    ]


def _dedent(body: str, indent: str) -> str:
    return "".join(line.removeprefix(indent) for line in body.splitlines(keepends=True))


def named(name: str, path: Path = ROOT / "README.md") -> Block:
    """The block marked `tested: NAME` in `path`."""
    found = [block for block in blocks(path) if block.name == name]
    assert len(found) == 1, f"{path.relative_to(ROOT)} lost its block marked `tested: {name}`"
    return found[0]


def commands(block: Block) -> list[str]:
    """The block's commands, continuation lines joined, comments and blank lines left out."""
    joined = block.body.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
