"""`runwire.client` against a real server: agents, sessions, messages and runs through both clients, and pagers."""

from __future__ import annotations

import asyncio

import pytest

from runwire.client import AsyncClient, Client, NotFound, PageTokenLoop
from runwire.server.app import RunwireServer
from runwire.v1 import agent_pb2, message_pb2, run_pb2, session_pb2
from tests.client.support import WAIT
from tests.grpc.run_support import run_settings


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    return run_settings(tmp_path)


def address(server: RunwireServer) -> str:
    return f"127.0.0.1:{server.port}"


async def test_async_client_manages_agents_sessions_and_messages(server: RunwireServer) -> None:
    async with AsyncClient(address(server)) as client:
        agent = await client.agents.create(agent_pb2.Agent(display_name="Support"), agent_id="support")
        assert agent.name == "agents/support"
        renamed = await client.agents.update(agent_pb2.Agent(name=agent.name, display_name="Care"), ["display_name"])
        assert renamed.display_name == "Care" and renamed.etag != agent.etag
        assert (await client.agents.get("agents/support")).display_name == "Care"

        session = await client.sessions.create(session_pb2.Session(agent=agent.name), session_id="ticket-42")
        message = await client.messages.create(
            session.name, message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=[{"text": "where is my parcel"}])
        )
        assert (await client.messages.get(message.name)).text == "where is my parcel"
        found = [r.message.name async for r in client.messages.search(session.name, "parcel")]
        assert found == [message.name]
        assert [m.name async for m in client.messages.list(session.name)] == [message.name]

        await client.messages.delete(message.name)
        await client.sessions.delete(session.name)
        await client.agents.delete(agent.name)
        with pytest.raises(NotFound):
            await client.agents.get(agent.name)


async def test_sync_client_manages_agents_and_runs(server: RunwireServer) -> None:
    def scenario() -> tuple[str, run_pb2.Run]:
        with Client(address(server)) as client:
            agent = client.agents.create(agent_pb2.Agent(display_name="Echo"))
            session = client.sessions.create(session_pb2.Session(agent=agent.name))
            events = list(client.runs.execute(session.name, "hello"))
            text = "".join(e.text_delta.text for e in events if e.WhichOneof("payload") == "text_delta")
            return text, client.runs.get(events[0].run)

    text, run = await asyncio.wait_for(asyncio.to_thread(scenario), WAIT)
    assert text == "You said: hello"
    assert run.status == run_pb2.Run.STATUS_SUCCEEDED and run.output.text == text


async def test_pagers_follow_page_tokens_until_the_last_page(server: RunwireServer) -> None:
    async with AsyncClient(address(server)) as client:
        names = {(await client.agents.create(agent_pb2.Agent(display_name=f"a{i}"))).name for i in range(7)}
        pages = [page async for page in client.agents.list(page_size=3).pages()]
        assert [len(p.agents) for p in pages] == [3, 3, 1]
        assert pages[-1].next_page_token == "" and all(p.next_page_token for p in pages[:-1])
        assert {a.name async for a in client.agents.list(page_size=3)} == names
        # A pager sends nothing until it is iterated, and each iteration starts over.
        pager = client.agents.list(page_size=5, order_by="display_name")
        first = [a.display_name async for a in pager]
        assert first == [a.display_name async for a in pager] == [f"a{i}" for i in range(7)]

    def sync_listing() -> list[int]:
        with Client(address(server)) as client:
            return [len(page.agents) for page in client.agents.list(page_size=4).pages()]

    assert await asyncio.to_thread(sync_listing) == [4, 3]


async def test_a_pager_stops_when_the_server_repeats_a_page_token(server: RunwireServer) -> None:
    class Repeating:
        """A list method that always answers with the same next page token."""

        async def __call__(self, request, **options):  # type: ignore[no-untyped-def]
            return agent_pb2.ListAgentsResponse(agents=[agent_pb2.Agent(name="agents/x")], next_page_token="same")

    async with AsyncClient(address(server)) as client:
        pager = client.pager(Repeating(), agent_pb2.ListAgentsRequest())  # type: ignore[arg-type]
        seen = []
        with pytest.raises(PageTokenLoop):
            async for agent in pager:
                seen.append(agent.name)
        assert seen == ["agents/x", "agents/x"]


async def test_the_rpcs_are_reachable_by_their_own_names_with_the_same_defaults(server: RunwireServer) -> None:
    async with AsyncClient(address(server)) as client:
        created = await client.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="raw")))
        listed = await client.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=5))
        assert [a.name for a in listed.agents] == [created.name]
        with pytest.raises(NotFound):
            await client.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/none"))


async def test_both_clients_manage_secrets_without_ever_reading_a_value(server: RunwireServer) -> None:
    from runwire.v1 import secret_pb2

    async with AsyncClient(address(server)) as client:
        created = await client.secrets.create(secret_pb2.Secret(value="sk-async", display_name="Key"), secret_id="async-key")
        rotated = await client.secrets.update(secret_pb2.Secret(name=created.name, value="sk-rotated"), ["value"])
        assert rotated.value == "" and rotated.etag != created.etag
        assert [s.name async for s in client.secrets.list()] == ["secrets/async-key"]

    def with_the_sync_client() -> None:  # in a thread: the server shares this test's event loop
        with Client(address(server)) as client:
            assert client.secrets.get("secrets/async-key").display_name == "Key"
            client.secrets.delete("secrets/async-key")
            with pytest.raises(NotFound):
                client.secrets.get("secrets/async-key")

    await asyncio.to_thread(with_the_sync_client)


async def test_the_client_sends_lists_and_acknowledges_server_messages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, create_key, running, secure_settings

    async with running(secure_settings(tmp_path)) as server:
        async with caller(server, api_key(ADMIN_KEY)) as admin:
            service_key = (await create_key(admin, "svc:ops", scopes=["messaging.send"])).secret
            alice_key = (await create_key(admin, "alice")).secret
        async with AsyncClient(address(server), api_key=service_key) as service, AsyncClient(address(server), api_key=alice_key) as alice:
            sent = await service.messaging.notify("principals/alice", "Backup done", title="Ops")
            assert [m.name async for m in alice.messaging.list()] == [sent.name]
            assert (await alice.messaging.acknowledge(sent.name)).state == sent.STATE_READ
            [seen] = [m async for m in service.messaging.list(sent=True)]
            assert seen.deliveries[0].state == sent.STATE_READ
            assert (await service.messaging.get(sent.name)).title == "Ops"
