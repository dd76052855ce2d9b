"""Regenerate generated/python from protos/ with the pinned grpcio-tools.

Usage: python scripts/generate.py [--out DIR]

Writes `_pb2.py`, `.pyi` and `_pb2_grpc.py` for every proto under
protos/runwire. The drift test runs this into a temporary directory and
compares the result with the committed tree.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
THIRD_PARTY = PROTOS / "third_party"
DEFAULT_OUT = ROOT / "generated" / "python"


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "runwire").rglob("*.proto"))


def generate(out: Path) -> None:
    package_root = out / "runwire"
    if package_root.exists():
        shutil.rmtree(package_root)
    out.mkdir(parents=True, exist_ok=True)
    well_known = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{THIRD_PARTY}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *proto_files(),
    ]
    # protoc resolves the relative file names against the include paths.
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    # runwire and runwire/v1 stay implicit namespace packages (no __init__.py)
    # so the server and client packages can share the `runwire` name.


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    generate(args.out)
    print(f"generated {len(proto_files())} protos into {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
