"""Copy the googleapis protos Runwire imports from the installed googleapis-common-protos wheel."""

from __future__ import annotations

import shutil
from pathlib import Path

import google.api
import google.rpc

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "protos" / "third_party" / "google"
FILES = {
    "api": ["annotations", "http", "field_behavior", "resource", "client", "launch_stage", "field_info"],
    "rpc": ["status", "error_details", "code"],
}
SOURCES = {"api": Path(google.api.__path__[0]), "rpc": Path(google.rpc.__path__[0])}


def main() -> None:
    for package, stems in FILES.items():
        (TARGET / package).mkdir(parents=True, exist_ok=True)
        for stem in stems:
            shutil.copyfile(SOURCES[package] / f"{stem}.proto", TARGET / package / f"{stem}.proto")
    print(f"vendored {sum(map(len, FILES.values()))} protos into {TARGET}")


if __name__ == "__main__":
    main()
