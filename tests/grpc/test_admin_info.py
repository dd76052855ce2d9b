"""AdminService through real stubs: server info, open streams and connections, admins only."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest

from runwire.server.app import VERSION, RunwireServer
from runwire.v1 import admin_pb2, batch_pb2, batch_pb2_grpc, mcp_server_pb2, mcp_server_pb2_grpc, run_pb2
from tests.conftest import rpc_error
from tests.grpc.mcp_support import fake_stdio
from tests.grpc.secure_support import (
    ADMIN_KEY,
    STREAM_TIMEOUT,
    api_key,
    caller,
    create_key,
    fails,
    running,
    secure_settings,
)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    async with running(secure_settings(tmp_path)) as instance:
        yield instance


async def test_only_admins_see_the_server_streams_and_connections(server: RunwireServer) -> None:
    async with caller(server, api_key(ADMIN_KEY)) as admin:
        secret = (await create_key(admin, "carol")).secret
    async with caller(server, api_key(secret)) as carol:
        for call in (
            carol.admin.GetServerInfo(admin_pb2.GetServerInfoRequest()),
            carol.admin.ListStreams(admin_pb2.ListStreamsRequest()),
            carol.admin.ListConnections(admin_pb2.ListConnectionsRequest()),
        ):
            failure = await fails(call)
            assert failure.code == grpc.StatusCode.PERMISSION_DENIED and failure.reason == "PERMISSION_DENIED"


async def test_server_info_describes_version_backends_providers_and_counts(server: RunwireServer, database_backend: str) -> None:
    async with caller(server, api_key(ADMIN_KEY)) as admin:
        await create_key(admin, "dave")
        session = await admin.session()
        info = await admin.admin.GetServerInfo(admin_pb2.GetServerInfoRequest())
    assert info.version == VERSION and info.replica.endswith(f":{__import__('os').getpid()}")
    # The owner recorded on this process's leases: the replica, and what tells this start from the others.
    assert info.process_id.startswith(info.replica + ":") and len(info.process_id) > len(info.replica) + 1
    assert info.start_time.seconds <= time.time() and info.workers == 1
    assert info.backends.database == database_backend and info.backends.rate_limiter == "disabled"
    assert info.backends.event_bus == "memory" and info.backends.file_store == "local"
    assert [(p.name, p.is_default) for p in info.providers] == [("builtin", True), ("openai", False)]
    assert info.counts.agents == 1 and info.counts.sessions == 1 and session.name and info.counts.files == 0
    assert info.counts.active_api_keys == 2  # the bootstrap admin key and dave's
    assert info.counts.streams == 0 and info.config_revision == 1
    assert info.grpc_version == grpc.__version__ and info.protobuf_backend in ("upb", "cpp", "python")
    assert info.python_version.count(".") == 2


async def test_open_streams_are_listed_with_who_follows_what(server: RunwireServer) -> None:
    async with caller(server, api_key(ADMIN_KEY)) as admin:
        secret = (await create_key(admin, "erin")).secret
        async with caller(server, api_key(secret), ("user-agent", "erin-app/1.0")) as erin:
            run_name = await erin.waiting_run()
            follow = erin.follow(run_name)
            await asyncio.wait_for(follow.read(), STREAM_TIMEOUT)  # the stream is open and has sent its first event

            listed = await admin.admin.ListStreams(admin_pb2.ListStreamsRequest(filter='principal = "erin"'))
            assert listed.total_size == 1
            stream = listed.streams[0]
            assert stream.method == "/runwire.v1.RunService/StreamRunEvents" and stream.follows == run_name
            assert stream.principal == "erin" and stream.peer.startswith("ipv4:127.0.0.1:")
            assert stream.messages_sent >= 1 and stream.HasField("last_send_time") and stream.HasField("deadline")
            assert stream.start_time.seconds <= time.time() and stream.replica
            # The entry names the process serving it: the list is this replica's.
            assert stream.process_id == server.process_id

            by_method = await admin.admin.ListStreams(
                admin_pb2.ListStreamsRequest(filter='method:"StreamRunEvents" AND NOT principal = "admin"')
            )
            assert [s.id for s in by_method.streams] == [stream.id]
            info = await admin.admin.GetServerInfo(admin_pb2.GetServerInfoRequest())
            assert info.counts.streams == 1 and info.counts.runs_requires_input == 1
            assert (await admin.admin.ListConnections(admin_pb2.ListConnectionsRequest())).total_size == 0

            follow.cancel()
            deadline = time.monotonic() + STREAM_TIMEOUT
            while (await admin.admin.ListStreams(admin_pb2.ListStreamsRequest())).total_size:
                assert time.monotonic() < deadline, "a cancelled stream stayed listed"
                await asyncio.sleep(0.02)
            await erin.runs.CancelRun(run_pb2.CancelRunRequest(name=run_name))


async def test_streams_are_paged_and_bad_filters_refused(server: RunwireServer) -> None:
    async with caller(server, api_key(ADMIN_KEY)) as admin:
        runs = [await admin.waiting_run() for _ in range(3)]
        follows = [admin.follow(run) for run in runs]
        for call in follows:
            await asyncio.wait_for(call.read(), STREAM_TIMEOUT)
        first = await admin.admin.ListStreams(admin_pb2.ListStreamsRequest(page_size=2, order_by="start_time"))
        rest = await admin.admin.ListStreams(
            admin_pb2.ListStreamsRequest(page_size=2, order_by="start_time", page_token=first.next_page_token)
        )
        assert first.total_size == 3 and len(first.streams) == 2 and len(rest.streams) == 1 and not rest.next_page_token
        assert sorted(s.follows for s in [*first.streams, *rest.streams]) == sorted(runs)

        unknown = await rpc_error(admin.admin.ListStreams(admin_pb2.ListStreamsRequest(filter="colour = red")))
        assert unknown.code == grpc.StatusCode.INVALID_ARGUMENT and unknown.reason == "INVALID_FILTER"
        recent = await admin.admin.ListStreams(admin_pb2.ListStreamsRequest(filter='start_time > "2000-01-01T00:00:00Z"'))
        assert recent.total_size == 3
        for call in follows:
            call.cancel()
        for run in runs:
            await admin.runs.CancelRun(run_pb2.CancelRunRequest(name=run))


async def test_server_info_counts_active_batches_and_ready_mcp_servers(server: RunwireServer) -> None:
    async with caller(server, api_key(ADMIN_KEY)) as admin:
        agent = await admin.agent()
        mcp = mcp_server_pb2_grpc.McpServerServiceStub(admin.channel)
        await mcp.CreateMcpServer(
            mcp_server_pb2.CreateMcpServerRequest(
                mcp_server=mcp_server_pb2.McpServer(display_name="Fake tools", stdio=fake_stdio()), mcp_server_id="fake-tools"
            ),
            timeout=30,
        )
        batches = batch_pb2_grpc.BatchServiceStub(admin.channel)
        batch = batch_pb2.Batch()
        batch.inline_tasks.tasks.append(batch_pb2.BatchTaskInput(agent=agent.name, text="[[ask:Which one?]]"))
        created = await batches.CreateBatch(batch_pb2.CreateBatchRequest(batch=batch))

        deadline = time.monotonic() + 30
        while True:
            counts = (await admin.admin.GetServerInfo(admin_pb2.GetServerInfoRequest())).counts
            if counts.mcp_servers_ready == 1 and counts.runs_requires_input == 1:
                break
            assert time.monotonic() < deadline, counts
            await asyncio.sleep(0.1)
        assert counts.mcp_servers == 1 and counts.batches_active == 1

        await batches.CancelBatch(batch_pb2.CancelBatchRequest(name=created.name))
        await mcp.DeleteMcpServer(mcp_server_pb2.DeleteMcpServerRequest(name="mcpServers/fake-tools", force=True))
        while True:
            counts = (await admin.admin.GetServerInfo(admin_pb2.GetServerInfoRequest())).counts
            if counts.batches_active == 0:
                break
            assert time.monotonic() < deadline, counts
            await asyncio.sleep(0.1)
        assert counts.mcp_servers == 0 and counts.mcp_servers_ready == 0
