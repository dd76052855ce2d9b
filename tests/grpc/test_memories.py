"""MemoryService through real stubs: CRUD with etags and request ids, list, search, clear, privacy, the memory tool."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2

from runwire.v1 import memory_pb2, memory_pb2_grpc, run_pb2
from tests.conftest import Client, new_request_id, rpc_error
from tests.fakes.openai_server import FakeOpenAIServer, text_stream
from tests.grpc.run_support import Runs, as_dict, kind, serving
from tests.grpc.secure_support import (
    ADMIN_KEY,
    api_key,
    caller,
    create_key,
    running,
    seconds,
    secure_settings,
    timestamp_in,
)

Memory = memory_pb2.Memory
PROFILE, FACT, CONVERSATION = Memory.TYPE_PROFILE, Memory.TYPE_FACT, Memory.TYPE_CONVERSATION


@pytest.fixture
def memories(client: Client) -> memory_pb2_grpc.MemoryServiceStub:
    return memory_pb2_grpc.MemoryServiceStub(client.channel)


async def remember(stub: memory_pb2_grpc.MemoryServiceStub, content: str, memory_type: int = FACT, **fields: object) -> Memory:
    return await stub.CreateMemory(memory_pb2.CreateMemoryRequest(memory=Memory(type=memory_type, content=content, **fields)))


async def test_a_memory_is_created_read_updated_and_deleted(memories: memory_pb2_grpc.MemoryServiceStub, client: Client) -> None:
    agent = await client.agent()
    created = await memories.CreateMemory(
        memory_pb2.CreateMemoryRequest(
            memory=Memory(type=PROFILE, content="Prefers answers in French", agent=agent.name, labels={"topic": "lang"}),
            memory_id="lang-pref",
        )
    )
    assert created.name == "memories/lang-pref"
    assert created.owner == "local" and created.agent == agent.name and created.etag
    assert (await memories.GetMemory(memory_pb2.GetMemoryRequest(name=created.name))) == created

    changed = Memory(name=created.name, content="Prefers answers in German", etag=created.etag)
    updated = await memories.UpdateMemory(
        memory_pb2.UpdateMemoryRequest(memory=changed, update_mask=field_mask_pb2.FieldMask(paths=["content"]))
    )
    assert updated.content == "Prefers answers in German" and updated.etag != created.etag
    assert updated.type == PROFILE and updated.labels == {"topic": "lang"}

    stale = await rpc_error(
        memories.DeleteMemory(memory_pb2.DeleteMemoryRequest(name=created.name, etag=created.etag))
    )
    assert stale.code == grpc.StatusCode.ABORTED and stale.reason == "ETAG_MISMATCH"
    await memories.DeleteMemory(memory_pb2.DeleteMemoryRequest(name=created.name, etag=updated.etag))
    gone = await rpc_error(memories.GetMemory(memory_pb2.GetMemoryRequest(name=created.name)))
    assert gone.code == grpc.StatusCode.NOT_FOUND and gone.reason == "MEMORY_NOT_FOUND"
    await memories.DeleteMemory(memory_pb2.DeleteMemoryRequest(name=created.name, allow_missing=True))


async def test_invalid_memories_are_refused_with_every_problem(memories: memory_pb2_grpc.MemoryServiceStub) -> None:
    failure = await rpc_error(
        memories.CreateMemory(
            memory_pb2.CreateMemoryRequest(memory=Memory(content=" ", agent="robots/x", ttl=seconds(0.1)), memory_id="X")
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.field_violations) == {"memory_id", "memory.type", "memory.content", "memory.agent", "memory.ttl"}
    too_long = await rpc_error(remember(memories, "x" * 10_001))
    assert "memory.content" in too_long.field_violations
    missing_agent = await rpc_error(remember(memories, "Likes tea", agent="agents/nobody"))
    assert missing_agent.code == grpc.StatusCode.NOT_FOUND and missing_agent.reason == "AGENT_NOT_FOUND"
    assert (await memories.ListMemories(memory_pb2.ListMemoriesRequest())).total_size == 0


async def test_the_source_session_cannot_change(memories: memory_pb2_grpc.MemoryServiceStub, client: Client) -> None:
    session = await client.session()
    memory = await remember(memories, "Asked about invoices", CONVERSATION, session=session.name)
    other = await client.session()
    failure = await rpc_error(
        memories.UpdateMemory(
            memory_pb2.UpdateMemoryRequest(
                memory=Memory(name=memory.name, session=other.name, content="x"), update_mask=field_mask_pb2.FieldMask(paths=["content"])
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT and "memory.session" in failure.field_violations


async def test_memories_are_listed_with_filter_and_order(memories: memory_pb2_grpc.MemoryServiceStub, client: Client) -> None:
    agent = await client.agent()
    await remember(memories, "Drinks coffee black", FACT)
    await remember(memories, "Name is Ada", PROFILE)
    await remember(memories, "Coffee machine is broken", FACT, agent=agent.name)
    await remember(memories, "Discussed coffee prices", CONVERSATION)

    page = await memories.ListMemories(memory_pb2.ListMemoriesRequest(filter='type = FACT AND content:"coffee"'))
    assert sorted(m.content for m in page.memories) == ["Coffee machine is broken", "Drinks coffee black"]
    unscoped = await memories.ListMemories(memory_pb2.ListMemoriesRequest(filter='agent = ""'))
    assert unscoped.total_size == 3
    scoped = await memories.ListMemories(memory_pb2.ListMemoriesRequest(filter=f'agent = "{agent.name}"'))
    assert [m.content for m in scoped.memories] == ["Coffee machine is broken"]

    first = await memories.ListMemories(memory_pb2.ListMemoriesRequest(page_size=3, order_by="create_time"))
    assert [m.content for m in first.memories] == ["Drinks coffee black", "Name is Ada", "Coffee machine is broken"]
    rest = await memories.ListMemories(
        memory_pb2.ListMemoriesRequest(page_size=3, order_by="create_time", page_token=first.next_page_token)
    )
    assert [m.content for m in rest.memories] == ["Discussed coffee prices"] and not rest.next_page_token


async def test_search_ranks_denser_matches_first_and_respects_scope(
    memories: memory_pb2_grpc.MemoryServiceStub, client: Client
) -> None:
    agent, other_agent = await client.agent(), await client.agent()
    await remember(memories, "Mentioned tea once while talking about a long trip to the mountains last year", CONVERSATION)
    await remember(memories, "Loves green tea", FACT)
    await remember(memories, "Tea for the other agent", FACT, agent=other_agent.name)
    await remember(memories, "Never drinks coffee", FACT)

    found = await memories.SearchMemories(memory_pb2.SearchMemoriesRequest(query="TEA"))
    assert [r.memory.content for r in found.results][:2] == ["Loves green tea", "Tea for the other agent"]
    assert len(found.results) == 3 and found.results[0].score > found.results[-1].score
    assert "tea" in found.results[0].snippet

    facts_for_agent = await memories.SearchMemories(
        memory_pb2.SearchMemoriesRequest(query="tea", types=[FACT], agent=agent.name)
    )
    assert [r.memory.content for r in facts_for_agent.results] == ["Loves green tea"]

    paged = await memories.SearchMemories(memory_pb2.SearchMemoriesRequest(query="tea", page_size=2))
    more = await memories.SearchMemories(
        memory_pb2.SearchMemoriesRequest(query="tea", page_size=2, page_token=paged.next_page_token)
    )
    assert len(paged.results) == 2 and len(more.results) == 1 and not more.next_page_token

    empty = await rpc_error(memories.SearchMemories(memory_pb2.SearchMemoriesRequest(query="  ")))
    assert empty.code == grpc.StatusCode.INVALID_ARGUMENT and "query" in empty.field_violations


async def test_clear_by_type_and_by_age_in_one_transaction(memories: memory_pb2_grpc.MemoryServiceStub, client: Client) -> None:
    for content in ("a fact", "another fact"):
        await remember(memories, content, FACT)
    await remember(memories, "a profile line", PROFILE)
    await remember(memories, "a conversation", CONVERSATION)

    guard = await rpc_error(memories.ClearMemories(memory_pb2.ClearMemoriesRequest()))
    assert guard.code == grpc.StatusCode.INVALID_ARGUMENT and "all" in guard.field_violations

    counted = await memories.ClearMemories(memory_pb2.ClearMemoriesRequest(types=[FACT], validate_only=True))
    assert counted.deleted_count == 2
    assert (await memories.ListMemories(memory_pb2.ListMemoriesRequest())).total_size == 4

    request = memory_pb2.ClearMemoriesRequest(types=[FACT], request_id=new_request_id())
    assert (await memories.ClearMemories(request)).deleted_count == 2
    assert (await memories.ClearMemories(request)).deleted_count == 2  # the retry replays the first count
    remaining = await memories.ListMemories(memory_pb2.ListMemoriesRequest())
    assert sorted(m.content for m in remaining.memories) == ["a conversation", "a profile line"]

    # Nothing is older than an hour yet; two hours from now, everything is.
    assert (await memories.ClearMemories(memory_pb2.ClearMemoriesRequest(older_than=seconds(3600)))).deleted_count == 0
    ctx = client.server.memories.ctx
    real_clock = ctx.clock
    ctx.clock = lambda: real_clock() + timedelta(hours=2)
    try:
        cleared = await memories.ClearMemories(memory_pb2.ClearMemoriesRequest(older_than=seconds(3600)))
    finally:
        ctx.clock = real_clock
    assert cleared.deleted_count == 2
    assert (await memories.ListMemories(memory_pb2.ListMemoriesRequest())).total_size == 0

    await remember(memories, "kept", FACT)
    assert (await memories.ClearMemories(memory_pb2.ClearMemoriesRequest(before=timestamp_in(-3600)))).deleted_count == 0
    assert (await memories.ClearMemories(memory_pb2.ClearMemoriesRequest(all=True))).deleted_count == 1


async def test_expired_memories_vanish_and_are_swept(memories: memory_pb2_grpc.MemoryServiceStub, client: Client) -> None:
    short = await remember(memories, "temporary", FACT, ttl=seconds(60))
    await remember(memories, "lasting", FACT)
    ctx = client.server.memories.ctx
    real_clock = ctx.clock
    ctx.clock = lambda: real_clock() + timedelta(minutes=2)
    try:
        gone = await rpc_error(memories.GetMemory(memory_pb2.GetMemoryRequest(name=short.name)))
        assert gone.code == grpc.StatusCode.NOT_FOUND
        assert [m.content for m in (await memories.ListMemories(memory_pb2.ListMemoriesRequest())).memories] == ["lasting"]
        assert await client.server.memories.sweep_expired() == 1
    finally:
        ctx.clock = real_clock


@pytest.fixture
async def secure(tmp_path: Path) -> AsyncIterator[object]:
    async with running(secure_settings(tmp_path)) as server:
        yield server


async def test_memories_are_private_to_their_owner_even_from_admins(secure: object) -> None:
    async with caller(secure, api_key(ADMIN_KEY)) as admin:  # type: ignore[arg-type]
        alice_key = (await create_key(admin, "alice")).secret
        bob_key = (await create_key(admin, "bob")).secret
        async with caller(secure, api_key(alice_key)) as alice, caller(secure, api_key(bob_key)) as bob:  # type: ignore[arg-type]
            alice_memories = memory_pb2_grpc.MemoryServiceStub(alice.channel)
            bob_memories = memory_pb2_grpc.MemoryServiceStub(bob.channel)
            admin_memories = memory_pb2_grpc.MemoryServiceStub(admin.channel)
            secret = await remember(alice_memories, "Alice's PIN hint")
            assert secret.owner == "alice"
            for stub in (bob_memories, admin_memories):
                hidden = await rpc_error(stub.GetMemory(memory_pb2.GetMemoryRequest(name=secret.name)))
                assert hidden.code == grpc.StatusCode.NOT_FOUND
                assert (await stub.ListMemories(memory_pb2.ListMemoriesRequest())).total_size == 0
                assert (await stub.ClearMemories(memory_pb2.ClearMemoriesRequest(all=True))).deleted_count == 0
            assert (await alice_memories.GetMemory(memory_pb2.GetMemoryRequest(name=secret.name))).content == "Alice's PIN hint"


def _tool_results(events: list[run_pb2.RunEvent]) -> list[dict[str, object]]:
    return [as_dict(e.tool_call_completed.result.output) for e in events if kind(e) == "tool_call_completed"]


async def test_an_agent_saves_and_recalls_memories_with_the_memory_tool(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        runs_: Runs = runs
        agent = await runs_.agent(tools=["memory"])
        first_session = await runs_.session(agent)
        save = {"action": "save", "content": "The user's favourite colour is teal", "type": "profile"}
        events = await runs_.execute_all(first_session, f"[[tool:memory {json.dumps(save)}]]")
        saved = _tool_results(events)[0]
        assert saved["type"] == "profile" and str(saved["saved"]).startswith("memories/")

        stub = memory_pb2_grpc.MemoryServiceStub(runs_.client.channel)
        memory = await stub.GetMemory(memory_pb2.GetMemoryRequest(name=str(saved["saved"])))
        assert memory.type == PROFILE and memory.session == first_session and memory.agent == ""

        second_session = await runs_.session(agent)
        recall = {"action": "recall", "query": "favourite colour"}
        events = await runs_.execute_all(second_session, f"[[tool:memory {json.dumps(recall)}]]")
        recalled = _tool_results(events)[0]
        assert recalled["memories"] == [{"memory": memory.name, "type": "profile", "content": "The user's favourite colour is teal"}]

        failed = await runs_.execute_all(second_session, '[[tool:memory {"action": "save"}]]')
        completed = next(e.tool_call_completed for e in failed if kind(e) == "tool_call_completed")
        assert completed.result.is_error and "content" in as_dict(completed.result.output)["error"]


async def test_profile_memories_reach_the_model_at_the_start_of_a_run(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs, FakeOpenAIServer() as fake:
        fake.script(text_stream("ok"))
        agent = await runs.agent(provider="openai", model="test-model", base_url=fake.base_url, instructions="Be brief.")
        other_agent = await runs.agent()
        stub = memory_pb2_grpc.MemoryServiceStub(runs.client.channel)
        await remember(stub, "Name is Ada", PROFILE)
        await remember(stub, "Works nights", PROFILE, agent=agent)
        await remember(stub, "Only for the other agent", PROFILE, agent=other_agent)
        await remember(stub, "A fact, recalled on demand only", FACT)
        events = await runs.execute_all(await runs.session(agent), "Hi")
        assert kind(events[-1]) == "run_completed"
        system = fake.requests[0].json()["messages"][0]
        assert system == {
            "role": "system",
            "content": "Be brief.\n\nWhat you know about the user, from memory:\n- Name is Ada\n- Works nights",
        }
