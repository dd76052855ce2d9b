"""An etag names one revision of one incarnation of a resource.

A resource deleted and created again under the same name starts at revision 1
again; an etag read from the old one must not match the new one, on update or
on delete (ABORTED, ETAG_MISMATCH). Runs, batches and API keys are never
deleted, so their names are never reused; the configuration's revisions start
again in every process, so an etag from before a restart must not match either.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Awaitable, Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2

from runwire.v1 import (
    agent_pb2,
    common_pb2,
    config_pb2,
    config_pb2_grpc,
    file_pb2,
    file_pb2_grpc,
    mcp_server_pb2,
    mcp_server_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    message_pb2,
    secret_pb2,
    secret_pb2_grpc,
    session_pb2,
)
from tests.conftest import Client, rpc_error
from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, running, secure_settings


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


@dataclasses.dataclass
class Kind:
    """How to create (with a fixed id and some content), update and delete one kind of resource, by etag."""

    create: Callable[[Client, str], Awaitable[Any]]
    update: Callable[[Client, str, str], Awaitable[Any]] | None
    delete: Callable[[Client, str, str], Awaitable[Any]]


async def _agent(c: Client, content: str) -> Any:
    return await c.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name=content), agent_id="same-agent"))


async def _session(c: Client, content: str) -> Any:
    agent = await c.agent()
    return await c.sessions.CreateSession(
        session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name, display_name=content), session_id="same-session")
    )


async def _message(c: Client, content: str) -> Any:
    sessions = await c.sessions.ListSessions(session_pb2.ListSessionsRequest())
    session = sessions.sessions[0].name if sessions.sessions else (await c.session()).name
    message = message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=[common_pb2.ContentPart(text=content)])
    return await c.messages.CreateMessage(message_pb2.CreateMessageRequest(parent=session, message=message, message_id="same-message"))


def _memories(c: Client) -> memory_pb2_grpc.MemoryServiceStub:
    return memory_pb2_grpc.MemoryServiceStub(c.channel)


async def _memory(c: Client, content: str) -> Any:
    memory = memory_pb2.Memory(type=memory_pb2.Memory.TYPE_FACT, content=content)
    return await _memories(c).CreateMemory(memory_pb2.CreateMemoryRequest(memory=memory, memory_id="same-memory"))


def _mcp(c: Client) -> mcp_server_pb2_grpc.McpServerServiceStub:
    return mcp_server_pb2_grpc.McpServerServiceStub(c.channel)


async def _mcp_server(c: Client, content: str) -> Any:
    server = mcp_server_pb2.McpServer(display_name=content, http=mcp_server_pb2.HttpTransport(url="https://tools.example/mcp"), disabled=True)
    return await _mcp(c).CreateMcpServer(mcp_server_pb2.CreateMcpServerRequest(mcp_server=server, mcp_server_id="same-server"))


async def _file(c: Client, content: str) -> Any:
    metadata = file_pb2.UploadFileMetadata(filename="a.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS, file_id="same-file")
    requests = iter([file_pb2.UploadFileRequest(metadata=metadata), file_pb2.UploadFileRequest(chunk=content.encode())])
    stub = file_pb2_grpc.FileServiceStub(c.channel)
    uploaded = await stub.UploadFile(requests, timeout=30)
    # Processing changes the file (state, text): its etag is the one of the file once processed.
    async for seen in stub.WatchFile(file_pb2.WatchFileRequest(name=uploaded.name), timeout=30):
        if seen.state in (file_pb2.File.STATE_COMPLETED, file_pb2.File.STATE_FAILED):
            return seen
    raise AssertionError("the file was never processed")


def _secrets(c: Client) -> secret_pb2_grpc.SecretServiceStub:
    return secret_pb2_grpc.SecretServiceStub(c.channel)


async def _secret(c: Client, content: str) -> Any:
    secret = secret_pb2.Secret(display_name=content, value=f"value of {content}")
    return await _secrets(c).CreateSecret(secret_pb2.CreateSecretRequest(secret=secret, secret_id="same-secret"))


KINDS: dict[str, Kind] = {
    "agent": Kind(
        _agent,
        lambda c, name, etag: c.agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(agent=agent_pb2.Agent(name=name, display_name="x", etag=etag), update_mask=_mask("display_name"))
        ),
        lambda c, name, etag: c.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=name, etag=etag, force=True)),
    ),
    "session": Kind(
        _session,
        lambda c, name, etag: c.sessions.UpdateSession(
            session_pb2.UpdateSessionRequest(
                session=session_pb2.Session(name=name, display_name="x", etag=etag), update_mask=_mask("display_name")
            )
        ),
        lambda c, name, etag: c.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=name, etag=etag, force=True)),
    ),
    "message": Kind(
        _message,
        lambda c, name, etag: c.messages.UpdateMessage(
            message_pb2.UpdateMessageRequest(message=message_pb2.Message(name=name, labels={"k": "v"}, etag=etag), update_mask=_mask("labels"))
        ),
        lambda c, name, etag: c.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=name, etag=etag, force=True)),
    ),
    "memory": Kind(
        _memory,
        lambda c, name, etag: _memories(c).UpdateMemory(
            memory_pb2.UpdateMemoryRequest(memory=memory_pb2.Memory(name=name, content="x", etag=etag), update_mask=_mask("content"))
        ),
        lambda c, name, etag: _memories(c).DeleteMemory(memory_pb2.DeleteMemoryRequest(name=name, etag=etag)),
    ),
    "mcp server": Kind(
        _mcp_server,
        lambda c, name, etag: _mcp(c).UpdateMcpServer(
            mcp_server_pb2.UpdateMcpServerRequest(
                mcp_server=mcp_server_pb2.McpServer(name=name, display_name="x", etag=etag), update_mask=_mask("display_name")
            )
        ),
        lambda c, name, etag: _mcp(c).DeleteMcpServer(mcp_server_pb2.DeleteMcpServerRequest(name=name, etag=etag, force=True)),
    ),
    "secret": Kind(
        _secret,
        lambda c, name, etag: _secrets(c).UpdateSecret(
            secret_pb2.UpdateSecretRequest(secret=secret_pb2.Secret(name=name, display_name="x", etag=etag), update_mask=_mask("display_name"))
        ),
        lambda c, name, etag: _secrets(c).DeleteSecret(secret_pb2.DeleteSecretRequest(name=name, etag=etag)),
    ),
    "file": Kind(
        _file,
        None,  # files are immutable
        lambda c, name, etag: file_pb2_grpc.FileServiceStub(c.channel).DeleteFile(file_pb2.DeleteFileRequest(name=name, etag=etag)),
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_an_etag_of_a_deleted_resource_never_matches_the_one_created_again(client: Client, kind: str) -> None:
    operations = KINDS[kind]
    first = await operations.create(client, "the first")
    await operations.delete(client, first.name, first.etag)
    second = await operations.create(client, "the second, with other content")
    assert second.name == first.name
    assert second.etag != first.etag

    attempts = [operations.delete(client, second.name, first.etag)]
    if operations.update is not None:
        attempts.insert(0, operations.update(client, second.name, first.etag))
    for attempt in attempts:
        failure = await rpc_error(attempt)
        assert (failure.code, failure.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
        assert failure.metadata["current_etag"] == second.etag
    # The second resource is untouched, and its own etag works.
    if operations.update is not None:
        await operations.update(client, second.name, second.etag)
    else:
        await operations.delete(client, second.name, second.etag)


async def test_a_configuration_etag_from_before_a_restart_does_not_match(tmp_path: Path) -> None:
    settings = secure_settings(tmp_path)
    update = config_pb2.LimitsConfig(max_page_size=7)
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        before = await config_pb2_grpc.ConfigServiceStub(admin.channel).GetConfig(config_pb2.GetConfigRequest())
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        stub = config_pb2_grpc.ConfigServiceStub(admin.channel)
        now = await stub.GetConfig(config_pb2.GetConfigRequest())
        assert now.revision == before.revision and now.etag != before.etag
        stale = await rpc_error(
            stub.UpdateConfig(
                config_pb2.UpdateConfigRequest(
                    config=config_pb2.RuntimeConfig(limits=update, etag=before.etag), update_mask=_mask("limits.max_page_size")
                )
            )
        )
        assert (stale.code, stale.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
        assert (await stub.GetConfig(config_pb2.GetConfigRequest())).limits.max_page_size == now.limits.max_page_size
