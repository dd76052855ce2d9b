"""generated/ is exactly what protos/ produce: never edited by hand, never stale."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Every generated tree and the folder scripts/generate.py writes it to.
TREES = {"python": "--out", "go": "--go-out", "openapi": "--openapi-out"}


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of scripts/generate.py into a temporary folder (the Go plugins come from `make go-tools`)."""
    out = tmp_path_factory.mktemp("generated")
    options = [arg for tree, flag in TREES.items() for arg in (flag, str(out / tree))]
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate.py"), *options], check=True)
    return out


@pytest.mark.parametrize("tree", sorted(TREES))
def test_generated_code_matches_the_protos(fresh: Path, tree: str) -> None:
    new, committed = _files(fresh / tree), _files(ROOT / "generated" / tree)
    assert sorted(new) == sorted(committed), f"generated/{tree} has missing or extra files: run `make generate`"
    stale = [name for name in new if not filecmp.cmp(new[name], committed[name], shallow=False)]
    assert not stale, f"generated/{tree} is out of date ({', '.join(stale)}): run `make generate`"


def test_every_generated_python_module_has_typed_stubs() -> None:
    """mypy reads the messages, service stubs and servicers from the `.pyi` beside each module."""
    modules = sorted((ROOT / "generated" / "python").rglob("*_pb2*.py"))
    assert modules, "generated/python has no modules"
    untyped = [str(m.relative_to(ROOT)) for m in modules if not m.with_suffix(".pyi").is_file()]
    assert not untyped, f"generated modules without a .pyi: {', '.join(untyped)}"
