"""Where a unary call's time goes: GetAgent QPS and server CPU per call of the bare server and of Runwire
with parts of its work taken away, in one run.

Usage: python bench/unary_budget.py [--seconds 5] [--rounds 3] [--out bench/results]

Four servers run at once and take turns (the median of `rounds` rounds is kept), at the concurrency of
`make bench`:
- bare: the bare grpc.aio server of run_bench.py;
- runwire: Runwire as `make bench` runs it;
- without the access log: the same, logging at WARNING, so no line per call;
- call path only: also without the access log, and GetAgent answers a fixed agent without reading the
  database (bench/fixed_agent_server.py): what the request id, authentication, rate limit, deadline
  and metrics cost on their own.

Each is reported as QPS, its ratio to bare, and the server's CPU time per call (from /proc). Results go to
bench/results/unary-budget-{time}.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_bench as rb  # noqa: E402

from runwire.v1 import agent_pb2  # noqa: E402

VARIANTS: dict[str, dict[str, object]] = {
    "bare": {"kind": "bare"},
    "runwire": {"kind": "runwire"},
    "runwire without the access log": {"kind": "runwire", "env": {"RUNWIRE_LOG_LEVEL": "WARNING"}},
    "runwire call path only (no access log, no database read)": {
        "kind": "runwire",
        "env": {"RUNWIRE_LOG_LEVEL": "WARNING"},
        "entry": [str(rb.ROOT / "bench" / "fixed_agent_server.py")],
    },
}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_round(target: rb.Target, seconds: float, concurrency: int) -> tuple[float, float]:
    """QPS and server CPU microseconds per call over `seconds` of GetAgent at `concurrency`."""
    request = agent_pb2.GetAgentRequest(name=target.agent_name)
    stop = time.monotonic() + seconds
    counts = [0] * concurrency

    async def worker(index: int) -> None:
        while time.monotonic() < stop:
            await target.agents.GetAgent(request, metadata=rb.KEY)
            counts[index] += 1

    before, started = cpu_seconds(target.pid), time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed, calls = time.monotonic() - started, sum(counts)
    return calls / elapsed, (cpu_seconds(target.pid) - before) / calls * 1e6


async def run(seconds: float, rounds: int, out: Path) -> dict[str, object]:
    concurrency = rb.Scale().unary_concurrency
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="runwire-budget-") as tmp, ExitStack() as stack:
        targets: dict[str, rb.Target] = {}
        for index, (name, variant) in enumerate(VARIANTS.items()):
            address, process = stack.enter_context(
                rb.server_process(
                    str(variant["kind"]),
                    Path(tmp),
                    entry=variant.get("entry"),  # type: ignore[arg-type]
                    env_overrides=variant.get("env"),  # type: ignore[arg-type]
                    label=f"server{index}",
                )
            )
            channel = grpc.aio.insecure_channel(address)
            target = rb.Target(str(variant["kind"]), channel, process.pid)
            await target.prepare()
            await one_round(target, 0.5, concurrency)  # warm up
            targets[name] = target
        for round_number in range(rounds):
            for name, target in targets.items():
                print(f"[{name}] round {round_number + 1} of {rounds}", flush=True)
                samples[name].append(await one_round(target, seconds, concurrency))
        for target in targets.values():
            await target.channel.close()
    bare_qps = statistics.median(q for q, _ in samples["bare"])
    rows = []
    for name, values in samples.items():
        qps = statistics.median(q for q, _ in values)
        cpu = statistics.median(c for _, c in values)
        rows.append({"server": name, "qps": qps, "ratio": qps / bare_qps, "cpu_us_per_call": cpu})
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    report = {"time": stamp, "machine": rb.machine(), "seconds": seconds, "rounds": rounds, "concurrency": concurrency, "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"unary-budget-{stamp}.json").write_text(json.dumps(report, indent=2))
    print("| server | GetAgent QPS | ratio to bare | server CPU per call, µs |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['server']} | {row['qps']:,.0f} | {row['ratio']:.2f} | {row['cpu_us_per_call']:.0f} |")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=rb.ROOT / "bench" / "results")
    args = parser.parse_args()
    import uvloop

    uvloop.run(run(args.seconds, args.rounds, args.out))


if __name__ == "__main__":
    main()
