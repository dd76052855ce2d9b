"""Two versions of Runwire's source side by side: QPS and server CPU per call of the unary RPCs, in one run.

Usage: python bench/unary_ab.py --base DIR [--rpc GetAgent ...] [--seconds 5] [--rounds 3]

DIR holds another version's `server/` tree (for example `git archive HEAD~1 server | tar -x -C DIR`);
it runs with PYTHONPATH=DIR/server, so its `runwire.server` package is imported instead of this
checkout's. Three servers run at once, the bare one of run_bench.py, the base and this checkout, and
take turns for each RPC (the median of `rounds` rounds is kept). The figure to compare is the server's
CPU time per call (from /proc): on a shared machine QPS moves with the load, CPU per call much less.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_bench as rb  # noqa: E402
from unary_budget import cpu_seconds  # noqa: E402


async def one_round(target: rb.Target, rpc: str, seconds: float, concurrency: int) -> tuple[float, float]:
    """QPS and server CPU microseconds per call over `seconds` of `rpc` at `concurrency`."""
    method, request = rb.UNARY_RPCS[rpc](target)
    stop = time.monotonic() + seconds
    counts = [0] * concurrency

    async def worker(index: int) -> None:
        while time.monotonic() < stop:
            await method(request, metadata=rb.KEY)
            counts[index] += 1

    before, started = cpu_seconds(target.pid), time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed, calls = time.monotonic() - started, sum(counts)
    return calls / elapsed, (cpu_seconds(target.pid) - before) / calls * 1e6


async def run(base: Path, rpcs: list[str], seconds: float, rounds: int) -> None:
    concurrency = rb.Scale().unary_concurrency
    variants = {"bare": ("bare", None), "base": ("runwire", str(base / "server")), "this": ("runwire", None)}
    with tempfile.TemporaryDirectory(prefix="runwire-ab-") as tmp, ExitStack() as stack:
        targets: dict[str, rb.Target] = {}
        for name, (kind, python_path) in variants.items():
            env = {"PYTHONPATH": python_path} if python_path else None
            address, process = stack.enter_context(rb.server_process(kind, Path(tmp), env_overrides=env, label=name))
            target = rb.Target(kind, grpc.aio.insecure_channel(address), process.pid)
            await target.prepare()
            targets[name] = target
        print(f"| RPC | server | QPS | ratio to bare | server CPU per call, µs |\n| --- | --- | ---: | ---: | ---: |")
        for rpc in rpcs:
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
            for target in targets.values():
                await one_round(target, rpc, 0.5, concurrency)  # warm up
            for _ in range(rounds):
                for name, target in targets.items():
                    samples[name].append(await one_round(target, rpc, seconds, concurrency))
            bare_qps = statistics.median(q for q, _ in samples["bare"])
            for name, values in samples.items():
                qps = statistics.median(q for q, _ in values)
                cpu = statistics.median(c for _, c in values)
                print(f"| {rpc} | {name} | {qps:,.0f} | {qps / bare_qps:.2f} | {cpu:.0f} |", flush=True)
        for target in targets.values():
            await target.channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--rpc", action="append", choices=list(rb.UNARY_RPCS))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (args.base / "server" / "runwire" / "server").is_dir():
        parser.error(f"{args.base} holds no server/runwire/server")
    import uvloop

    uvloop.run(run(args.base.resolve(), args.rpc or list(rb.UNARY_RPCS), args.seconds, args.rounds))


if __name__ == "__main__":
    main()
