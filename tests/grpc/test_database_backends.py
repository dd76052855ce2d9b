"""The same server over the thread-based aiosqlite driver: the async path stays working."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import grpc

from runwire.server.app import RunwireServer
from runwire.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    message_pb2,
    message_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)
from tests.conftest import make_settings


async def test_crud_over_aiosqlite(tmp_path: Path) -> None:
    settings = dataclasses.replace(make_settings(tmp_path), database_url=f"sqlite+aiosqlite:///{tmp_path / 'async.db'}")
    server = RunwireServer(settings)
    port = await server.start()
    try:
        assert not server.agents.ctx.store.inline
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            agents = agent_pb2_grpc.AgentServiceStub(channel)
            sessions = session_pb2_grpc.SessionServiceStub(channel)
            messages = message_pb2_grpc.MessageServiceStub(channel)
            agent = await agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="async")))
            session = await sessions.CreateSession(session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name)))
            await messages.CreateMessage(
                message_pb2.CreateMessageRequest(
                    parent=session.name,
                    message=message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=[common_pb2.ContentPart(text="Grüße")]),
                )
            )
            found = await messages.SearchMessages(message_pb2.SearchMessagesRequest(parent="sessions/-", query="GRÜ"))
            assert [r.message.text for r in found.results] == ["Grüße"]
            listed = await agents.ListAgents(agent_pb2.ListAgentsRequest(filter='display_name = "async"'))
            assert [a.name for a in listed.agents] == [agent.name]
    finally:
        await server.stop(grace=0.2)
