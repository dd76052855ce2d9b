"""Runwire against a bare grpc.aio server with the same message shapes, in one run.

Usage: python bench/run_bench.py [--quick | --unary] [--out bench/results]

`--unary` measures only the unary calls (GetAgent, GetSession, ListMessages of 20, CreateMessage),
as `make bench-unary` does, and leaves the README alone.

Each server runs in its own process, both at once; this process is the
client, and measures them in turns (the median of three rounds, alternating
bare and Runwire). Every figure is reported for both servers and as the
ratio Runwire/bare, so the numbers mean something on any machine. Results go to bench/results/ as
JSON (with the machine's description) and the README's table is rewritten.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Iterator

import grpc
from crew_bench import CREW_QUICK, CrewScale, crew_rows
from crew_bench import measure as measure_crews

from runwire.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    batch_pb2,
    batch_pb2_grpc,
    common_pb2,
    event_pb2,
    event_pb2_grpc,
    file_pb2,
    file_pb2_grpc,
    message_pb2,
    message_pb2_grpc,
    messaging_pb2,
    messaging_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
API_KEY = "rw_" + "b" * 40


# Sent on every call to both servers (the bare one ignores it), so requests are the same size.
KEY = (("x-api-key", API_KEY),)


@dataclass
class Scale:
    unary_seconds: float = 5.0
    unary_concurrency: int = 32
    single_stream_tokens: int = 20_000
    stream_tokens: int = 200
    stream_counts: tuple[int, ...] = (100, 500)
    ttft_samples: int = 200
    idle_streams: int = 500
    upload_mib: int = 256
    upload_repeats: int = 3
    batch_tasks: int = 1_000
    batch_concurrency: int = 64
    connect_round_trips: int = 2_000
    rounds: int = 3
    # Connect clients that each notification reaches, and notifications sent one after another.
    notification_clients: int = 1_000
    notifications: int = 5
    # Runs followed at once from the owning replica and from another one, and tokens per run.
    replica_follow_runs: int = 10
    replica_follow_tokens: int = 100
    # The crew figures (bench/crew_bench.py): the delegation hop and a crew of 10 members in parallel.
    crew: CrewScale = field(default_factory=CrewScale)
    # Only the unary figures (make bench-unary): no streams, uploads, batches or gateway.
    unary_only: bool = False


QUICK = Scale(
    unary_seconds=1.0,
    single_stream_tokens=2_000,
    stream_tokens=50,
    stream_counts=(20, 50),
    ttft_samples=30,
    idle_streams=50,
    upload_mib=8,
    upload_repeats=1,
    batch_tasks=50,
    connect_round_trips=200,
    rounds=1,
    notification_clients=50,
    notifications=3,
    replica_follow_runs=3,
    replica_follow_tokens=30,
    crew=CREW_QUICK,
)
# Connect streams per channel in the notification fan-out (one HTTP/2 connection each).
CONNECT_STREAMS_PER_CHANNEL = 100
UPLOAD_CHUNK_BYTES = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@contextmanager
def server_process(
    kind: str, data_dir: Path, *, entry: list[str] | None = None, env_overrides: dict[str, str] | None = None, label: str = ""
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A bare or Runwire server on a free port. For Runwire, `entry` replaces `-m runwire.cli.main` (a
    script taking the same arguments) and `env_overrides` adds to its environment; `label` names its
    log and data directory when several run at once."""
    port = free_port()
    label = label or kind
    log = (data_dir / f"{label}.log").open("wb")
    if kind == "bare":
        command = [sys.executable, str(ROOT / "bench" / "bare_server.py"), "--port", str(port)]
        env = dict(os.environ)
    else:
        main_module = entry or ["-m", "runwire.cli.main"]
        command = [sys.executable, *main_module, "serve", "--port", str(port), "--data-dir", str(data_dir / label)]
        env = {
            **os.environ,
            # Unlimited token rate and room for every concurrent stream the benchmark opens.
            "RUNWIRE_BUILTIN_TOKENS_PER_SECOND": "0",
            # Authentication and rate limiting stay on, as in production; the limits are set high
            # enough that the benchmark measures their cost, not their refusals.
            "RUNWIRE_BOOTSTRAP_ADMIN_KEY": API_KEY,
            "RUNWIRE_RATE_LIMIT_TIERS": json.dumps(
                {
                    "premium": {
                        c: {"requests_per_second": 10_000_000, "burst": 10_000_000}
                        for c in ("read", "write", "run", "stream", "file")
                    }
                }
            ),
            "RUNWIRE_MAX_STREAMS_PER_PRINCIPAL": "100000",
            "RUNWIRE_MAX_CONCURRENT_STREAMS": "10000",  # the most the server allows
            "RUNWIRE_MAX_CONCURRENT_RUNS": "2000",
            "RUNWIRE_MAX_CONCURRENT_RUNS_PER_PROVIDER": "2000",
            "RUNWIRE_MAX_ACTIVE_RUNS_PER_CALLER": "4000",
            "RUNWIRE_MAX_SESSIONS_PER_OWNER": "100000",
            "RUNWIRE_MAX_UPLOAD_BYTES": str(2**40),
            **(env_overrides or {}),
        }
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server did not start; see {log.name}") from None
            time.sleep(0.05)
    try:
        yield address, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@dataclass
class Target:
    kind: str
    channel: grpc.aio.Channel
    pid: int
    agents: agent_pb2_grpc.AgentServiceStub = field(init=False)
    runs: run_pb2_grpc.RunServiceStub = field(init=False)
    sessions: session_pb2_grpc.SessionServiceStub = field(init=False)
    agent_name: str = "agents/bench"
    # A session with LISTED_MESSAGES messages (GetSession, ListMessages), and one that CreateMessage fills.
    session_name: str = "sessions/bench"
    write_session_name: str = "sessions/bench"

    def __post_init__(self) -> None:
        self.agents = agent_pb2_grpc.AgentServiceStub(self.channel)
        self.runs = run_pb2_grpc.RunServiceStub(self.channel)
        self.sessions = session_pb2_grpc.SessionServiceStub(self.channel)
        self.messages = message_pb2_grpc.MessageServiceStub(self.channel)
        self.files = file_pb2_grpc.FileServiceStub(self.channel)

    async def prepare(self) -> None:
        if self.kind == "runwire":
            agent = await self.agents.CreateAgent(
                agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Bench", instructions="Answer briefly.")),
                metadata=KEY,
            )
            self.agent_name = agent.name
            self.session_name, self.write_session_name = await self.new_sessions(2)
            for index in range(LISTED_MESSAGES):
                await self.messages.CreateMessage(
                    message_pb2.CreateMessageRequest(parent=self.session_name, message=bench_message(index)), metadata=KEY
                )

    async def new_sessions(self, count: int) -> list[str]:
        if self.kind == "bare":
            return ["sessions/bench"] * count
        names: list[str] = []
        while len(names) < count:
            batch = min(100, count - len(names))
            response = await self.sessions.BatchCreateSessions(
                session_pb2.BatchCreateSessionsRequest(
                    requests=[
                        session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=self.agent_name))
                        for _ in range(batch)
                    ]
                ),
                metadata=KEY,
            )
            names.extend(s.name for s in response.sessions)
        return names


def execute(target: Target, session: str, text: str):  # type: ignore[no-untyped-def]
    return target.runs.ExecuteAgent(
        run_pb2.ExecuteAgentRequest(session=session, input=[common_pb2.ContentPart(text=text)]), metadata=KEY
    )


# Messages in the session that ListMessages reads, all in one page.
LISTED_MESSAGES = 20


def bench_message(index: int) -> message_pb2.Message:
    return message_pb2.Message(
        role=message_pb2.Message.ROLE_USER, content=[common_pb2.ContentPart(text=f"Message number {index} of the benchmark's session.")]
    )


# The unary calls measured, each as (name in the results, how to make one call).
UNARY_RPCS: dict[str, Any] = {
    "GetAgent": lambda t: (t.agents.GetAgent, agent_pb2.GetAgentRequest(name=t.agent_name)),
    "GetSession": lambda t: (t.sessions.GetSession, session_pb2.GetSessionRequest(name=t.session_name)),
    "ListMessages": lambda t: (
        t.messages.ListMessages,
        message_pb2.ListMessagesRequest(parent=t.session_name, page_size=LISTED_MESSAGES),
    ),
    "CreateMessage": lambda t: (
        t.messages.CreateMessage,
        message_pb2.CreateMessageRequest(parent=t.write_session_name, message=bench_message(LISTED_MESSAGES)),
    ),
}


async def unary_qps(target: Target, scale: Scale, rpc: str = "GetAgent") -> float:
    """Calls per second of `rpc` (a key of UNARY_RPCS) at the scale's concurrency."""
    stop = time.monotonic() + scale.unary_seconds
    method, request = UNARY_RPCS[rpc](target)
    counts = [0] * scale.unary_concurrency

    async def worker(index: int) -> None:
        while time.monotonic() < stop:
            await method(request, metadata=KEY)
            counts[index] += 1

    await method(request, metadata=KEY)  # warm up the channel
    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(scale.unary_concurrency)))
    return sum(counts) / (time.monotonic() - started)


async def read_stream(call) -> tuple[int, int, float | None, int]:  # type: ignore[no-untyped-def]
    """Messages, tokens, time to the first token and the last `seq` of one stream.

    The last `seq` counts the run's events the reader has learnt of: a message that merges deltas carries
    the `seq` of the last event it holds, so events are counted whether or not they were merged.
    """
    messages = tokens = last_seq = 0
    first: float | None = None
    async for event in call:
        last_seq = event.seq
        if event.WhichOneof("payload") == "text_delta":
            if first is None:
                first = time.monotonic()
            messages += 1
            tokens += len(event.text_delta.text.split())
    return messages, tokens, first, last_seq


async def single_stream(target: Target, scale: Scale) -> dict[str, float]:
    (session,) = await target.new_sessions(1)
    started = time.monotonic()
    messages, tokens, _, events = await read_stream(execute(target, session, f"[[tokens:{scale.single_stream_tokens}]]"))
    elapsed = time.monotonic() - started
    return {
        "events_per_second": events / elapsed,
        "messages_per_second": messages / elapsed,
        "tokens_per_second": tokens / elapsed,
        "tokens": tokens,
        "events": events,
    }


async def many_streams(target: Target, count: int, scale: Scale) -> dict[str, float]:
    sessions = await target.new_sessions(count)
    started = time.monotonic()
    results = await asyncio.gather(*(read_stream(execute(target, s, f"[[tokens:{scale.stream_tokens}]]")) for s in sessions))
    elapsed = time.monotonic() - started
    tokens = sum(r[1] for r in results)
    expected = count * scale.stream_tokens
    if tokens != expected:
        raise RuntimeError(f"{target.kind}: {tokens} tokens delivered of {expected}")
    return {
        "streams": count,
        "tokens_per_second": tokens / elapsed,
        "messages_per_second": sum(r[0] for r in results) / elapsed,
    }


async def time_to_first_token(target: Target, scale: Scale, method: str = "ExecuteAgent") -> list[float]:
    """Seconds from the call to its first text, one run at a time. ExecuteAgent sends run_created,
    run_started and the input's message_created before the first token; StreamTokens sends text only."""
    sessions = await target.new_sessions(scale.ttft_samples)
    samples = []
    for session in sessions:
        started = time.monotonic()
        first: float | None = None
        if method == "ExecuteAgent":
            _, _, first, _ = await read_stream(execute(target, session, "[[tokens:1]]"))
        else:
            request = run_pb2.StreamTokensRequest(session=session, input=[common_pb2.ContentPart(text="[[tokens:1]]")])
            async for message in target.runs.StreamTokens(request, metadata=KEY):
                if first is None and message.text:
                    first = time.monotonic()
        assert first is not None
        samples.append(first - started)
    return samples


async def batch_throughput(target: Target, scale: Scale) -> dict[str, float]:
    """Tasks per second through one batch; the bare server has no batches, so it gets the same tasks as
    ExecuteAgent calls from the client at the batch's concurrency (what a client without batches would do)."""
    texts = [f"task {i}" for i in range(scale.batch_tasks)]
    started = time.monotonic()
    if target.kind == "bare":
        slots = asyncio.Semaphore(scale.batch_concurrency)

        async def one(text: str) -> None:
            async with slots:
                await read_stream(execute(target, "sessions/bench", text))

        await asyncio.gather(*(one(t) for t in texts))
        return {"tasks": len(texts), "tasks_per_second": len(texts) / (time.monotonic() - started)}
    batches = batch_pb2_grpc.BatchServiceStub(target.channel)
    tasks = [batch_pb2.BatchTaskInput(agent=target.agent_name, text=t) for t in texts]
    created = await batches.CreateBatch(
        batch_pb2.CreateBatchRequest(
            batch=batch_pb2.Batch(
                inline_tasks=batch_pb2.BatchInlineTasks(tasks=tasks),
                options=batch_pb2.BatchOptions(max_concurrency=scale.batch_concurrency),
            )
        ),
        metadata=KEY,
    )
    last = None
    watch = batch_pb2.WatchBatchRequest(name=created.name)
    watch.min_interval.FromMilliseconds(100)  # the end is seen within 0.1 s
    async for update in batches.WatchBatch(watch, metadata=KEY):
        last = update.batch
    elapsed = time.monotonic() - started
    if last is None or last.counts.succeeded != len(texts):
        raise RuntimeError(f"runwire: the batch ended {last}")
    return {"tasks": len(texts), "tasks_per_second": len(texts) / elapsed}


async def idle_stream_memory(target: Target, scale: Scale) -> float:
    """Resident bytes the server holds per open stream that carries nothing."""
    if target.kind == "bare":
        runs = ["runs/idle"] * scale.idle_streams
    else:
        sessions = await target.new_sessions(scale.idle_streams)
        runs = []
        for session in sessions:
            run = await target.runs.CreateRun(
                run_pb2.CreateRunRequest(
                    run=run_pb2.Run(session=session, input=[common_pb2.ContentPart(text="[[ask:waiting]]")])
                ),
                metadata=KEY,
            )
            runs.append(run.name)
        await asyncio.sleep(2)  # every run reaches REQUIRES_INPUT and idles
    await asyncio.sleep(1)
    before = rss_bytes(target.pid)
    calls = []
    for run in runs:
        last_seq = 0
        if target.kind == "runwire":
            last_seq = (await target.runs.GetRun(run_pb2.GetRunRequest(name=run), metadata=KEY)).last_seq
        calls.append(target.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run, after_seq=last_seq), metadata=KEY))
    if target.kind == "runwire":
        await asyncio.gather(*(call.initial_metadata() for call in calls))
    await asyncio.sleep(2)
    after = rss_bytes(target.pid)
    for call in calls:
        call.cancel()
    return max(after - before, 0) / len(runs)


def upload_content(scale: Scale) -> tuple[list[bytes], str]:
    """JSONL lines (batch input: stored and checked, no text extraction), in 1 MiB chunks, and their SHA-256."""
    line = b'{"agent": "agents/bench", "input": "' + b"x" * 90 + b'"}\n'
    chunk = (line * (UPLOAD_CHUNK_BYTES // len(line) + 1))[:UPLOAD_CHUNK_BYTES]
    chunk = chunk[: chunk.rindex(b"\n") + 1].ljust(UPLOAD_CHUNK_BYTES - 1) + b"\n"
    chunks = [chunk] * scale.upload_mib
    digest = hashlib.sha256()
    for piece in chunks:
        digest.update(piece)
    return chunks, digest.hexdigest()


async def upload_throughput(target: Target, scale: Scale) -> float:
    """MB/s of one client-streaming upload at a time, best of the repeats."""
    chunks, sha256 = upload_content(scale)
    size = sum(len(c) for c in chunks)
    best = 0.0
    for _ in range(scale.upload_repeats):

        async def requests():  # type: ignore[no-untyped-def]
            yield file_pb2.UploadFileRequest(
                metadata=file_pb2.UploadFileMetadata(
                    filename="bench.jsonl", purpose=file_pb2.File.PURPOSE_BATCH_INPUT, size_bytes=size, sha256=sha256
                )
            )
            for piece in chunks:
                yield file_pb2.UploadFileRequest(chunk=piece)

        started = time.monotonic()
        stored = await target.files.UploadFile(requests(), metadata=KEY)
        elapsed = time.monotonic() - started
        if stored.size_bytes != size:
            raise RuntimeError(f"{target.kind}: {stored.size_bytes} bytes stored of {size}")
        best = max(best, size / elapsed / 1e6)
        if target.kind == "runwire":
            await target.files.DeleteFile(file_pb2.DeleteFileRequest(name=stored.name), metadata=KEY)
    return best


@contextmanager
def gateway_process(upstream: str, data_dir: Path) -> Iterator[str]:
    """The REST gateway (gateway/bin/runwire-gateway, built when missing) in front of `upstream`; yields its URL."""
    binary = ROOT / "gateway" / "bin" / "runwire-gateway"
    if not binary.exists():
        subprocess.run(["go", "build", "-o", str(binary), "./gateway"], cwd=ROOT, check=True)
    port = free_port()
    log = (data_dir / "gateway.log").open("wb")
    command = [str(binary), "--listen", f"127.0.0.1:{port}", "--upstream", upstream]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start; see {log.name}") from None
            time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


async def connect_round_trips(channel: grpc.aio.Channel, gateway: str | None, count: int) -> float:
    """Ping/pong round trips per second on one EventService.Connect: over gRPC, or through the gateway's
    WebSocket bridge when `gateway` is given (JSON text frames, as a browser sends them)."""
    if gateway is None:
        call = event_pb2_grpc.EventServiceStub(channel).Connect(metadata=KEY)
        await call.read()  # connected
        started = time.perf_counter()
        for i in range(count):
            await call.write(event_pb2.ConnectRequest(ping=event_pb2.Ping(nonce=str(i))))
            while (await call.read()).WhichOneof("message") != "pong":
                pass
        elapsed = time.perf_counter() - started
        call.cancel()
        return count / elapsed
    from websockets.asyncio.client import connect

    async with connect(f"ws://{gateway}/v1/events:connect", additional_headers=dict(KEY)) as socket_:
        await socket_.recv()  # connected
        started = time.perf_counter()
        for i in range(count):
            await socket_.send(json.dumps({"ping": {"nonce": str(i)}}))
            while "pong" not in json.loads(await socket_.recv()):
                pass
        return count / (time.perf_counter() - started)


async def notification_fanout(address: str, scale: Scale) -> dict[str, float]:
    """Runwire only (the bare server has no messaging): `notification_clients` Connect streams, and the time
    from SendNotification (to everyone) until each client has the notification, over `notifications` sends."""
    channels = [grpc.aio.insecure_channel(address) for _ in range(-(-scale.notification_clients // CONNECT_STREAMS_PER_CHANNEL))]
    received: dict[str, list[float]] = {}
    everyone_got: dict[str, asyncio.Event] = {}
    calls = [
        event_pb2_grpc.EventServiceStub(channels[i // CONNECT_STREAMS_PER_CHANNEL]).Connect(metadata=KEY)
        for i in range(scale.notification_clients)
    ]

    async def reader(call: Any) -> None:
        while (response := await call.read()) is not grpc.aio.EOF:
            if response.WhichOneof("message") == "notification":
                text = response.notification.text
                arrivals = received.setdefault(text, [])
                arrivals.append(time.perf_counter())
                if len(arrivals) == scale.notification_clients:
                    everyone_got.setdefault(text, asyncio.Event()).set()
            elif response.WhichOneof("message") == "ping":
                await call.write(event_pb2.ConnectRequest(pong=event_pb2.Pong(nonce=response.ping.nonce)))

    try:
        for call in calls:
            connected = await call.read()
            assert connected.WhichOneof("message") == "connected"
        readers = [asyncio.ensure_future(reader(call)) for call in calls]
        messaging = messaging_pb2_grpc.MessagingServiceStub(channels[0])
        latencies: list[float] = []
        for index in range(scale.notifications):
            text = f"bench notification {index}"
            done = everyone_got.setdefault(text, asyncio.Event())
            sent = time.perf_counter()
            await messaging.SendNotification(
                messaging_pb2.SendNotificationRequest(
                    notification=messaging_pb2.ServerMessage(recipient=messaging_pb2.Recipient(everyone=True), text=text)
                ),
                metadata=KEY,
            )
            await asyncio.wait_for(done.wait(), 120)
            latencies.extend((arrival - sent) * 1000 for arrival in received[text])
        for task in readers:
            task.cancel()
    finally:
        for call in calls:
            call.cancel()
        for channel in channels:
            await channel.close()
    return {"clients": scale.notification_clients, "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


async def replica_follow_delay(scale: Scale, tmp: Path, *, with_redis: bool = True) -> dict[str, float]:
    """Runwire only: two replicas on one PostgreSQL with Redis. Runs execute on A; each is followed with
    StreamRunEvents on A (the owner) and on B at once, and every event B receives is timed against the same
    event on A: the delay a follower on another replica adds (signal, then a read of the database)."""
    sys.path.insert(0, str(ROOT))
    from tests.postgres_support import PostgresServer
    from tests.redis_support import RedisServer

    postgres = PostgresServer()
    redis = RedisServer(tmp) if with_redis else None
    try:
        env = {
            "RUNWIRE_DATABASE_URL": postgres.new_database(),
            # Without Redis the signals go through PostgreSQL LISTEN/NOTIFY.
            "RUNWIRE_REDIS_URL": redis.url if redis is not None else "",
            # A paced token stream: one event at a time, as a model streams them.
            "RUNWIRE_BUILTIN_TOKENS_PER_SECOND": "50",
        }
        with server_process("runwire", tmp, env_overrides=env, label="replica-a") as (a_address, _), server_process(
            "runwire", tmp, env_overrides=env, label="replica-b"
        ) as (b_address, _):
            async with grpc.aio.insecure_channel(a_address) as a_channel, grpc.aio.insecure_channel(b_address) as b_channel:
                a = Target("runwire", a_channel, 0)
                await a.prepare()
                b_runs = run_pb2_grpc.RunServiceStub(b_channel)
                delays: list[float] = []

                async def follow(stub: Any, name: str) -> dict[int, float]:
                    arrived: dict[int, float] = {}
                    call = stub.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=name), metadata=KEY, timeout=120)
                    async for event in call:
                        arrived.setdefault(event.seq, time.perf_counter())
                    return arrived

                async def one(session: str) -> None:
                    run = await a.runs.CreateRun(
                        run_pb2.CreateRunRequest(
                            run=run_pb2.Run(
                                session=session,
                                input=[common_pb2.ContentPart(text=f"[[tokens:{scale.replica_follow_tokens}]]")],
                            )
                        ),
                        metadata=KEY,
                    )
                    on_owner, elsewhere = await asyncio.gather(follow(a.runs, run.name), follow(b_runs, run.name))
                    delays.extend(elsewhere[seq] - on_owner[seq] for seq in elsewhere if seq in on_owner)

                print(f"[runwire] follower delay across replicas ({scale.replica_follow_runs} runs)", flush=True)
                sessions = await a.new_sessions(scale.replica_follow_runs)
                await asyncio.gather(*(one(session) for session in sessions))
    finally:
        if redis is not None:
            redis.stop()
        postgres.stop()
    return {
        "events": len(delays),
        "p50_ms": percentile(delays, 50) * 1000,
        "p99_ms": percentile(delays, 99) * 1000,
    }


@dataclass
class ReplicaScale:
    """Sizes of the figures measured on PostgreSQL with one and two processes."""

    runs: int = 400
    tokens: int = 200
    concurrency: int = 32
    # kill -9 takeovers measured one after another, and the lease settings they run with.
    takeovers: int = 3
    lease_ttl: float = 3.0
    lease_heartbeat: float = 1.0
    lease_claim: float = 1.0


REPLICA_QUICK = ReplicaScale(runs=40, tokens=50, concurrency=8, takeovers=1)


async def _execute_spread(addresses: list[str], scale: ReplicaScale) -> dict[str, float]:
    """`scale.runs` ExecuteAgent runs of `scale.tokens` tokens, `scale.concurrency` at a time, the clients
    spread evenly over `addresses` (one channel each)."""
    channels = [grpc.aio.insecure_channel(address) for address in addresses]
    try:
        targets = [Target("runwire", channel, 0) for channel in channels]
        for target in targets:
            await target.prepare()
        share = [scale.runs // len(targets) + (i < scale.runs % len(targets)) for i in range(len(targets))]
        per_target = [[(target, session) for session in await target.new_sessions(count)] for target, count in zip(targets, share, strict=True)]
        # Interleaved, so the runs in flight at any time are spread over the processes too.
        work = [pair for turn in itertools.zip_longest(*per_target) for pair in turn if pair is not None]
        slots = asyncio.Semaphore(scale.concurrency)
        tokens = 0

        failures: list[str] = []

        async def one(target: Target, session: str) -> None:
            nonlocal tokens
            async with slots:
                async for event in execute(target, session, f"[[tokens:{scale.tokens}]]"):
                    payload = event.WhichOneof("payload")
                    if payload == "text_delta":
                        tokens += len(event.text_delta.text.split())
                    elif payload == "run_failed":
                        failures.append(event.run_failed.error.reason)

        started = time.monotonic()
        await asyncio.gather(*(one(target, session) for target, session in work))
        elapsed = time.monotonic() - started
    finally:
        for channel in channels:
            await channel.close()
    if failures or tokens != scale.runs * scale.tokens:
        raise RuntimeError(f"runwire: {tokens} tokens delivered of {scale.runs * scale.tokens}; runs failed: {failures[:5]}")
    return {"runs_per_second": scale.runs / elapsed, "tokens_per_second": tokens / elapsed}


async def replica_scaling(scale: ReplicaScale, tmp: Path) -> dict[str, Any]:
    """Runs/s and streamed tokens/s on PostgreSQL with one process, then with two (each on a fresh
    database), at unlimited token rate."""
    sys.path.insert(0, str(ROOT))
    from tests.postgres_support import PostgresServer

    postgres = PostgresServer()
    results: dict[str, Any] = {"runs": scale.runs, "tokens": scale.tokens, "concurrency": scale.concurrency}
    try:
        for processes in (1, 2):
            env = {"RUNWIRE_DATABASE_URL": postgres.new_database()}
            print(f"[runwire] {scale.runs} runs on PostgreSQL, {processes} process(es)", flush=True)
            with contextlib.ExitStack() as stack:
                addresses = [
                    stack.enter_context(server_process("runwire", tmp, env_overrides=env, label=f"scale-{processes}-{i}"))[0]
                    for i in range(processes)
                ]
                results[f"processes_{processes}"] = await _execute_spread(addresses, scale)
    finally:
        postgres.stop()
    one, two = results["processes_1"], results["processes_2"]
    results["runs_ratio"] = two["runs_per_second"] / one["runs_per_second"]
    results["tokens_ratio"] = two["tokens_per_second"] / one["tokens_per_second"]
    return results


async def _one_takeover(scale: ReplicaScale, tmp: Path, env: dict[str, str], round_number: int) -> dict[str, float]:
    """Owner A runs a long stream and a run waiting for approval; B follows the stream. From A's SIGKILL:
    the seconds until B's follower gets `run_failed SERVER_RESTARTED`, and until an approval sent to B
    (right after the kill) is accepted, which needs the waiting run to have a new owner."""
    with server_process("runwire", tmp, env_overrides=env, label=f"takeover-a{round_number}") as (
        a_address,
        a_process,
    ), server_process("runwire", tmp, env_overrides=env, label=f"takeover-b{round_number}") as (b_address, _):
        async with grpc.aio.insecure_channel(a_address) as a_channel, grpc.aio.insecure_channel(b_address) as b_channel:
            a = Target("runwire", a_channel, a_process.pid)
            await a.prepare()
            b_runs = run_pb2_grpc.RunServiceStub(b_channel)
            (streaming,) = await a.new_sessions(1)
            running = await a.runs.CreateRun(
                run_pb2.CreateRunRequest(run=run_pb2.Run(session=streaming, input=[common_pb2.ContentPart(text="[[tokens:100000]]")])),
                metadata=KEY,
            )
            approver = await a.agents.CreateAgent(
                agent_pb2.CreateAgentRequest(
                    agent=agent_pb2.Agent(display_name="Approvals", tools=[agent_pb2.AgentTool(name="calculator", requires_approval=True)])
                ),
                metadata=KEY,
            )
            session = await a.sessions.CreateSession(
                session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=approver.name)), metadata=KEY
            )
            waiting = await a.runs.CreateRun(
                run_pb2.CreateRunRequest(
                    run=run_pb2.Run(session=session.name, input=[common_pb2.ContentPart(text='[[tool:calculator {"expression": "6*7"}]]')])
                ),
                metadata=KEY,
            )
            deadline = time.monotonic() + 30
            while not (pending := (await a.runs.GetRun(run_pb2.GetRunRequest(name=waiting.name), metadata=KEY)).pending_input).id:
                if time.monotonic() > deadline:
                    raise RuntimeError("the run did not wait for approval")
                await asyncio.sleep(0.05)

            follower = b_runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=running.name), metadata=KEY, timeout=120)
            deltas = 0
            async for event in follower:  # the follower on B is under way
                deltas += event.WhichOneof("payload") == "text_delta"
                if deltas >= 3:
                    break

            async def restarted() -> float:
                async for event in follower:
                    if event.WhichOneof("payload") == "run_failed":
                        if event.run_failed.error.reason != "SERVER_RESTARTED":
                            raise RuntimeError(f"the run ended {event.run_failed.error.reason}")
                        return time.perf_counter()
                raise RuntimeError("the follower ended without run_failed")

            async def approved() -> float:
                await b_runs.SubmitInput(
                    run_pb2.SubmitInputRequest(
                        name=waiting.name,
                        input_request_id=pending.id,
                        approval=run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE),
                    ),
                    metadata=KEY,
                    timeout=60,
                )
                return time.perf_counter()

            a_process.send_signal(signal.SIGKILL)
            killed = time.perf_counter()
            failed_at, approved_at = await asyncio.gather(restarted(), approved())
            return {"run_failed_seconds": failed_at - killed, "waiting_run_seconds": approved_at - killed}


async def takeover_time(scale: ReplicaScale, tmp: Path) -> dict[str, Any]:
    """Seconds from the SIGKILL of a run's owner to the survivor's takeover, with short leases."""
    sys.path.insert(0, str(ROOT))
    from tests.postgres_support import PostgresServer
    from tests.redis_support import RedisServer

    postgres = PostgresServer()
    redis = RedisServer(tmp)
    rounds: list[dict[str, float]] = []
    try:
        for round_number in range(scale.takeovers):
            env = {
                "RUNWIRE_DATABASE_URL": postgres.new_database(),
                "RUNWIRE_REDIS_URL": redis.url,
                "RUNWIRE_REDIS_KEY_PREFIX": f"takeover-{round_number}:",
                "RUNWIRE_BUILTIN_TOKENS_PER_SECOND": "50",
                "RUNWIRE_LEASE_TTL_SECONDS": f"{scale.lease_ttl:g}",
                "RUNWIRE_LEASE_HEARTBEAT_SECONDS": f"{scale.lease_heartbeat:g}",
                "RUNWIRE_LEASE_CLAIM_INTERVAL_SECONDS": f"{scale.lease_claim:g}",
            }
            print(f"[runwire] takeover after kill -9 (round {round_number + 1} of {scale.takeovers})", flush=True)
            rounds.append(await _one_takeover(scale, tmp, env, round_number))
    finally:
        redis.stop()
        postgres.stop()
    return {
        "lease_ttl_seconds": scale.lease_ttl,
        "lease_heartbeat_seconds": scale.lease_heartbeat,
        "lease_claim_interval_seconds": scale.lease_claim,
        "rounds": rounds,
        **{f"{key}_median": statistics.median(r[key] for r in rounds) for key in ("run_failed_seconds", "waiting_run_seconds")},
        **{f"{key}_max": max(r[key] for r in rounds) for key in ("run_failed_seconds", "waiting_run_seconds")},
    }


def replica_rows(runwire: dict[str, Any]) -> list[tuple[str, float | None, float, str, bool | None]]:
    """Summary rows of the figures measured with one and two processes on PostgreSQL (Runwire only)."""
    rows: list[tuple[str, float | None, float, str, bool | None]] = []
    scaling = runwire.get("replica_scaling")
    if scaling:
        size = f"{scaling['runs']} runs of {scaling['tokens']} tokens, concurrency {scaling['concurrency']}"
        for figure, label in (("runs_per_second", "runs/s"), ("tokens_per_second", "streamed tokens/s")):
            for processes in (1, 2):
                row_label = f"PostgreSQL, {processes} process(es), {label} ({size}) (Runwire only)"
                rows.append((row_label, None, scaling[f"processes_{processes}"][figure], "", None))
            ratio = "runs_ratio" if figure == "runs_per_second" else "tokens_ratio"
            rows.append((f"PostgreSQL, 2 processes / 1 process, {label}", None, scaling[ratio], "", None))
    takeover = runwire.get("takeover")
    if takeover:
        leases = (
            f"TTL {takeover['lease_ttl_seconds']:g} s, heartbeat {takeover['lease_heartbeat_seconds']:g} s, "
            f"claim {takeover['lease_claim_interval_seconds']:g} s"
        )
        expected = takeover["lease_ttl_seconds"] + takeover["lease_claim_interval_seconds"]
        bound = f"≤ TTL + claim ({expected:g} s)"
        rows.append((
            f"kill -9 to `run_failed SERVER_RESTARTED` on the survivor, median s ({leases})", None,
            takeover["run_failed_seconds_median"], bound, takeover["run_failed_seconds_max"] <= expected + 0.5,
        ))
        rows.append((
            f"kill -9 to a waiting run's approval accepted on the survivor, median s ({leases})", None,
            takeover["waiting_run_seconds_median"], bound, takeover["waiting_run_seconds_max"] <= expected + 0.5,
        ))
    return rows


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _median_by(results: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The round whose `key` is the median (for a dict of figures from one measurement, kept together)."""
    ordered = sorted(results, key=lambda r: r[key])
    return ordered[len(ordered) // 2]


def _ttft(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 50) * 1000, "p99": percentile(samples, 99) * 1000}


async def measure(targets: dict[str, Target], scale: Scale) -> dict[str, dict[str, Any]]:
    """Every figure for both servers, the two taking turns: each timed figure is measured `scale.rounds`
    times, alternating bare and Runwire, and the median round is kept, so a slow spell of a shared
    machine affects both sides instead of one."""
    results: dict[str, dict[str, Any]] = {kind: {} for kind in targets}

    async def rounds(label: str, key: str, measure_one: Any, pick: Any) -> None:
        samples: dict[str, list[Any]] = {kind: [] for kind in targets}
        for round_number in range(scale.rounds):
            for kind, target in targets.items():
                print(f"[{kind}] {label} (round {round_number + 1} of {scale.rounds})", flush=True)
                samples[kind].append(await measure_one(target))
        for kind in targets:
            results[kind][key] = pick(samples[kind])

    for rpc in UNARY_RPCS:
        await rounds(
            f"unary {rpc} at concurrency {scale.unary_concurrency}",
            "unary_qps" if rpc == "GetAgent" else f"unary_qps_{rpc}",
            lambda t, rpc=rpc: unary_qps(t, scale, rpc),
            statistics.median,
        )
    if scale.unary_only:
        return results
    await rounds("one stream", "single_stream", lambda t: single_stream(t, scale), lambda r: _median_by(r, "tokens_per_second"))
    for count in scale.stream_counts:
        await rounds(
            f"{count} concurrent streams",
            f"streams_{count}",
            lambda t, count=count: many_streams(t, count, scale),
            lambda r: _median_by(r, "tokens_per_second"),
        )
    await rounds(
        "time to first token (ExecuteAgent)",
        "ttft_ms",
        lambda t: time_to_first_token(t, scale),
        lambda r: _median_by([_ttft(samples) for samples in r], "p50"),
    )
    await rounds(
        "time to first token (StreamTokens)",
        "ttft_stream_tokens_ms",
        lambda t: time_to_first_token(t, scale, "StreamTokens"),
        lambda r: _median_by([_ttft(samples) for samples in r], "p50"),
    )
    for kind, target in targets.items():
        print(f"[{kind}] upload of {scale.upload_mib} MiB", flush=True)
        results[kind]["upload_mb_per_second"] = await upload_throughput(target, scale)
        print(f"[{kind}] batch of {scale.batch_tasks} tasks", flush=True)
        results[kind]["batch"] = await batch_throughput(target, scale)
        print(f"[{kind}] idle streams", flush=True)
        results[kind]["idle_stream_bytes"] = await idle_stream_memory(target, scale)
    return results


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "platform": platform.platform(),
    }


UNARY_TARGET = 0.6
UNARY_LABELS = {
    "GetAgent": "Unary GetAgent QPS (concurrency 32)",
    "GetSession": "Unary GetSession QPS (concurrency 32)",
    "ListMessages": f"Unary ListMessages QPS, pages of {LISTED_MESSAGES} (concurrency 32)",
    "CreateMessage": "Unary CreateMessage QPS (concurrency 32)",
}


def unary_rows(bare: dict[str, Any], runwire: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for rpc, label in UNARY_LABELS.items():
        key = "unary_qps" if rpc == "GetAgent" else f"unary_qps_{rpc}"
        target = f"≥ {UNARY_TARGET}× (goal 0.7×)" if rpc == "GetAgent" else f"≥ {UNARY_TARGET}×"
        rows.append((label, bare[key], runwire[key], target, runwire[key] / bare[key] >= UNARY_TARGET))
    return rows


def summarize(bare: dict[str, Any], runwire: dict[str, Any], scale: Scale) -> list[dict[str, Any]]:
    rows = [
        *unary_rows(bare, runwire),
        (
            "One stream, tokens/s (bare: one token per message)",
            bare["single_stream"]["tokens_per_second"],
            runwire["single_stream"]["tokens_per_second"],
            "≥ 0.8× of bare messages/s",
            runwire["single_stream"]["tokens_per_second"] / bare["single_stream"]["messages_per_second"] >= 0.8,
        ),
        (
            "One stream, events/s (by `seq`)",
            bare["single_stream"]["events_per_second"],
            runwire["single_stream"]["events_per_second"],
            "",
            None,
        ),
        (
            "One stream, messages/s (Runwire merges waiting deltas)",
            bare["single_stream"]["messages_per_second"],
            runwire["single_stream"]["messages_per_second"],
            "",
            None,
        ),
    ]
    for count in scale.stream_counts:
        key = f"streams_{count}"
        rows.append(
            (
                f"{count} streams, tokens/s (bare: one token per message)",
                bare[key]["tokens_per_second"],
                runwire[key]["tokens_per_second"],
                "≥ 2× at 500" if count == 500 else "",
                None if count != 500 else runwire[key]["tokens_per_second"] / bare[key]["messages_per_second"] >= 2,
            )
        )
    for key, rpc in (("ttft_ms", "ExecuteAgent"), ("ttft_stream_tokens_ms", "StreamTokens")):
        if key not in bare or key not in runwire:
            continue
        added_p50 = runwire[key]["p50"] - bare[key]["p50"]
        added_p99 = runwire[key]["p99"] - bare[key]["p99"]
        rows.append((f"Time to first token p50, ms ({rpc})", bare[key]["p50"], runwire[key]["p50"], f"added ≤ 2 ms (added {added_p50:.2f})", added_p50 <= 2.0))
        rows.append((f"Time to first token p99, ms ({rpc})", bare[key]["p99"], runwire[key]["p99"], f"added {added_p99:.2f} ms", None))
    rows.append(
        (
            "Memory per idle stream, KB",
            bare["idle_stream_bytes"] / 1000,
            runwire["idle_stream_bytes"] / 1000,
            "≤ 50 KB",
            runwire["idle_stream_bytes"] / 1000 <= 50,
        )
    )
    rows.append(
        (
            f"Upload throughput, MB/s ({scale.upload_mib} MiB in 1 MiB chunks; Runwire also hashes, checks and fsyncs)",
            bare["upload_mb_per_second"],
            runwire["upload_mb_per_second"],
            "",
            None,
        )
    )
    if "batch" in bare and "batch" in runwire:
        rows.append(
            (
                f"Batch of {scale.batch_tasks:,} tasks, tasks/s (bare: ExecuteAgent calls at concurrency {scale.batch_concurrency})",
                bare["batch"]["tasks_per_second"],
                runwire["batch"]["tasks_per_second"],
                "",
                None,
            )
        )
    if "connect_round_trips" in runwire:
        trips = runwire["connect_round_trips"]
        rows.append(
            (
                "Connect ping/pong round trips/s: left Runwire over gRPC, right through the gateway's WebSocket",
                trips["grpc"],
                trips["websocket"],
                "",
                None,
            )
        )


    fanout = runwire.get("notification_fanout")
    if fanout:
        clients = fanout["clients"]
        rows.append((f"Notification to {clients:,} Connect clients, p50 ms (Runwire only)", None, fanout["p50_ms"], "", None))
        rows.append((f"Notification to {clients:,} Connect clients, p99 ms (Runwire only)", None, fanout["p99_ms"], "", None))
    follow = runwire.get("replica_follow")
    if follow:
        # Redis: within 20 ms of a follower on the owning replica.
        rows.append((
            "Follower on another replica (PostgreSQL + Redis), added delay p50 ms (Runwire only)", None,
            follow["p50_ms"], "≤ 20 ms", follow["p50_ms"] <= 20,
        ))
        rows.append(("Follower on another replica (PostgreSQL + Redis), added delay p99 ms (Runwire only)", None, follow["p99_ms"], "", None))
    rows.extend(replica_rows(runwire))
    rows.extend(crew_rows(runwire.get("crews")))
    return [
        {"metric": m, "bare": b, "runwire": r, "ratio": (r / b if b else None), "target": t, "met": met}
        for m, b, r, t, met in rows
    ]


def table(summary: list[dict[str, Any]]) -> str:
    lines = ["| metric | bare grpc.aio | Runwire | Runwire/bare | target |", "| --- | ---: | ---: | ---: | --- |"]
    for row in summary:
        verdict = "" if row["met"] is None else (" ✓" if row["met"] else " ✗")
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else ""
        bare = "—" if row["bare"] is None else f"{row['bare']:,.1f}"
        lines.append(f"| {row['metric']} | {bare} | {row['runwire']:,.1f} | {ratio} | {row['target']}{verdict} |")
    return "\n".join(lines)


def update_readme(markdown: str, stamp: str, info: dict[str, Any]) -> None:
    text = README.read_text()
    block = (
        "<!-- bench:start -->\n"
        f"Latest `make bench` ({stamp}, {info['cores']} cores, {info['cpu']}, Python {info['python']}, grpcio {info['grpcio']}):\n\n"
        f"{markdown}\n<!-- bench:end -->"
    )
    updated, count = re.subn(r"<!-- bench:start -->.*?<!-- bench:end -->", block, text, flags=re.S)
    if count:
        README.write_text(updated)


async def run(scale: Scale, out: Path, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runwire-bench-") as tmp:
        with server_process("bare", Path(tmp)) as (bare_address, bare), server_process(
            "runwire", Path(tmp)
        ) as (runwire_address, runwire):
            async with grpc.aio.insecure_channel(bare_address) as bare_channel, grpc.aio.insecure_channel(
                runwire_address
            ) as runwire_channel:
                targets = {
                    "bare": Target("bare", bare_channel, bare.pid),
                    "runwire": Target("runwire", runwire_channel, runwire.pid),
                }
                for target in targets.values():
                    await target.prepare()
                results = await measure(targets, scale)
                if scale.unary_only:
                    return unary_report(results, out)
                with gateway_process(runwire_address, Path(tmp)) as gateway:
                    samples: dict[str, list[float]] = {"grpc": [], "websocket": []}
                    for round_number in range(scale.rounds):
                        for over, through in (("grpc", None), ("websocket", gateway)):
                            print(f"[runwire] Connect ping/pong over {over} (round {round_number + 1} of {scale.rounds})", flush=True)
                            samples[over].append(await connect_round_trips(runwire_channel, through, scale.connect_round_trips))
                    results["runwire"]["connect_round_trips"] = {over: statistics.median(v) for over, v in samples.items()}


                print(f"[runwire] notification to {scale.notification_clients} Connect clients", flush=True)
                results["runwire"]["notification_fanout"] = await notification_fanout(runwire_address, scale)
                results["runwire"]["crews"] = await measure_crews(runwire_channel, KEY, scale.crew)
        results["runwire"]["replica_follow"] = await replica_follow_delay(scale, Path(tmp))
        replica_scale = REPLICA_QUICK if quick else ReplicaScale()
        results["runwire"]["replica_scaling"] = await replica_scaling(replica_scale, Path(tmp))
        results["runwire"]["takeover"] = await takeover_time(replica_scale, Path(tmp))
    summary = summarize(results["bare"], results["runwire"], scale)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    info = machine()
    report = {"time": stamp, "machine": info, "scale": scale.__dict__, "quick": quick, "results": results, "summary": summary}
    out.mkdir(parents=True, exist_ok=True)
    name = f"{stamp}{'-quick' if quick else ''}.json"
    (out / name).write_text(json.dumps(report, indent=2, default=str))
    markdown = table(summary)
    print(markdown)
    if not quick:
        (out / "latest.json").write_text(json.dumps(report, indent=2, default=str))
        update_readme(markdown, stamp, info)
    return report


def unary_report(results: dict[str, Any], out: Path) -> dict[str, Any]:
    """The unary rows alone, printed and written to bench/results/unary-{time}.json (README untouched)."""
    summary = [
        {"metric": m, "bare": b, "runwire": r, "ratio": r / b, "target": t, "met": met}
        for m, b, r, t, met in unary_rows(results["bare"], results["runwire"])
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    report = {"time": stamp, "machine": machine(), "results": results, "summary": summary}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"unary-{stamp}.json").write_text(json.dumps(report, indent=2, default=str))
    print(table(summary))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for checking the harness (README untouched)")
    parser.add_argument("--unary", action="store_true", help="only the unary figures, at full size (README untouched)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    import uvloop

    scale = dataclasses.replace(QUICK if args.quick else Scale(), unary_only=args.unary)
    uvloop.run(run(scale, args.out, args.quick))


if __name__ == "__main__":
    main()
