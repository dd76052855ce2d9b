"""Request bodies that do not decode as their method's message: INVALID_ARGUMENT with reason MALFORMED_REQUEST,
for unary, server-streaming, client-streaming and bidirectional calls; one short access line, no traceback,
counted like any other call; and nothing for a caller without credentials but UNAUTHENTICATED.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2

from runwire.server.app import RunwireServer
from runwire.server.core import metrics
from runwire.v1 import event_pb2, file_pb2
from tests.grpc.secure_support import ADMIN_KEY, Failure, api_key, failure_of, running, secure_settings
from tests.grpc.wire_support import deep_struct, length_delimited

GET_AGENT = "/runwire.v1.AgentService/GetAgent"
CREATE_SESSION = "/runwire.v1.SessionService/CreateSession"
STREAM_RUN_EVENTS = "/runwire.v1.RunService/StreamRunEvents"
UPLOAD_FILE = "/runwire.v1.FileService/UploadFile"
CONNECT = "/runwire.v1.EventService/Connect"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
ADMIN = (api_key(ADMIN_KEY),)
TIMEOUT = 10.0

CORRUPT = b"\xff\xff\xff\xff"
# Field 1 (`name` of GetAgentRequest, a string) holding bytes that are not UTF-8.
BAD_UTF8 = b"\x0a\x02\xff\xfe"


def deep_struct_request(depth: int = 200) -> bytes:
    """A CreateSessionRequest whose session metadata nests lists deeper than the decoder allows."""
    session = length_delimited(1, b"agents/a") + length_delimited(5, deep_struct(depth))  # Session.agent, .metadata
    return length_delimited(1, session)  # CreateSessionRequest.session


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    async with running(secure_settings(tmp_path)) as server:
        yield server


@pytest.fixture
async def channel(server: RunwireServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


def assert_malformed(failure: Failure, message_type: str) -> None:
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure
    assert failure.reason == "MALFORMED_REQUEST"
    assert failure.message == f"the request is not a valid {message_type} message"
    assert failure.metadata["message_type"] == message_type
    assert failure.localized == ("en", failure.message)
    for internal in ("<class", "DecodeError", "google.protobuf", "Traceback"):
        assert internal not in failure.message


async def unary_failure(channel: grpc.aio.Channel, method: str, body: bytes, metadata: Any = ADMIN) -> Failure:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary(method)(body, metadata=metadata, timeout=TIMEOUT)
    return failure_of(caught.value)


@pytest.mark.parametrize(
    ("method", "body", "message_type"),
    [
        (GET_AGENT, CORRUPT, "runwire.v1.GetAgentRequest"),
        (GET_AGENT, BAD_UTF8, "runwire.v1.GetAgentRequest"),
        (CREATE_SESSION, deep_struct_request(), "runwire.v1.CreateSessionRequest"),
    ],
    ids=["corrupt", "bad-utf8", "deep-struct"],
)
async def test_a_unary_request_that_does_not_decode_is_malformed(channel: grpc.aio.Channel, method: str, body: bytes, message_type: str) -> None:
    assert_malformed(await unary_failure(channel, method, body), message_type)


async def test_a_caller_without_credentials_learns_only_that_it_is_unauthenticated(channel: grpc.aio.Channel) -> None:
    failure = await unary_failure(channel, GET_AGENT, CORRUPT, metadata=None)
    assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    assert "message" not in failure.message and "GetAgentRequest" not in failure.message


async def test_open_services_answer_malformed_without_credentials(channel: grpc.aio.Channel) -> None:
    assert_malformed(await unary_failure(channel, HEALTH_CHECK, CORRUPT, metadata=None), "grpc.health.v1.HealthCheckRequest")


async def test_a_server_stream_request_that_does_not_decode_is_malformed(channel: grpc.aio.Channel) -> None:
    stream = channel.unary_stream(STREAM_RUN_EVENTS)(BAD_UTF8, metadata=ADMIN, timeout=TIMEOUT)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stream:
            pass
    assert_malformed(failure_of(caught.value), "runwire.v1.StreamRunEventsRequest")


async def test_an_upload_chunk_that_does_not_decode_ends_the_upload_as_malformed(channel: grpc.aio.Channel) -> None:
    first = file_pb2.UploadFileRequest(
        metadata=file_pb2.UploadFileMetadata(filename="notes.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS)
    ).SerializeToString()

    async def messages() -> AsyncIterator[bytes]:
        yield first
        yield file_pb2.UploadFileRequest(chunk=b"hello").SerializeToString()
        yield CORRUPT

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.stream_unary(UPLOAD_FILE)(messages(), metadata=ADMIN, timeout=TIMEOUT)
    assert_malformed(failure_of(caught.value), "runwire.v1.UploadFileRequest")


async def test_a_connect_message_that_does_not_decode_ends_the_connection_as_malformed(channel: grpc.aio.Channel) -> None:
    stream = channel.stream_stream(CONNECT)(metadata=ADMIN, timeout=TIMEOUT)
    first = event_pb2.ConnectResponse.FromString(await stream.read())
    assert first.WhichOneof("message") == "connected"
    await stream.write(event_pb2.ConnectRequest(correlation_id="1", ping=event_pb2.Ping(nonce="n")).SerializeToString())
    await stream.write(CORRUPT)
    answers = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        while (message := await stream.read()) is not grpc.aio.EOF:
            answers.append(event_pb2.ConnectResponse.FromString(message))
    assert_malformed(failure_of(caught.value), "runwire.v1.ConnectRequest")
    assert [a.WhichOneof("message") for a in answers if a.correlation_id == "1"] == ["pong"]


async def test_a_malformed_request_logs_one_short_line_and_counts(
    server: RunwireServer, channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    def calls(code: str) -> float:
        return metrics.REGISTRY.get_sample_value("runwire_calls_total", {"method": GET_AGENT, "code": code}) or 0.0

    before = calls("INVALID_ARGUMENT")
    request_id = "malformed-1"
    caplog.set_level(logging.INFO)
    await unary_failure(channel, GET_AGENT, CORRUPT, metadata=(*ADMIN, ("x-request-id", request_id)))
    # The access line is written as the call ends, which may be just after the client has its answer.
    for _ in range(100):
        if any(request_id in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    lines = [r for r in caplog.records if request_id in r.getMessage() or getattr(r, "request_id", None) == request_id]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    (line,) = lines
    assert line.name == "runwire.calls" and line.levelno == logging.INFO and line.exc_info is None
    message = line.getMessage()
    assert "code=INVALID_ARGUMENT reason=MALFORMED_REQUEST" in message and "\n" not in message and len(message) < 200
    assert line.reason == "MALFORMED_REQUEST"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "DecodeError" in r.getMessage() + str(r.exc_info)]
    assert calls("INVALID_ARGUMENT") == before + 1


async def test_the_health_service_still_serves_after_malformed_requests(channel: grpc.aio.Channel) -> None:
    for body in (CORRUPT, BAD_UTF8):
        await unary_failure(channel, GET_AGENT, body)
    answer = await channel.unary_unary(HEALTH_CHECK)(health_pb2.HealthCheckRequest().SerializeToString(), timeout=TIMEOUT)
    assert health_pb2.HealthCheckResponse.FromString(answer).status == health_pb2.HealthCheckResponse.SERVING


async def test_grpc_refuses_an_oversized_request_itself_and_an_unknown_method_is_unimplemented(
    server: RunwireServer, channel: grpc.aio.Channel
) -> None:
    limit = server.settings.max_receive_message_bytes
    with pytest.raises(grpc.aio.AioRpcError) as oversized:
        await channel.unary_unary(GET_AGENT)(length_delimited(1, b"a" * limit), metadata=ADMIN, timeout=TIMEOUT)
    assert oversized.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await channel.unary_unary("/runwire.v1.AgentService/NoSuchMethod")(b"", metadata=ADMIN, timeout=TIMEOUT)
    assert unknown.value.code() == grpc.StatusCode.UNIMPLEMENTED
    for error in (oversized.value, unknown.value):
        assert "<class" not in (error.details() or "") and "Traceback" not in (error.details() or "")


async def test_the_reflection_stream_answers_malformed_too(channel: grpc.aio.Channel) -> None:
    stream = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")(iter([CORRUPT]), timeout=TIMEOUT)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stream:
            pass
    assert_malformed(failure_of(caught.value), "grpc.reflection.v1alpha.ServerReflectionRequest")
