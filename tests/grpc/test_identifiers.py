"""Every id, name and pattern-checked value a caller sends must match as a whole.

Python's `$` also matches before a trailing newline, so `abcd\\n` passed a
`^...$` check with `re.match`. These tests send each kind of value with a
trailing newline (and a trailing space) and expect INVALID_ARGUMENT naming the
field, with nothing created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

import grpc
import pytest

from runwire.v1 import (
    admin_pb2,
    agent_pb2,
    batch_pb2,
    batch_pb2_grpc,
    common_pb2,
    event_pb2,
    event_pb2_grpc,
    file_pb2,
    file_pb2_grpc,
    mcp_server_pb2,
    mcp_server_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    message_pb2,
    run_pb2,
    run_pb2_grpc,
    session_pb2,
)
from tests.conftest import Client, rpc_error
from tests.grpc.secure_support import ADMIN_KEY, api_key, bearer, caller, hs256_token, running, secure_settings

BAD_TAILS = ["\n", " ", "\r\n"]
TEXT = [common_pb2.ContentPart(text="hello")]

Call = Callable[[Client, str, str], Awaitable[Any]]


async def _create_agent(c: Client, bad: str, _: str) -> Any:
    return await c.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="a"), agent_id=bad))


async def _create_session(c: Client, bad: str, agent: str) -> Any:
    return await c.sessions.CreateSession(session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent), session_id=bad))


async def _batch_create_sessions(c: Client, bad: str, agent: str) -> Any:
    request = session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent), session_id=bad)
    return await c.sessions.BatchCreateSessions(session_pb2.BatchCreateSessionsRequest(requests=[request]))


async def _create_message(c: Client, bad: str, agent: str) -> Any:
    session = await c.session(agent)
    message = message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=TEXT)
    return await c.messages.CreateMessage(message_pb2.CreateMessageRequest(parent=session.name, message=message, message_id=bad))


async def _create_run(c: Client, bad: str, agent: str) -> Any:
    session = await c.session(agent)
    run = run_pb2.Run(session=session.name, input=TEXT)
    return await run_pb2_grpc.RunServiceStub(c.channel).CreateRun(run_pb2.CreateRunRequest(run=run, run_id=bad))


async def _create_memory(c: Client, bad: str, _: str) -> Any:
    memory = memory_pb2.Memory(type=memory_pb2.Memory.TYPE_FACT, content="likes tea")
    return await memory_pb2_grpc.MemoryServiceStub(c.channel).CreateMemory(memory_pb2.CreateMemoryRequest(memory=memory, memory_id=bad))


async def _create_mcp_server(c: Client, bad: str, _: str) -> Any:
    server = mcp_server_pb2.McpServer(display_name="m", http=mcp_server_pb2.HttpTransport(url="https://tools.example/mcp"), disabled=True)
    stub = mcp_server_pb2_grpc.McpServerServiceStub(c.channel)
    return await stub.CreateMcpServer(mcp_server_pb2.CreateMcpServerRequest(mcp_server=server, mcp_server_id=bad))


async def _create_batch(c: Client, bad: str, agent: str) -> Any:
    tasks = batch_pb2.BatchInlineTasks(tasks=[batch_pb2.BatchTaskInput(agent=agent, text="hi")])
    batch = batch_pb2.Batch(inline_tasks=tasks)
    return await batch_pb2_grpc.BatchServiceStub(c.channel).CreateBatch(batch_pb2.CreateBatchRequest(batch=batch, batch_id=bad))


async def _upload_file(c: Client, bad: str, _: str) -> Any:
    metadata = file_pb2.UploadFileMetadata(filename="a.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS, file_id=bad)
    requests = iter([file_pb2.UploadFileRequest(metadata=metadata), file_pb2.UploadFileRequest(chunk=b"hello")])
    return await file_pb2_grpc.FileServiceStub(c.channel).UploadFile(requests, timeout=30)


async def _upload_file_checksum(c: Client, bad: str, _: str) -> Any:
    digest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"  # sha256 of "hello"
    metadata = file_pb2.UploadFileMetadata(filename="a.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS, sha256=digest + bad[4:])
    requests = iter([file_pb2.UploadFileRequest(metadata=metadata), file_pb2.UploadFileRequest(chunk=b"hello")])
    return await file_pb2_grpc.FileServiceStub(c.channel).UploadFile(requests, timeout=30)


async def _label_key(c: Client, bad: str, _: str) -> Any:
    return await c.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="a", labels={bad: "v"})))


async def _request_id(c: Client, bad: str, _: str) -> Any:
    request_id = "1f0c5d3e-8a7b-4c2d-9e6f-0a1b2c3d" + bad  # "abcd" + tail ends the UUID
    return await c.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="a"), request_id=request_id))


async def _get_agent(c: Client, bad: str, _: str) -> Any:
    return await c.agents.GetAgent(agent_pb2.GetAgentRequest(name=f"agents/{bad}"))


async def _delete_session(c: Client, bad: str, _: str) -> Any:
    return await c.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=f"sessions/{bad}", allow_missing=True))


async def _subscribe(c: Client, bad: str, _: str) -> Any:
    stream = event_pb2_grpc.EventServiceStub(c.channel).Subscribe(event_pb2.SubscribeRequest(subscription_name=bad), timeout=30)
    return await stream.read()


# The value sent is "abcd" + tail; each case names the field its violation must name.
CASES: dict[str, tuple[Call, str]] = {
    "agent_id": (_create_agent, "agent_id"),
    "session_id": (_create_session, "session_id"),
    "batch session_id": (_batch_create_sessions, "requests[0].session_id"),
    "message_id": (_create_message, "message_id"),
    "run_id": (_create_run, "run_id"),
    "memory_id": (_create_memory, "memory_id"),
    "mcp_server_id": (_create_mcp_server, "mcp_server_id"),
    "batch_id": (_create_batch, "batch_id"),
    "file_id": (_upload_file, "metadata.file_id"),
    "sha256": (_upload_file_checksum, "metadata.sha256"),
    "label key": (_label_key, "agent.labels.abcd"),
    "request_id": (_request_id, "request_id"),
    "name in Get": (_get_agent, "name"),
    "name in Delete": (_delete_session, "name"),
    "subscription_name": (_subscribe, "subscription_name"),
}


@pytest.mark.parametrize("tail", BAD_TAILS, ids=["newline", "space", "crlf"])
@pytest.mark.parametrize("case", list(CASES))
async def test_a_value_with_a_trailing_line_break_or_space_is_refused(client: Client, case: str, tail: str) -> None:
    call, field = CASES[case]
    agent = await client.agent()
    failure = await rpc_error(call(client, "abcd" + tail, agent.name))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, (case, failure.message)
    fields = list(failure.field_violations)
    if field == "agent.labels.abcd":
        assert any(f.startswith("agent.labels.abcd") for f in fields), fields
    else:
        assert field in fields, fields
    # Nothing was created under the id without its tail either.
    agents = await client.agents.ListAgents(agent_pb2.ListAgentsRequest())
    assert [a.name for a in agents.agents] == [agent.name]


@pytest.mark.parametrize("tail", BAD_TAILS, ids=["newline", "space", "crlf"])
async def test_api_key_ids_and_principals_with_a_trailing_line_break_are_refused(tmp_path: Path, tail: str) -> None:
    async with running(secure_settings(tmp_path)) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        for fields, field in (
            ({"api_key_id": "abcd" + tail, "api_key": admin_pb2.ApiKey(display_name="k", principal="carol")}, "api_key_id"),
            ({"api_key": admin_pb2.ApiKey(display_name="k", principal="admin" + tail)}, "api_key.principal"),
        ):
            failure = await rpc_error(admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(**fields)))
            assert (failure.code, list(failure.field_violations)) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
        keys = await admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest())
        assert {k.principal for k in keys.api_keys} == {"admin"}
        # A token whose subject carries the tail names no principal either.
        async with caller(server, bearer(hs256_token("alice" + tail))) as alice:
            failure = await rpc_error(alice.agents.ListAgents(agent_pb2.ListAgentsRequest()))
            assert failure.code == grpc.StatusCode.UNAUTHENTICATED
