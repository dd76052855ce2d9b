"""Resource events beyond the basics: files announce their processing, replicas over one database see each
other's events (at once through Redis), and an input request nobody answers expires on Connect."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

from runwire.server.config import EventSettings
from runwire.v1 import (
    batch_pb2,
    batch_pb2_grpc,
    event_pb2,
    event_pb2_grpc,
    file_pb2,
    file_pb2_grpc,
    mcp_server_pb2,
    memory_pb2,
    memory_pb2_grpc,
    run_pb2,
)
from tests.grpc.run_support import connected, run_settings, seconds, serving
from tests.grpc.secure_support import running
from tests.grpc.test_connect import Connection, Resolved
from tests.grpc.test_events import live, read_events
from tests.redis_support import RedisServer

Topic = event_pb2.EventTopic


async def test_a_file_announces_its_upload_processing_and_deletion(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        stub = event_pb2_grpc.EventServiceStub(runs.client.channel)
        files = file_pb2_grpc.FileServiceStub(runs.client.channel)
        call = await live(stub, from_now=True, topics=[Topic.EVENT_TOPIC_FILES])
        metadata = file_pb2.UploadFileMetadata(filename="notes.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS)
        uploaded = await files.UploadFile(
            iter([file_pb2.UploadFileRequest(metadata=metadata), file_pb2.UploadFileRequest(chunk=b"hello events\n")])
        )
        events = [await read_events(call, 1)]
        while events[-1][0].file.state not in (file_pb2.File.STATE_COMPLETED, file_pb2.File.STATE_FAILED):
            events.append(await read_events(call, 1))
        await files.DeleteFile(file_pb2.DeleteFileRequest(name=uploaded.name))
        [deleted] = await read_events(call, 1)
        call.cancel()
    flat = [e for [e] in events]
    assert flat[0].type == "file.created" and flat[0].resource == uploaded.name
    assert {e.type for e in flat[1:]} == {"file.updated"}
    assert flat[-1].file.state == file_pb2.File.STATE_COMPLETED and flat[-1].file.text_chars > 0
    assert (deleted.type, deleted.resource) == ("file.deleted", uploaded.name)


def _replica_settings(tmp_path: Path, **events: object):  # type: ignore[no-untyped-def]
    settings = run_settings(tmp_path)
    return dataclasses.replace(settings, events=dataclasses.replace(EventSettings(), **events))


async def test_replicas_over_one_database_see_each_others_events_by_polling(tmp_path: Path) -> None:
    settings = _replica_settings(tmp_path, event_poll_seconds=0.05)
    async with running(settings) as first, running(settings) as second:
        async with connected(first) as on_first, connected(second) as on_second:
            call = await live(event_pb2_grpc.EventServiceStub(on_second.client.channel), from_now=True)
            agent = await on_first.client.agent("made on the first")
            [event] = await read_events(call, 1)
            call.cancel()
    assert (event.type, event.resource) == ("agent.created", agent.name)


async def test_replicas_sharing_redis_see_each_others_events_without_waiting_for_the_poll(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # Polling once an hour: only the Redis announcement can bring the event in time.
    settings = dataclasses.replace(
        _replica_settings(tmp_path, event_poll_seconds=3600.0),
        redis_url=redis_server.url,
        redis_key_prefix=f"test-{uuid.uuid4().hex[:8]}:",
    )
    async with running(settings) as first, running(settings) as second:
        async with connected(first) as on_first, connected(second) as on_second:
            call = await live(event_pb2_grpc.EventServiceStub(on_second.client.channel), from_now=True)
            agents = [await on_first.client.agent(f"agent {i}") for i in range(3)]
            events = await read_events(call, 3)
            call.cancel()
    assert [e.resource for e in events] == [a.name for a in agents]


async def test_an_unanswered_request_expires_with_a_notice_on_connect(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        session = await runs.session()
        connection = Connection(runs.client.channel)
        await connection.send(hello=event_pb2.ConnectHello(accept_input_requests=True))
        await connection.next("connected")
        run = await runs.create(session, "[[ask:Anyone there?]]", options=run_pb2.RunOptions(input_timeout=seconds(0.2)))
        request = (await connection.next("request")).request
        resolved = (await connection.next("request_resolved")).request_resolved
        assert (resolved.server_request_id, resolved.outcome) == (request.id, Resolved.OUTCOME_EXPIRED)
        notice = (await connection.next("notification")).notification
        assert notice.level == event_pb2.Notification.LEVEL_WARNING and notice.resource == run.name
        ended = await runs.wait_end(run.name)
        assert ended.status == run_pb2.Run.STATUS_FAILED and ended.error.reason == "INPUT_TIMEOUT"
        connection.call.cancel()


async def test_memories_announce_their_changes_and_each_memory_a_clear_removes(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        channel = runs.client.channel
        stub = event_pb2_grpc.EventServiceStub(channel)
        memories = memory_pb2_grpc.MemoryServiceStub(channel)
        call = await live(stub, from_now=True, topics=[Topic.EVENT_TOPIC_MEMORIES])
        fact = memory_pb2.Memory(type=memory_pb2.Memory.TYPE_FACT, content="likes tea")
        first = await memories.CreateMemory(memory_pb2.CreateMemoryRequest(memory=fact))
        second = await memories.CreateMemory(memory_pb2.CreateMemoryRequest(memory=fact))
        await memories.DeleteMemory(memory_pb2.DeleteMemoryRequest(name=first.name))
        await memories.ClearMemories(memory_pb2.ClearMemoriesRequest(all=True))
        events = await read_events(call, 4)
        call.cancel()
    assert [(e.type, e.resource) for e in events] == [
        ("memory.created", first.name),
        ("memory.created", second.name),
        ("memory.deleted", first.name),
        ("memory.deleted", second.name),
    ]
    assert events[0].memory.content == "likes tea"


async def test_a_batch_announces_its_states_and_each_task_change(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        channel = runs.client.channel
        stub = event_pb2_grpc.EventServiceStub(channel)
        agent = await runs.agent()
        call = await live(stub, from_now=True, topics=[Topic.EVENT_TOPIC_BATCHES])
        batch = await batch_pb2_grpc.BatchServiceStub(channel).CreateBatch(
            batch_pb2.CreateBatchRequest(
                batch=batch_pb2.Batch(
                    inline_tasks=batch_pb2.BatchInlineTasks(
                        tasks=[batch_pb2.BatchTaskInput(agent=agent, text=f"task {i}") for i in range(2)]
                    )
                )
            )
        )
        events = []
        while not (events and events[-1].type == "batch.updated" and events[-1].batch.state == batch_pb2.Batch.STATE_SUCCEEDED):
            events.extend(await read_events(call, 1))
        call.cancel()
    assert (events[0].type, events[0].resource, events[0].batch.counts.total) == ("batch.created", batch.name, 2)
    assert [e.batch.state for e in events if e.type == "batch.updated"] == [
        batch_pb2.Batch.STATE_RUNNING,
        batch_pb2.Batch.STATE_SUCCEEDED,
    ]
    assert events[-1].batch.counts.succeeded == 2
    task_changes = [(e.resource, e.batch_task.status) for e in events if e.type == "batch_task.updated"]
    tasks = sorted({resource for resource, _ in task_changes})
    assert len(tasks) == 2 and all(t.startswith(f"{batch.name}/tasks/") for t in tasks)
    for name in tasks:
        mine = [status for resource, status in task_changes if resource == name]
        assert mine == [batch_pb2.BatchTask.STATUS_RUNNING, batch_pb2.BatchTask.STATUS_SUCCEEDED]


async def test_an_mcp_server_announces_its_registration_connection_and_removal(tmp_path: Path) -> None:
    from tests.grpc.mcp_support import READY
    from tests.grpc.test_mcp_servers import mcp_serving

    async with mcp_serving(tmp_path) as mcp:
        stub = event_pb2_grpc.EventServiceStub(mcp.runs.client.channel)
        call = await live(stub, from_now=True, topics=[Topic.EVENT_TOPIC_MCP_SERVERS])
        server = await mcp.register()
        await mcp.wait_for(server.name, lambda s: s.state == READY)
        events = await read_events(call, 1)
        while events[-1].mcp_server.state != READY:
            events.extend(await read_events(call, 1))
        await mcp.servers.DeleteMcpServer(mcp_server_pb2.DeleteMcpServerRequest(name=server.name))
        events.extend(await read_events(call, 1))
        call.cancel()
    assert (events[0].type, events[0].resource) == ("mcp_server.created", server.name)
    assert {e.type for e in events[1:-1]} == {"mcp_server.updated"}
    assert events[-2].mcp_server.tools, "the ready server's tools are in the payload"
    assert (events[-1].type, events[-1].resource) == ("mcp_server.deleted", server.name)
    assert all(e.principal == events[0].principal for e in events)


async def test_events_flow_over_the_async_database_driver_too(tmp_path: Path) -> None:
    settings = dataclasses.replace(run_settings(tmp_path), database_url=f"sqlite+aiosqlite:///{tmp_path / 'async.db'}")
    async with running(settings) as server, connected(server) as runs:
        assert not server.agents.ctx.store.inline
        call = await live(event_pb2_grpc.EventServiceStub(runs.client.channel), from_now=True)
        session = await runs.session()
        run = await runs.create(session, "hello")
        await runs.wait_end(run.name)
        events = await read_events(call, 5)
        call.cancel()
    assert [e.type for e in events] == ["agent.created", "session.created", "run.created", "run.started", "message.created"]
