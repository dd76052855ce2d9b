"""Outgoing requests users can aim: the server's key never leaves for a user's URL, and one egress policy decides
where agents' model servers and HTTP MCP servers may be, checked when they are named and at every connection."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2

from runwire.server.app import RunwireServer
from runwire.server.config import NetworkSettings, ProviderEndpoint, RunSettings, Settings
from runwire.v1 import agent_pb2, config_pb2, config_pb2_grpc, mcp_server_pb2, mcp_server_pb2_grpc
from tests.conftest import make_settings, rpc_error
from tests.fakes.openai_server import FakeOpenAIServer, text_stream
from tests.grpc.mcp_support import ERROR, WAIT, McpServer, principal_for
from tests.grpc.run_support import Runs, connected, kind

ADMIN_KEY = "sk-admin-configured-key"
LOOPBACK_ALLOWED = NetworkSettings(egress_allowed_destinations=("127.0.0.1",))


def egress_settings(tmp_path: Path, network: NetworkSettings, admin_base_url: str = "") -> Settings:
    runs = RunSettings(
        builtin_tokens_per_second=0,
        provider_retry_base_seconds=0.01,
        openai_base_url=admin_base_url,
        openai_api_key=ADMIN_KEY,
        openai_model="admin-model",
    )
    return dataclasses.replace(make_settings(tmp_path), runs=runs, network=network)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Runs]:
    server = RunwireServer(settings, principal_for=principal_for)
    await server.start()
    try:
        async with connected(server) as runs:
            yield runs
    finally:
        await server.stop(grace=0.5)


async def set_egress(runs: Runs, egress: config_pb2.EgressConfig, *paths: str) -> None:
    stub = config_pb2_grpc.ConfigServiceStub(runs.client.channel)
    await stub.UpdateConfig(
        config_pb2.UpdateConfigRequest(
            config=config_pb2.RuntimeConfig(network=config_pb2.NetworkConfig(egress=egress)),
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        )
    )


# -- the server's key ---------------------------------------------------------------------------


async def test_a_users_base_url_never_receives_the_servers_key(tmp_path: Path) -> None:
    async with FakeOpenAIServer() as admins, FakeOpenAIServer() as users:
        async with serving(egress_settings(tmp_path, LOOPBACK_ALLOWED, admin_base_url=admins.base_url)) as runs:
            users.script(text_stream("from the user's server"))
            session = await runs.session(provider="openai", model="m", base_url=users.base_url)
            events = await runs.execute_all(session, "Hi")

            assert kind(events[-1]) == "run_completed"
            assert len(users.requests) == 1
            assert "authorization" not in users.requests[0].headers
            assert ADMIN_KEY not in str(users.requests[0].headers)

            # The endpoint the admin configured still gets the admin's key.
            admins.script(text_stream("from the admin's server"))
            session = await runs.session(provider="openai", model="m")
            events = await runs.execute_all(session, "Hi")
            assert kind(events[-1]) == "run_completed"
            assert admins.requests[0].headers["authorization"] == f"Bearer {ADMIN_KEY}"


# -- the policy when an agent or MCP server is named ---------------------------------------------

REFUSED_HOSTS = [
    pytest.param("127.0.0.1", id="loopback"),
    pytest.param("[::1]", id="ipv6-loopback"),
    pytest.param("localhost", id="localhost"),
    pytest.param("169.254.169.254", id="metadata"),
    pytest.param("10.1.2.3", id="rfc1918"),
    pytest.param("192.168.0.10", id="rfc1918-192"),
    pytest.param("[fd00::1]", id="unique-local"),
    pytest.param("[::ffff:127.0.0.1]", id="ipv4-mapped-loopback"),
    pytest.param("0.0.0.0", id="unspecified"),
    pytest.param("224.0.0.1", id="multicast"),
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
async def test_an_agents_base_url_on_a_non_public_address_is_refused_by_default(tmp_path: Path, host: str) -> None:
    async with serving(egress_settings(tmp_path, NetworkSettings())) as runs:
        model = agent_pb2.ModelConfig(provider="openai", model="m", base_url=f"http://{host}:8080/v1")
        failure = await rpc_error(runs.client.agent(model=model))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "DESTINATION_NOT_ALLOWED"
    assert list(failure.field_violations) == ["agent.model.base_url"]


async def test_an_agent_update_to_a_refused_base_url_is_refused(tmp_path: Path) -> None:
    async with serving(egress_settings(tmp_path, NetworkSettings())) as runs:
        agent = await runs.client.agent(model=agent_pb2.ModelConfig(provider="openai", model="m", base_url="https://models.example.com/v1"))
        agent.model.base_url = "http://169.254.169.254/latest"
        failure = await rpc_error(
            runs.client.agents.UpdateAgent(
                agent_pb2.UpdateAgentRequest(agent=agent, update_mask=field_mask_pb2.FieldMask(paths=["model.base_url"]))
            )
        )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT and failure.reason == "DESTINATION_NOT_ALLOWED"
    assert list(failure.field_violations) == ["agent.model.base_url"]


@pytest.mark.parametrize("host", REFUSED_HOSTS[:5])
async def test_an_http_mcp_server_on_a_non_public_address_is_refused_by_default(tmp_path: Path, host: str) -> None:
    async with serving(egress_settings(tmp_path, NetworkSettings())) as runs:
        stub = mcp_server_pb2_grpc.McpServerServiceStub(runs.client.channel)
        server = McpServer(display_name="x", http=mcp_server_pb2.HttpTransport(url=f"http://{host}:9000/mcp"))
        failure = await rpc_error(stub.CreateMcpServer(mcp_server_pb2.CreateMcpServerRequest(mcp_server=server, mcp_server_id="remote-tools")))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "DESTINATION_NOT_ALLOWED"
    assert list(failure.field_violations) == ["mcp_server.http.url"]


# -- the policy at every connection ----------------------------------------------------------------


async def test_a_host_name_resolving_to_loopback_is_allowed_only_when_configured(tmp_path: Path) -> None:
    async with FakeOpenAIServer() as fake:
        url = fake.base_url.replace("127.0.0.1", "localhost")
        async with serving(egress_settings(tmp_path, NetworkSettings(egress_allow_private=True))) as runs:
            fake.script(text_stream("reached"))
            session = await runs.session(provider="openai", model="m", base_url=url)
            events = await runs.execute_all(session, "Hi")
            assert kind(events[-1]) == "run_completed"
            assert len(fake.requests) == 1

            # The agent was accepted; the configuration changes; the next run's connection is refused.
            await set_egress(runs, config_pb2.EgressConfig(allow_private=False), "network.egress.allow_private")
            events = await runs.execute_all(session, "Hi again")

    failed = events[-1].run_failed
    assert kind(events[-1]) == "run_failed"
    assert failed.error.reason == "DESTINATION_NOT_ALLOWED"
    assert "loopback" in failed.error.message
    assert len(fake.requests) == 1  # nothing reached the server


async def test_an_allow_listed_address_is_reached_and_unlisting_it_refuses_the_next_run(tmp_path: Path) -> None:
    async with FakeOpenAIServer() as fake:
        async with serving(egress_settings(tmp_path, LOOPBACK_ALLOWED)) as runs:
            fake.script(text_stream("reached"))
            session = await runs.session(provider="openai", model="m", base_url=fake.base_url)
            assert kind((await runs.execute_all(session, "Hi"))[-1]) == "run_completed"

            await set_egress(runs, config_pb2.EgressConfig(), "network.egress.allowed_destinations")
            events = await runs.execute_all(session, "Hi again")

    assert events[-1].run_failed.error.reason == "DESTINATION_NOT_ALLOWED"
    assert len(fake.requests) == 1


async def test_an_mcp_connection_to_a_refused_destination_fails_with_the_reason(tmp_path: Path) -> None:
    async with serving(egress_settings(tmp_path, NetworkSettings(egress_allow_private=True))) as runs:
        stub = mcp_server_pb2_grpc.McpServerServiceStub(runs.client.channel)
        # Nothing listens on port 1: the connection fails and is retried, each time through the policy.
        server = McpServer(display_name="x", http=mcp_server_pb2.HttpTransport(url="http://127.0.0.1:1/mcp"))
        created = await stub.CreateMcpServer(mcp_server_pb2.CreateMcpServerRequest(mcp_server=server, mcp_server_id="remote-tools"))
        await set_egress(runs, config_pb2.EgressConfig(allow_private=False), "network.egress.allow_private")


        deadline = time.monotonic() + WAIT
        while True:
            seen = await stub.GetMcpServer(mcp_server_pb2.GetMcpServerRequest(name=created.name))
            if seen.state == ERROR and seen.last_error.reason == "DESTINATION_NOT_ALLOWED":
                break
            assert time.monotonic() < deadline, f"never refused; last seen: {seen}"
            await asyncio.sleep(0.05)
    assert "loopback" in seen.last_error.message


async def test_the_egress_rules_are_read_and_validated_by_the_config_service(tmp_path: Path) -> None:
    async with serving(egress_settings(tmp_path, LOOPBACK_ALLOWED)) as runs:
        stub = config_pb2_grpc.ConfigServiceStub(runs.client.channel)
        config = await stub.GetConfig(config_pb2.GetConfigRequest())
        assert list(config.network.egress.allowed_destinations) == ["127.0.0.1"]
        assert config.network.egress.allow_private is False

        failure = await rpc_error(
            set_egress(runs, config_pb2.EgressConfig(allowed_destinations=["not a host"]), "network.egress.allowed_destinations")
        )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(failure.field_violations) == ["config.network.egress.allowed_destinations[0]"]


# -- named endpoints an admin configured -----------------------------------------------------------


def endpoint_settings(tmp_path: Path, base_url: str) -> Settings:
    vllm = ProviderEndpoint("vllm", base_url, "sk-vllm-endpoint-key", ("small-model",))
    settings = egress_settings(tmp_path, NetworkSettings())  # loopback refused: admin endpoints are trusted anyway
    return dataclasses.replace(settings, runs=dataclasses.replace(settings.runs, provider_endpoints=(vllm,)))


async def test_a_named_endpoint_gets_its_own_key_and_only_its_allowed_models(tmp_path: Path) -> None:
    async with FakeOpenAIServer() as fake, serving(endpoint_settings(tmp_path, fake.base_url)) as runs:
        config = await config_pb2_grpc.ConfigServiceStub(runs.client.channel).GetConfig(config_pb2.GetConfigRequest())
        assert [(e.name, e.api_key, list(e.allowed_models)) for e in config.providers.endpoints] == [
            ("vllm", "********", ["small-model"])
        ]

        fake.script(text_stream("from vllm"))
        model = agent_pb2.ModelConfig(provider="openai", model="small-model", endpoint="vllm")
        agent = await runs.client.agent(model=model)
        assert agent.model.endpoint == "vllm"
        events = await runs.execute_all((await runs.client.session(agent.name)).name, "Hi")
        assert kind(events[-1]) == "run_completed"
        assert fake.requests[0].headers["authorization"] == "Bearer sk-vllm-endpoint-key"
        assert fake.requests[0].json()["model"] == "small-model"

        cases = [
            (agent_pb2.ModelConfig(provider="openai", model="big-model", endpoint="vllm"), "MODEL_NOT_ALLOWED", "agent.model.model"),
            (agent_pb2.ModelConfig(provider="openai", model="m", endpoint="nope"), "PROVIDER_ENDPOINT_NOT_FOUND", "agent.model.endpoint"),
            (
                agent_pb2.ModelConfig(provider="openai", model="m", endpoint="vllm", base_url="https://models.example.com/v1"),
                "INVALID_ARGUMENT",
                "agent.model.endpoint",
            ),
        ]
        for bad, reason, field in cases:
            failure = await rpc_error(runs.client.agent(model=bad))
            assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
            assert list(failure.field_violations) == [field]
            assert "sk-vllm" not in failure.message


async def test_a_run_fails_with_a_clear_reason_when_its_endpoint_is_removed(tmp_path: Path) -> None:
    async with FakeOpenAIServer() as fake, serving(endpoint_settings(tmp_path, fake.base_url)) as runs:
        model = agent_pb2.ModelConfig(provider="openai", model="small-model", endpoint="vllm")
        session = (await runs.client.session((await runs.client.agent(model=model)).name)).name

        stub = config_pb2_grpc.ConfigServiceStub(runs.client.channel)
        await stub.UpdateConfig(
            config_pb2.UpdateConfigRequest(
                config=config_pb2.RuntimeConfig(providers=config_pb2.ProvidersConfig()),
                update_mask=field_mask_pb2.FieldMask(paths=["providers.endpoints"]),
            )
        )
        events = await runs.execute_all(session, "Hi")

    assert events[-1].run_failed.error.reason == "PROVIDER_ENDPOINT_NOT_FOUND"
    assert fake.requests == []
