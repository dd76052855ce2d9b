"""The server's imports point down its layers only (the `[tool.importlinter]` contract of pyproject.toml),
the check `make lint` runs, here too so that a test run catches an import that runs back up."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server" / "runwire" / "server"
# Loaded by Alembic from its folder, never imported by the server.
NOT_IMPORTED = {"migrations"}


def test_imports_point_down_the_layers_only() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_part_of_the_server_has_a_layer() -> None:
    """A new top-level module or package is placed in a layer, or the contract would not check it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    placed = {name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer)}
    parts = {p.stem for p in SERVER.glob("*.py") if p.stem != "__init__"}
    parts |= {p.name for p in SERVER.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert parts - NOT_IMPORTED == placed
