"""MemoryService: proto <-> domain for memories, nothing else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from google.protobuf import empty_pb2

from runwire.server.api.calls import ServicerContext, caller
from runwire.server.api.options import list_query, search_query, write_options
from runwire.server.domain.memories import MemoryService
from runwire.server.wire import convert
from runwire.server.wire.convert import memory_proto
from runwire.v1 import memory_pb2, memory_pb2_grpc

EMPTY = empty_pb2.Empty()


class MemoryServicer(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, memories: MemoryService) -> None:
        self.memories = memories

    async def CreateMemory(self, request: memory_pb2.CreateMemoryRequest, context: ServicerContext) -> memory_pb2.Memory:
        fields = memory_fields(request.memory)
        return memory_proto(await self.memories.create(caller(), fields, write_options(request), memory_id=request.memory_id))

    async def GetMemory(self, request: memory_pb2.GetMemoryRequest, context: ServicerContext) -> memory_pb2.Memory:
        return memory_proto(await self.memories.get(caller(), request.name))

    async def ListMemories(self, request: memory_pb2.ListMemoriesRequest, context: ServicerContext) -> memory_pb2.ListMemoriesResponse:
        page = await self.memories.list(caller(), list_query(request))
        return memory_pb2.ListMemoriesResponse(
            memories=[memory_proto(r) for r in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def UpdateMemory(self, request: memory_pb2.UpdateMemoryRequest, context: ServicerContext) -> memory_pb2.Memory:
        memory = request.memory
        options = write_options(request, etag=memory.etag, update_mask=_mask_paths(request))
        return memory_proto(await self.memories.update(caller(), memory.name, memory_fields(memory), options))

    async def DeleteMemory(self, request: memory_pb2.DeleteMemoryRequest, context: ServicerContext) -> empty_pb2.Empty:
        await self.memories.delete(caller(), request.name, write_options(request))
        return EMPTY

    async def SearchMemories(self, request: memory_pb2.SearchMemoriesRequest, context: ServicerContext) -> memory_pb2.SearchMemoriesResponse:
        hits, token = await self.memories.search(
            caller(), search_query(request), types=list(request.types), agent=request.agent
        )
        return memory_pb2.SearchMemoriesResponse(
            results=[memory_pb2.MemorySearchResult(memory=memory_proto(h.memory), snippet=h.snippet, score=h.score) for h in hits],
            next_page_token=token,
        )

    async def ClearMemories(self, request: memory_pb2.ClearMemoriesRequest, context: ServicerContext) -> memory_pb2.ClearMemoriesResponse:
        age = request.WhichOneof("age")
        deleted = await self.memories.clear(
            caller(),
            types=list(request.types),
            agent=request.agent,
            older_than=timedelta(seconds=convert.seconds(request.older_than)) if age == "older_than" else None,
            before=convert.to_datetime(request.before, "before") if age == "before" else None,
            all_memories=request.all,
            options=write_options(request),
        )
        return memory_pb2.ClearMemoriesResponse(deleted_count=deleted)


# Sent back from a read, these never name a change: identity, output-only and the immutable source session.
_NOT_UPDATED = frozenset({"name", "etag", "owner", "create_time", "update_time", "session"})


def _mask_paths(request: memory_pb2.UpdateMemoryRequest) -> list[str]:
    """AIP-134: an empty mask means every field set in the memory."""
    if request.update_mask.paths:
        return list(request.update_mask.paths)
    return [f.name for f, _ in request.memory.ListFields() if f.name not in _NOT_UPDATED]


def memory_fields(memory: memory_pb2.Memory) -> dict[str, Any]:
    which = memory.WhichOneof("expiration")
    return {
        "type": memory.type,
        "content": memory.content,
        "agent": memory.agent,
        "session": memory.session,
        "labels": dict(memory.labels),
        "metadata": convert.struct_to_dict(memory.metadata, "memory.metadata"),
        "expire_time": convert.to_datetime(memory.expire_time, "memory.expire_time") if which == "expire_time" else None,
        "ttl": timedelta(seconds=convert.seconds(memory.ttl)) if which == "ttl" else None,
    }
