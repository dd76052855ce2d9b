"""Regenerate generated/python from protos/ with the pinned grpcio-tools.

Usage: python scripts/generate.py [--out DIR] [--typescript-out DIR]

Writes `_pb2.py`, `.pyi` and `_pb2_grpc.py` for every proto under
protos/runwire, and the TypeScript of the Node client. With no option it
writes both into the repository; `--out` writes only the Python stubs there,
`--typescript-out` only the TypeScript. The drift tests run this into a
temporary directory and compare the result with the committed tree.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
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


TYPESCRIPT_CLIENT = ROOT / "clients" / "typescript"
DEFAULT_TYPESCRIPT_OUT = TYPESCRIPT_CLIENT / "src" / "gen"


def typescript_proto_files() -> list[str]:
    """The contracts, and the googleapis protos they import (the error details among them)."""
    third_party = sorted(str(p.relative_to(THIRD_PARTY)) for p in THIRD_PARTY.rglob("*.proto"))
    return proto_files() + third_party


def generate_typescript(out: Path) -> None:
    """TypeScript messages and service descriptors (protoc-gen-es, pinned in clients/typescript/package-lock.json)."""
    plugin = TYPESCRIPT_CLIENT / "node_modules" / ".bin" / "protoc-gen-es"
    if not plugin.exists():
        # The plugin is an npm package: install the pinned versions first.
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TYPESCRIPT_CLIENT, check=True)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    well_known = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{THIRD_PARTY}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-es={plugin}",
        f"--es_out={out}",
        # ES modules for Node: relative imports need the .js extension.
        "--es_opt=target=ts,import_extension=js",
        *typescript_proto_files(),
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc (TypeScript) failed with exit code {code}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help=f"write only the Python stubs, into DIR (default {DEFAULT_OUT})")
    parser.add_argument("--typescript-out", type=Path, help=f"write only the TypeScript, into DIR (default {DEFAULT_TYPESCRIPT_OUT})")
    args = parser.parse_args(argv)
    everything = args.out is None and args.typescript_out is None
    if everything or args.out is not None:
        generate(args.out or DEFAULT_OUT)
        print(f"generated {len(proto_files())} protos into {args.out or DEFAULT_OUT}", file=sys.stderr)
    if everything or args.typescript_out is not None:
        generate_typescript(args.typescript_out or DEFAULT_TYPESCRIPT_OUT)
        print(f"generated TypeScript into {args.typescript_out or DEFAULT_TYPESCRIPT_OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
