"""Who may act on what, for the services beyond agents, sessions, messages and runs (test_attacks.py has those).

Private resources (files, batches, memories) answer NOT_FOUND to another
principal in every RPC, streams included. MCP servers are shared: anyone reads
them, but only the owner or an admin updates, refreshes or deletes one; others
get PERMISSION_DENIED. API keys are for admins only. After every attempt the
victim's resources are as they were.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2

from runwire.server.app import RunwireServer
from runwire.v1 import (
    admin_pb2,
    batch_pb2,
    batch_pb2_grpc,
    file_pb2,
    file_pb2_grpc,
    mcp_server_pb2,
    mcp_server_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
)
from tests.grpc.secure_support import (
    ADMIN_KEY,
    STREAM_TIMEOUT,
    Caller,
    api_key,
    caller,
    create_key,
    fails,
    running,
    secure_settings,
)

NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED


@dataclasses.dataclass
class Stubs:
    caller: Caller
    files: file_pb2_grpc.FileServiceStub
    batches: batch_pb2_grpc.BatchServiceStub
    memories: memory_pb2_grpc.MemoryServiceStub
    mcp: mcp_server_pb2_grpc.McpServerServiceStub

    @classmethod
    def of(cls, who: Caller) -> Stubs:
        channel = who.channel
        return cls(
            who,
            file_pb2_grpc.FileServiceStub(channel),
            batch_pb2_grpc.BatchServiceStub(channel),
            memory_pb2_grpc.MemoryServiceStub(channel),
            mcp_server_pb2_grpc.McpServerServiceStub(channel),
        )


@dataclasses.dataclass
class World:
    server: RunwireServer
    admin: Stubs
    alice: Stubs
    bob: Stubs
    file: file_pb2.File
    batch: str
    task: str
    memory: memory_pb2.Memory
    mcp_server: mcp_server_pb2.McpServer
    alice_key: admin_pb2.ApiKey


async def _running_batch(alice: Stubs, agent: str) -> str:
    """A batch that stays RUNNING: its task waits for a person's answer."""
    tasks = batch_pb2.BatchInlineTasks(tasks=[batch_pb2.BatchTaskInput(agent=agent, text="[[ask:Which one?]]")])
    batch = await alice.batches.CreateBatch(batch_pb2.CreateBatchRequest(batch=batch_pb2.Batch(inline_tasks=tasks)))
    deadline = time.monotonic() + STREAM_TIMEOUT
    while (await alice.batches.GetBatch(batch_pb2.GetBatchRequest(name=batch.name))).state != batch_pb2.Batch.STATE_RUNNING:
        assert time.monotonic() < deadline, "the batch never started"
        await asyncio.sleep(0.02)
    return batch.name


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running(secure_settings(tmp_path)) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        alice_key, bob_key = await create_key(admin, "alice"), await create_key(admin, "bob")
        async with caller(server, api_key(alice_key.secret)) as alice_caller, caller(server, api_key(bob_key.secret)) as bob_caller:
            alice = Stubs.of(alice_caller)
            metadata = file_pb2.UploadFileMetadata(filename="notes.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS)
            uploaded = await alice.files.UploadFile(
                iter([file_pb2.UploadFileRequest(metadata=metadata), file_pb2.UploadFileRequest(chunk=b"alice's notes")]),
                timeout=STREAM_TIMEOUT,
                metadata=alice_caller.metadata,  # the caller's interceptors cover no client-streaming calls
            )
            deadline = time.monotonic() + STREAM_TIMEOUT
            file = uploaded
            while file.state not in (file_pb2.File.STATE_COMPLETED, file_pb2.File.STATE_FAILED):
                assert time.monotonic() < deadline, "the file was never processed"
                await asyncio.sleep(0.02)
                file = await alice.files.GetFile(file_pb2.GetFileRequest(name=uploaded.name))
            agent = await alice_caller.agent("alice's agent")
            batch = await _running_batch(alice, agent.name)
            tasks = await alice.batches.ListBatchTasks(batch_pb2.ListBatchTasksRequest(parent=batch))
            memory = await alice.memories.CreateMemory(
                memory_pb2.CreateMemoryRequest(memory=memory_pb2.Memory(type=memory_pb2.Memory.TYPE_FACT, content="likes tea"))
            )
            mcp_server = await alice.mcp.CreateMcpServer(
                mcp_server_pb2.CreateMcpServerRequest(
                    mcp_server=mcp_server_pb2.McpServer(
                        display_name="alice's tools", http=mcp_server_pb2.HttpTransport(url="https://tools.example/mcp"), disabled=True
                    )
                )
            )
            yield World(
                server,
                Stubs.of(admin),
                alice,
                Stubs.of(bob_caller),
                file,
                batch,
                tasks.tasks[0].name,
                memory,
                mcp_server,
                alice_key.api_key,
            )


def _read_stream(call: Any) -> Any:
    async def first() -> Any:
        return await call.read()

    return first()


Attack = Callable[[Stubs, World], Any]
# Every RPC of these services that names another principal's resource: what bob gets.
ATTACKS: dict[str, tuple[Attack, grpc.StatusCode, str]] = {
    "/runwire.v1.FileService/GetFile": (lambda b, w: b.files.GetFile(file_pb2.GetFileRequest(name=w.file.name)), NOT_FOUND, "FILE_NOT_FOUND"),
    "/runwire.v1.FileService/DownloadFile": (
        lambda b, w: _read_stream(b.files.DownloadFile(file_pb2.DownloadFileRequest(name=w.file.name), timeout=STREAM_TIMEOUT)),
        NOT_FOUND,
        "FILE_NOT_FOUND",
    ),
    "/runwire.v1.FileService/DeleteFile": (
        lambda b, w: b.files.DeleteFile(file_pb2.DeleteFileRequest(name=w.file.name)),
        NOT_FOUND,
        "FILE_NOT_FOUND",
    ),
    "/runwire.v1.FileService/WatchFile": (
        lambda b, w: _read_stream(b.files.WatchFile(file_pb2.WatchFileRequest(name=w.file.name), timeout=STREAM_TIMEOUT)),
        NOT_FOUND,
        "FILE_NOT_FOUND",
    ),
    "/runwire.v1.FileService/GetFileText": (
        lambda b, w: b.files.GetFileText(file_pb2.GetFileTextRequest(name=w.file.name)),
        NOT_FOUND,
        "FILE_NOT_FOUND",
    ),
    "/runwire.v1.FileService/AnalyzeFile": (
        lambda b, w: b.files.AnalyzeFile(
            file_pb2.AnalyzeFileRequest(name=w.file.name, mode=file_pb2.AnalyzeFileRequest.MODE_EXTRACT_TEXT)
        ),
        NOT_FOUND,
        "FILE_NOT_FOUND",
    ),
    "/runwire.v1.BatchService/GetBatch": (
        lambda b, w: b.batches.GetBatch(batch_pb2.GetBatchRequest(name=w.batch)),
        NOT_FOUND,
        "BATCH_NOT_FOUND",
    ),
    "/runwire.v1.BatchService/CancelBatch": (
        lambda b, w: b.batches.CancelBatch(batch_pb2.CancelBatchRequest(name=w.batch)),
        NOT_FOUND,
        "BATCH_NOT_FOUND",
    ),
    "/runwire.v1.BatchService/ListBatchTasks": (
        lambda b, w: b.batches.ListBatchTasks(batch_pb2.ListBatchTasksRequest(parent=w.batch)),
        NOT_FOUND,
        "BATCH_NOT_FOUND",
    ),
    "/runwire.v1.BatchService/GetBatchTask": (
        lambda b, w: b.batches.GetBatchTask(batch_pb2.GetBatchTaskRequest(name=w.task)),
        NOT_FOUND,
        "BATCH_NOT_FOUND",
    ),
    "/runwire.v1.BatchService/WatchBatch": (
        lambda b, w: _read_stream(b.batches.WatchBatch(batch_pb2.WatchBatchRequest(name=w.batch), timeout=STREAM_TIMEOUT)),
        NOT_FOUND,
        "BATCH_NOT_FOUND",
    ),
    "/runwire.v1.MemoryService/GetMemory": (
        lambda b, w: b.memories.GetMemory(memory_pb2.GetMemoryRequest(name=w.memory.name)),
        NOT_FOUND,
        "MEMORY_NOT_FOUND",
    ),
    "/runwire.v1.MemoryService/UpdateMemory": (
        lambda b, w: b.memories.UpdateMemory(
            memory_pb2.UpdateMemoryRequest(
                memory=memory_pb2.Memory(name=w.memory.name, content="pwned"), update_mask=field_mask_pb2.FieldMask(paths=["content"])
            )
        ),
        NOT_FOUND,
        "MEMORY_NOT_FOUND",
    ),
    "/runwire.v1.MemoryService/DeleteMemory": (
        lambda b, w: b.memories.DeleteMemory(memory_pb2.DeleteMemoryRequest(name=w.memory.name)),
        NOT_FOUND,
        "MEMORY_NOT_FOUND",
    ),
    "/runwire.v1.McpServerService/UpdateMcpServer": (
        lambda b, w: b.mcp.UpdateMcpServer(
            mcp_server_pb2.UpdateMcpServerRequest(
                mcp_server=mcp_server_pb2.McpServer(name=w.mcp_server.name, display_name="pwned"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        ),
        DENIED,
        "PERMISSION_DENIED",
    ),
    "/runwire.v1.McpServerService/DeleteMcpServer": (
        lambda b, w: b.mcp.DeleteMcpServer(mcp_server_pb2.DeleteMcpServerRequest(name=w.mcp_server.name, force=True)),
        DENIED,
        "PERMISSION_DENIED",
    ),
    "/runwire.v1.McpServerService/RefreshMcpServer": (
        lambda b, w: b.mcp.RefreshMcpServer(mcp_server_pb2.RefreshMcpServerRequest(name=w.mcp_server.name)),
        DENIED,
        "PERMISSION_DENIED",
    ),
    "/runwire.v1.AdminService/GetApiKey": (
        lambda b, w: b.caller.admin.GetApiKey(admin_pb2.GetApiKeyRequest(name=w.alice_key.name)),
        DENIED,
        "PERMISSION_DENIED",
    ),
    "/runwire.v1.AdminService/RevokeApiKey": (
        lambda b, w: b.caller.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(name=w.alice_key.name)),
        DENIED,
        "PERMISSION_DENIED",
    ),
    "/runwire.v1.AdminService/CreateApiKey": (
        lambda b, w: b.caller.admin.CreateApiKey(
            admin_pb2.CreateApiKeyRequest(api_key=admin_pb2.ApiKey(display_name="mine now", principal="alice"))
        ),
        DENIED,
        "PERMISSION_DENIED",
    ),
    "/runwire.v1.AdminService/ListApiKeys": (
        lambda b, w: b.caller.admin.ListApiKeys(admin_pb2.ListApiKeysRequest()),
        DENIED,
        "PERMISSION_DENIED",
    ),
}

# Methods that address no other principal's resource: creates, lists and searches (scoped to the caller,
# see test_attacks.py for filters), shared reads, and server-wide admin reads (test_auth.py).
NOT_ADDRESSED_BY_NAME = {
    "/runwire.v1.FileService/UploadFile",
    "/runwire.v1.FileService/ListFiles",
    "/runwire.v1.FileService/SearchFiles",
    "/runwire.v1.BatchService/CreateBatch",
    "/runwire.v1.BatchService/ListBatches",
    "/runwire.v1.MemoryService/CreateMemory",
    "/runwire.v1.MemoryService/ListMemories",
    "/runwire.v1.MemoryService/SearchMemories",
    "/runwire.v1.MemoryService/ClearMemories",
    "/runwire.v1.McpServerService/CreateMcpServer",
    "/runwire.v1.McpServerService/GetMcpServer",
    "/runwire.v1.McpServerService/ListMcpServers",
    "/runwire.v1.AdminService/GetServerInfo",
    "/runwire.v1.AdminService/ListConnections",
    "/runwire.v1.AdminService/ListStreams",
}


def _methods(*modules: Any) -> set[str]:
    return {
        f"/{service.full_name}/{method.name}"
        for module in modules
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }


def test_the_matrix_covers_every_rpc_of_these_services() -> None:
    assert set(ATTACKS) | NOT_ADDRESSED_BY_NAME == _methods(file_pb2, batch_pb2, memory_pb2, mcp_server_pb2, admin_pb2)


async def test_another_principal_can_neither_see_nor_change_these_resources(world: World) -> None:
    for method, (attack, code, reason) in ATTACKS.items():
        failure = await fails(attack(world.bob, world))
        assert (failure.code, failure.reason) == (code, reason), method
        assert "alice" not in failure.message, method
    alice = world.alice
    assert (await alice.files.GetFile(file_pb2.GetFileRequest(name=world.file.name))).etag == world.file.etag
    batch = await alice.batches.GetBatch(batch_pb2.GetBatchRequest(name=world.batch))
    assert batch.state == batch_pb2.Batch.STATE_RUNNING
    assert (await alice.memories.GetMemory(memory_pb2.GetMemoryRequest(name=world.memory.name))) == world.memory
    assert (await alice.mcp.GetMcpServer(mcp_server_pb2.GetMcpServerRequest(name=world.mcp_server.name))).etag == world.mcp_server.etag
    key = await world.admin.caller.admin.GetApiKey(admin_pb2.GetApiKeyRequest(name=world.alice_key.name))
    assert key.state == admin_pb2.ApiKey.STATE_ACTIVE
    keys = await world.admin.caller.admin.ListApiKeys(admin_pb2.ListApiKeysRequest())
    assert sorted(k.principal for k in keys.api_keys) == ["admin", "alice", "bob"]


async def test_the_owner_and_an_admin_may_act_on_a_shared_mcp_server(world: World) -> None:
    name = world.mcp_server.name
    # Disabled servers refuse refresh for everyone, the owner included: the permission is checked first.
    for who in (world.alice, world.admin):
        refused = await fails(who.mcp.RefreshMcpServer(mcp_server_pb2.RefreshMcpServerRequest(name=name)))
        assert (refused.code, refused.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MCP_SERVER_DISABLED")
    renamed = await world.admin.mcp.UpdateMcpServer(
        mcp_server_pb2.UpdateMcpServerRequest(
            mcp_server=mcp_server_pb2.McpServer(name=name, display_name="renamed by an admin"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    )
    assert renamed.display_name == "renamed by an admin" and renamed.owner == "alice"
    await world.alice.mcp.DeleteMcpServer(mcp_server_pb2.DeleteMcpServerRequest(name=name, etag=renamed.etag))
