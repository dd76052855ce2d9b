"""Run streams resume after a dropped connection: the events received are the run's events, in order, none twice.

The client talks to the server through a TCP proxy that the tests cut, or
stop and start again, in the middle of a run. The run goes on on the server
(a stream observes a run, it does not own it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest

from runwire.client import AsyncClient, Client, NotFound, ResumePolicy, Unavailable
from runwire.server.app import RunwireServer
from runwire.v1 import agent_pb2, run_pb2, run_pb2_grpc, session_pb2
from tests.client.support import WAIT, Proxy
from tests.grpc.run_support import run_settings

TOKENS = 5000
EXPECTED_TEXT = " ".join(f"t{i}" for i in range(1, TOKENS + 1))


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    instance = RunwireServer(run_settings(tmp_path))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop(grace=0.5)


@pytest.fixture
async def proxy(server: RunwireServer) -> AsyncIterator[Proxy]:
    instance = await Proxy(server.port).start()
    try:
        yield instance
    finally:
        await instance.stop()


def direct(server: RunwireServer) -> str:
    return f"127.0.0.1:{server.port}"


async def new_session(server: RunwireServer) -> str:
    async with AsyncClient(direct(server)) as client:
        agent = await client.agents.create(agent_pb2.Agent(display_name="streamer"))
        return (await client.sessions.create(session_pb2.Session(agent=agent.name))).name


async def recorded_events(server: RunwireServer, run: str) -> list[run_pb2.RunEvent]:
    """Every event of an ended run, read in one uninterrupted call straight from the server."""
    async with grpc.aio.insecure_channel(direct(server)) as channel:
        call = run_pb2_grpc.RunServiceStub(channel).StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run), timeout=WAIT)
        return [event async for event in call]


def text_of(events: list[run_pb2.RunEvent]) -> str:
    return "".join(e.text_delta.text for e in events if e.WhichOneof("payload") == "text_delta")


def assert_exactly_the_run(received: list[run_pb2.RunEvent], recorded: list[run_pb2.RunEvent]) -> None:
    """The same events as the run's log, in order, none twice. Text deltas a slow reader falls behind on
    come merged (the merged event carries the seq of the last delta in it), so they are compared as text."""
    seqs = [e.seq for e in received]
    assert seqs == sorted(set(seqs)) and seqs[-1] == recorded[-1].seq
    assert text_of(received) == text_of(recorded)
    others = [e for e in received if e.WhichOneof("payload") != "text_delta"]
    assert others == [e for e in recorded if e.WhichOneof("payload") != "text_delta"]
    assert received[-1].WhichOneof("payload") == "run_completed"


async def test_a_cut_connection_in_the_middle_of_the_text_loses_nothing(server: RunwireServer, proxy: Proxy) -> None:
    session = await new_session(server)
    proxy.cut_after(downstream_bytes=8000)
    async with AsyncClient(proxy.address, stream_timeout=WAIT) as client:
        stream = client.runs.execute(session, f"[[tokens:{TOKENS}]]")
        received = [event async for event in stream]
    assert proxy.cuts == 1 and stream.resumes >= 1
    assert text_of(received).strip() == EXPECTED_TEXT
    assert_exactly_the_run(received, await recorded_events(server, stream.run))


async def test_the_sync_stream_resumes_the_same_way(server: RunwireServer, proxy: Proxy) -> None:
    session = await new_session(server)
    proxy.cut_after(downstream_bytes=8000)

    def read_all() -> tuple[list[run_pb2.RunEvent], str, int]:
        with Client(proxy.address, stream_timeout=WAIT) as client:
            stream = client.runs.execute(session, f"[[tokens:{TOKENS}]]")
            return list(stream), stream.run, stream.resumes

    received, run, resumes = await asyncio.wait_for(asyncio.to_thread(read_all), WAIT)
    assert proxy.cuts == 1 and resumes >= 1
    assert text_of(received).strip() == EXPECTED_TEXT
    assert_exactly_the_run(received, await recorded_events(server, run))


async def test_the_stream_waits_for_the_server_to_come_back(server: RunwireServer, proxy: Proxy) -> None:
    session = await new_session(server)
    async with AsyncClient(proxy.address, stream_timeout=WAIT) as client, AsyncClient(direct(server)) as helper:
        stream = client.runs.execute(session, "[[ask:Your name?]]")
        received = []
        async for event in stream:
            received.append(event)
            if event.WhichOneof("payload") == "input_required":
                # The run waits for a person; the network goes away, the person answers, the network comes back.
                await proxy.stop()
                request = event.input_required.input_request
                await helper.runs.submit_input(request.run, request.id, text="Ada")
                await proxy.restart()
    assert stream.resumes >= 1
    assert text_of(received) == "You said: Ada"
    assert_exactly_the_run(received, await recorded_events(server, stream.run))


async def test_following_an_existing_run_from_a_sequence_number(server: RunwireServer, proxy: Proxy) -> None:
    session = await new_session(server)
    async with AsyncClient(proxy.address, stream_timeout=WAIT) as client:
        run = await client.runs.create(session, "[[tokens:300]]")
        proxy.cut_after(downstream_bytes=3000)
        # run_created (seq 1) is stored when CreateRun returns; later events may not be yet.
        stream = client.runs.stream(run.name, after_seq=1)
        received = [event async for event in stream]
    recorded = await recorded_events(server, run.name)
    assert proxy.cuts == 1 and stream.resumes >= 1
    assert received[0].seq > 1
    assert_exactly_the_run(received, [e for e in recorded if e.seq > 1])


async def test_a_drop_before_the_first_event_starts_no_second_run(server: RunwireServer, proxy: Proxy) -> None:
    session = await new_session(server)
    # The connection breaks as soon as the server says anything: before any event of the run.
    proxy.cut_after(downstream_bytes=0)
    async with AsyncClient(proxy.address, stream_timeout=WAIT) as client:
        stream = client.runs.execute(session, "hello")
        received = [event async for event in stream]
    assert proxy.cuts == 1 and stream.resumes >= 1
    assert text_of(received) == "You said: hello"
    async with AsyncClient(direct(server)) as helper:
        runs = [run async for run in helper.runs.list(filter=f'session = "{session}"')]
    assert [run.name for run in runs] == [stream.run]
    assert_exactly_the_run(received, await recorded_events(server, stream.run))


async def test_a_stream_gives_up_when_the_server_stays_away(server: RunwireServer, proxy: Proxy) -> None:
    session = await new_session(server)
    policy = ResumePolicy(timeout=0.3)
    async with AsyncClient(proxy.address, stream_timeout=WAIT, resume=policy) as client:
        stream = client.runs.execute(session, "[[ask:Anyone there?]]")
        with pytest.raises(Unavailable):
            async for event in stream:
                if event.WhichOneof("payload") == "input_required":
                    await proxy.stop()
    assert stream.resumes >= 1


async def test_errors_other_than_a_drop_are_not_resumed(server: RunwireServer, proxy: Proxy) -> None:
    async with AsyncClient(proxy.address, stream_timeout=WAIT) as client:
        stream = client.runs.execute("sessions/missing", "hello")
        with pytest.raises(NotFound) as missing:
            async for _ in stream:
                pass
    assert missing.value.reason == "SESSION_NOT_FOUND" and stream.resumes == 0
