"""generated/ is exactly what protos/ produce: never edited by hand, never stale."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_generated_python_matches_the_protos(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate.py"), "--out", str(tmp_path)], check=True)
    fresh, committed = _files(tmp_path), _files(ROOT / "generated" / "python")
    assert sorted(fresh) == sorted(committed), "generated/python has missing or extra files: run `make generate`"
    stale = [name for name in fresh if not filecmp.cmp(fresh[name], committed[name], shallow=False)]
    assert not stale, f"generated/python is out of date ({', '.join(stale)}): run `make generate`"
