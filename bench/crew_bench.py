"""The crew figures of `make bench`, measured alone against one Runwire server (under a minute).

Usage: python bench/crew_bench.py [--quick] [--out bench/results]

- Delegation hop: the time from a run's start to its first token, for an agent's own run and for the
  child run of a one-task crew (from the crew run's start to the child's first token in the crew's
  stream); the difference is what one hop adds (planning, the child's session and run, the copy of
  its events into the crew's log). Samples alternate between the two so a slow spell affects both.
- Crew stream: events per second of one crew run whose 10 members work in parallel, each streaming
  the same tokens, read from the crew run's one stream; against the same 10 runs executed as
  separate agent runs at once (each event of a crew's child is written twice: in its own log and in
  the crew's).

Both use the builtin provider at unlimited token rate. Results go to bench/results/crews-*.json;
`make bench` measures the same figures among the others.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from runwire.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    crew_pb2,
    crew_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)

PARALLEL_MEMBERS = 10


@dataclass
class CrewScale:
    # Samples of each kind of run for the delegation hop, taken alternately.
    hop_samples: int = 100
    # Tokens each of the parallel members streams, and crew runs measured (the median is kept).
    member_tokens: int = 500
    crew_rounds: int = 3


CREW_QUICK = CrewScale(hop_samples=10, member_tokens=50, crew_rounds=1)


class CrewExecutionMissing(Exception):
    """The server has the crew resource but does not execute crews (UNIMPLEMENTED)."""


class _Stubs:
    def __init__(self, channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> None:
        self.agents = agent_pb2_grpc.AgentServiceStub(channel)
        self.sessions = session_pb2_grpc.SessionServiceStub(channel)
        self.crews = crew_pb2_grpc.CrewServiceStub(channel)
        self.runs = run_pb2_grpc.RunServiceStub(channel)
        self.metadata = metadata

    async def agent(self, name: str) -> str:
        request = agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name=name))
        return (await self.agents.CreateAgent(request, metadata=self.metadata)).name

    async def session(self, agent: str) -> str:
        request = session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent))
        return (await self.sessions.CreateSession(request, metadata=self.metadata)).name

    async def crew(self, members: list[crew_pb2.CrewMember], tasks: list[crew_pb2.CrewTask], **fields: Any) -> str:
        crew = crew_pb2.Crew(display_name="Bench crew", members=members, tasks=tasks, **fields)
        request = crew_pb2.CreateCrewRequest(crew=crew, crew_id=f"bench-{uuid.uuid4().hex[:12]}")
        return (await self.crews.CreateCrew(request, metadata=self.metadata)).name

    def execute(self, text: str, *, session: str = "", crew: str = "") -> Any:
        request = run_pb2.ExecuteAgentRequest(session=session, crew=crew, input=[common_pb2.ContentPart(text=text)])
        return self.runs.ExecuteAgent(request, metadata=self.metadata)


def _is_first_token(event: run_pb2.RunEvent) -> bool:
    """A token of the run itself, or of one of its children (copied into its stream)."""
    kind = event.WhichOneof("payload")
    if kind == "child_run_event":
        return event.child_run_event.event.WhichOneof("payload") == "text_delta"
    return kind == "text_delta"


async def _start_to_first_token(call: Any) -> float:
    """Seconds from the run's `run_started` to its first token (its own or a child's), read from its stream."""
    started = first = None
    try:
        async for event in call:
            if started is None and event.WhichOneof("payload") == "run_started":
                started = time.monotonic()
            elif started is not None and first is None and _is_first_token(event):
                first = time.monotonic()
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNIMPLEMENTED:
            raise CrewExecutionMissing(error.details() or "crew runs are not executed by this server") from None
        raise
    if started is None or first is None:
        raise RuntimeError("the run ended without a start and a first token")
    return first - started


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    at = lambda pct: ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]  # noqa: E731
    return {"p50_ms": at(50) * 1000, "p99_ms": at(99) * 1000}


async def delegation_hop(stubs: _Stubs, scale: CrewScale) -> dict[str, Any]:
    """Start-to-first-token of an agent's run and of a one-task crew's child run, and the difference."""
    agent = await stubs.agent("Hop")
    crew = await stubs.crew([crew_pb2.CrewMember(id="solo", agent=agent)], [crew_pb2.CrewTask(id="answer", description="[[tokens:1]]")])
    direct: list[float] = []
    hop: list[float] = []
    for _ in range(scale.hop_samples):
        direct.append(await _start_to_first_token(stubs.execute("[[tokens:1]]", session=await stubs.session(agent))))
        hop.append(await _start_to_first_token(stubs.execute("Go", crew=crew)))
    agent_run, child_run = _percentiles(direct), _percentiles(hop)
    return {
        "samples": scale.hop_samples,
        "agent_run": agent_run,
        "crew_child_run": child_run,
        "added_p50_ms": child_run["p50_ms"] - agent_run["p50_ms"],
        "added_p99_ms": child_run["p99_ms"] - agent_run["p99_ms"],
    }


async def _events_per_second(calls: list[Any]) -> tuple[float, int]:
    """Events per second over streams read at once (each stream's events counted by its last `seq`)."""

    async def read(call: Any) -> int:
        last_seq = 0
        async for event in call:
            last_seq = event.seq
        return last_seq

    started = time.monotonic()
    counts = await asyncio.gather(*(read(call) for call in calls))
    return sum(counts) / (time.monotonic() - started), sum(counts)


async def parallel_crew_stream(stubs: _Stubs, scale: CrewScale) -> dict[str, Any]:
    """Events/s of one crew run of PARALLEL_MEMBERS members working at once, and of the same runs as
    separate agent runs read at once."""
    agents = [await stubs.agent(f"Member {index}") for index in range(PARALLEL_MEMBERS)]
    work = f"[[tokens:{scale.member_tokens}]]"
    crew = await stubs.crew(
        [crew_pb2.CrewMember(id=f"m{index}", agent=agent) for index, agent in enumerate(agents)],
        [crew_pb2.CrewTask(id=f"t{index}", description=work, member=f"m{index}") for index in range(PARALLEL_MEMBERS)],
        process=crew_pb2.Crew.PROCESS_PARALLEL,
        limits=crew_pb2.CrewLimits(max_parallel_tasks=PARALLEL_MEMBERS),
    )
    crew_rounds: list[tuple[float, int]] = []
    separate_rounds: list[tuple[float, int]] = []
    for _ in range(scale.crew_rounds):
        crew_rounds.append(await _events_per_second([stubs.execute("Go", crew=crew)]))
        sessions = [await stubs.session(agent) for agent in agents]
        separate_rounds.append(await _events_per_second([stubs.execute(work, session=s) for s in sessions]))
    crew_eps, crew_events = sorted(crew_rounds)[len(crew_rounds) // 2]
    separate_eps, separate_events = sorted(separate_rounds)[len(separate_rounds) // 2]
    return {
        "members": PARALLEL_MEMBERS,
        "tokens_per_member": scale.member_tokens,
        "crew_events_per_second": crew_eps,
        "crew_events": crew_events,
        "separate_runs_events_per_second": separate_eps,
        "separate_runs_events": separate_events,
    }


async def measure(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], scale: CrewScale) -> dict[str, Any]:
    """Both crew figures; {"skipped": reason} when the server does not execute crews."""
    stubs = _Stubs(channel, metadata)
    try:
        print("[runwire] delegation hop: time to first token of a crew's child run", flush=True)
        hop = await delegation_hop(stubs, scale)
        print(f"[runwire] crew of {PARALLEL_MEMBERS} members in parallel: events/s of its stream", flush=True)
        stream = await parallel_crew_stream(stubs, scale)
    except CrewExecutionMissing as missing:
        print(f"[runwire] crew figures skipped: the server does not execute crews ({missing})", flush=True)
        return {"skipped": str(missing)}
    return {"delegation_hop": hop, "parallel_crew": stream}


def crew_rows(crews: dict[str, Any] | None) -> list[tuple[str, float | None, float, str, bool | None]]:
    """The crew rows of the summary table (Runwire only: the bare server has no crews)."""
    if not crews or "skipped" in crews:
        return []
    hop, stream = crews["delegation_hop"], crews["parallel_crew"]
    members = stream["members"]
    return [
        ("Delegation hop: agent run start to first token p50, ms (Runwire only)", None, hop["agent_run"]["p50_ms"], "", None),
        (
            "Delegation hop: crew run start to its child's first token p50, ms (Runwire only)",
            None,
            hop["crew_child_run"]["p50_ms"],
            f"added {hop['added_p50_ms']:.2f} ms per hop (p99 {hop['added_p99_ms']:.2f})",
            None,
        ),
        (
            f"Crew of {members} members in parallel, events/s of its one stream (Runwire only)",
            None,
            stream["crew_events_per_second"],
            f"{stream['crew_events_per_second'] / stream['separate_runs_events_per_second']:.2f}× of {members} separate runs' "
            f"{stream['separate_runs_events_per_second']:,.0f} events/s",
            None,
        ),
    ]


async def _standalone(scale: CrewScale, out: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run_bench import KEY, machine, server_process, table

    with tempfile.TemporaryDirectory(prefix="runwire-bench-") as tmp:
        with server_process("runwire", Path(tmp)) as (address, _):
            async with grpc.aio.insecure_channel(address) as channel:
                results = await measure(channel, KEY, scale)
    rows = crew_rows(results)
    summary = [{"metric": m, "bare": b, "runwire": r, "ratio": None, "target": t, "met": met} for m, b, r, t, met in rows]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    report = {"time": stamp, "machine": machine(), "scale": scale.__dict__, "results": results, "summary": summary}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"crews-{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    print(table(summary) if summary else json.dumps(results))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for checking the harness")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    import uvloop

    uvloop.run(_standalone(CREW_QUICK if args.quick else CrewScale(), args.out))


if __name__ == "__main__":
    main()
