"""The figures of `make bench` measured on PostgreSQL with several processes, alone (about a minute).

Usage: python bench/replica_bench.py [--quick] [--out bench/results]

Runs/s and streamed tokens/s with one process and with two on the same PostgreSQL, and the time a
survivor takes over the work of a process killed with SIGKILL. Results go to
bench/results/replicas-*.json; `make bench` measures the same figures among the others.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_bench import REPLICA_QUICK, ROOT, ReplicaScale, machine, replica_rows, replica_scaling, takeover_time  # noqa: E402


async def run(scale: ReplicaScale, out: Path, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runwire-bench-") as tmp:
        results = {
            "replica_scaling": await replica_scaling(scale, Path(tmp)),
            "takeover": await takeover_time(scale, Path(tmp)),
        }
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    rows = [{"metric": m, "runwire": r, "target": t, "met": met} for m, _, r, t, met in replica_rows(results)]
    report = {"time": stamp, "machine": machine(), "scale": scale.__dict__, "quick": quick, "results": results, "summary": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"replicas-{stamp}{'-quick' if quick else ''}.json").write_text(json.dumps(report, indent=2))
    print("| metric | Runwire | target |\n| --- | ---: | --- |")
    for row in rows:
        verdict = "" if row["met"] is None else (" ✓" if row["met"] else " ✗")
        print(f"| {row['metric']} | {row['runwire']:,.2f} | {row['target']}{verdict} |")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for checking the harness")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    import uvloop

    uvloop.run(run(REPLICA_QUICK if args.quick else ReplicaScale(), args.out, args.quick))


if __name__ == "__main__":
    main()
