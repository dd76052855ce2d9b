"""Resource events beyond the basics: files announce their processing, replicas over one database see each
other's events (at once through Redis), and an input request nobody answers expires on Connect."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

from runwire.server.config import EventSettings
from runwire.v1 import event_pb2, event_pb2_grpc, file_pb2, file_pb2_grpc, run_pb2
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
