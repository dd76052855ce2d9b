"""AgentService through a real channel: the behaviours the contract promises."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from runwire.v1 import agent_pb2
from tests.conftest import Client, new_request_id, rpc_error
from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, running, secure_settings


async def test_create_returns_the_stored_agent_with_output_fields(client: Client) -> None:
    agent = await client.agents.CreateAgent(
        agent_pb2.CreateAgentRequest(
            agent=agent_pb2.Agent(
                display_name="Support",
                instructions="Be brief.",
                model=agent_pb2.ModelConfig(provider="builtin", temperature=0.5),
                tools=[agent_pb2.AgentTool(name="calculator", requires_approval=True)],
                limits=agent_pb2.AgentLimits(max_steps=5, max_run_duration=duration_pb2.Duration(seconds=30)),
                labels={"team": "care"},
            ),
            agent_id="support-bot",
        )
    )
    assert agent.name == "agents/support-bot"
    assert agent.owner == "local"
    assert agent.state == agent_pb2.Agent.STATE_ACTIVE
    assert agent.etag and agent.create_time.seconds > 0
    fetched = await client.agents.GetAgent(agent_pb2.GetAgentRequest(name=agent.name))
    assert fetched == agent
    assert fetched.model.temperature == 0.5
    assert fetched.tools[0].requires_approval
    assert fetched.limits.max_run_duration.seconds == 30


async def test_generated_ids_are_valid_resource_names(client: Client) -> None:
    agent = await client.agent()
    assert agent.name.startswith("agents/") and len(agent.name.split("/")[1]) == 20


@pytest.mark.parametrize(
    ("agent", "field"),
    [
        (agent_pb2.Agent(), "agent.display_name"),
        (agent_pb2.Agent(display_name="x" * 201), "agent.display_name"),
        (agent_pb2.Agent(display_name="a", model=agent_pb2.ModelConfig(provider="nope")), "agent.model.provider"),
        (agent_pb2.Agent(display_name="a", model=agent_pb2.ModelConfig(temperature=3)), "agent.model.temperature"),
        (agent_pb2.Agent(display_name="a", model=agent_pb2.ModelConfig(base_url="ftp://x")), "agent.model.base_url"),
        (agent_pb2.Agent(display_name="a", tools=[agent_pb2.AgentTool(name="rm-rf")]), "agent.tools[0].name"),
        (agent_pb2.Agent(display_name="a", tools=[agent_pb2.AgentTool(name="x", mcp_server="bad")]), "agent.tools[0].mcp_server"),
        (agent_pb2.Agent(display_name="a", limits=agent_pb2.AgentLimits(max_steps=-1)), "agent.limits.max_steps"),
        (agent_pb2.Agent(display_name="a", labels={"Bad Key": "v"}), "agent.labels.Bad Key"),
        (agent_pb2.Agent(display_name="a", labels={"k": "v" * 64}), "agent.labels.k"),
        (agent_pb2.Agent(display_name="a", state=7), "agent.state"),
    ],
)
async def test_create_rejects_invalid_fields_with_violations(client: Client, agent: agent_pb2.Agent, field: str) -> None:
    failure = await rpc_error(client.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent)))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "INVALID_ARGUMENT"
    assert field in failure.field_violations


async def test_create_reports_every_violation_at_once(client: Client) -> None:
    failure = await rpc_error(
        client.agents.CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(model=agent_pb2.ModelConfig(provider="?")), agent_id="A")
        )
    )
    assert {"agent.display_name", "agent.model.provider"} <= set(failure.field_violations)


@pytest.mark.parametrize("agent_id", ["A", "ab", "has_underscore", "-lead", "trail-", "9digit", "x" * 64])
async def test_create_rejects_bad_ids(client: Client, agent_id: str) -> None:
    failure = await rpc_error(
        client.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="a"), agent_id=agent_id))
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "agent_id" in failure.field_violations


async def test_duplicate_id_is_already_exists(client: Client) -> None:
    request = agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="a"), agent_id="dup-agent")
    await client.agents.CreateAgent(request)
    failure = await rpc_error(client.agents.CreateAgent(request))
    assert failure.code == grpc.StatusCode.ALREADY_EXISTS


async def test_request_id_makes_create_idempotent(client: Client) -> None:
    request = agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="once"), request_id=new_request_id())
    first = await client.agents.CreateAgent(request)
    second = await client.agents.CreateAgent(request)
    assert first == second
    listed = await client.agents.ListAgents(agent_pb2.ListAgentsRequest())
    assert [a.name for a in listed.agents] == [first.name]


async def test_validate_only_creates_nothing(client: Client) -> None:
    preview = await client.agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="dry"), agent_id="dry-run", validate_only=True)
    )
    assert preview.name == "agents/dry-run"
    failure = await rpc_error(client.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/dry-run")))
    assert failure.code == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("name", ["", "agents", "agents/", "sessions/abcd", "agents/ABCD", "agents/abcd/extra"])
async def test_get_rejects_malformed_names(client: Client, name: str) -> None:
    failure = await rpc_error(client.agents.GetAgent(agent_pb2.GetAgentRequest(name=name)))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in failure.field_violations


async def test_get_unknown_agent_is_not_found_with_reason(client: Client) -> None:
    failure = await rpc_error(client.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/missing")))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "AGENT_NOT_FOUND"
    assert failure.metadata["resource"] == "agents/missing"
    assert failure.metadata["request_id"]


async def test_update_with_mask_changes_only_masked_fields(client: Client) -> None:
    agent = await client.agent("Before", description="keep me", labels={"a": "1"})
    updated = await client.agents.UpdateAgent(
        agent_pb2.UpdateAgentRequest(
            agent=agent_pb2.Agent(name=agent.name, display_name="After", description="ignored"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    )
    assert updated.display_name == "After"
    assert updated.description == "keep me"
    assert updated.labels == {"a": "1"}
    assert updated.etag != agent.etag
    assert updated.update_time.ToDatetime() >= agent.update_time.ToDatetime()


async def test_update_nested_path(client: Client) -> None:
    agent = await client.agent(model=agent_pb2.ModelConfig(provider="builtin", model="m1", temperature=1.0))
    updated = await client.agents.UpdateAgent(
        agent_pb2.UpdateAgentRequest(
            agent=agent_pb2.Agent(name=agent.name, model=agent_pb2.ModelConfig(temperature=0.2)),
            update_mask=field_mask_pb2.FieldMask(paths=["model.temperature"]),
        )
    )
    assert updated.model.temperature == pytest.approx(0.2)
    assert updated.model.model == "m1"


async def test_update_without_mask_changes_the_fields_that_are_set(client: Client) -> None:
    agent = await client.agent("Before", description="keep me")
    updated = await client.agents.UpdateAgent(
        agent_pb2.UpdateAgentRequest(agent=agent_pb2.Agent(name=agent.name, display_name="After"))
    )
    assert (updated.display_name, updated.description) == ("After", "keep me")


async def test_update_with_stale_etag_is_aborted(client: Client) -> None:
    agent = await client.agent()
    await client.agents.UpdateAgent(
        agent_pb2.UpdateAgentRequest(agent=agent_pb2.Agent(name=agent.name, display_name="v2", etag=agent.etag))
    )
    failure = await rpc_error(
        client.agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(agent=agent_pb2.Agent(name=agent.name, display_name="v3", etag=agent.etag))
        )
    )
    assert failure.code == grpc.StatusCode.ABORTED
    assert failure.reason == "ETAG_MISMATCH"
    current = await client.agents.GetAgent(agent_pb2.GetAgentRequest(name=agent.name))
    assert current.display_name == "v2"


@pytest.mark.parametrize(
    ("paths", "expected"),
    [(["owner"], "update_mask"), (["nope"], "update_mask"), (["*", "labels"], "update_mask")],
)
async def test_update_rejects_bad_masks(client: Client, paths: list[str], expected: str) -> None:
    agent = await client.agent()
    failure = await rpc_error(
        client.agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(name=agent.name, display_name="x"),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in failure.field_violations


async def test_update_star_replaces_everything(client: Client) -> None:
    agent = await client.agent("Before", description="gone", labels={"a": "1"})
    updated = await client.agents.UpdateAgent(
        agent_pb2.UpdateAgentRequest(
            agent=agent_pb2.Agent(name=agent.name, display_name="After"),
            update_mask=field_mask_pb2.FieldMask(paths=["*"]),
        )
    )
    assert (updated.display_name, updated.description, dict(updated.labels)) == ("After", "", {})


async def test_update_validates_the_merged_agent(client: Client) -> None:
    agent = await client.agent()
    failure = await rpc_error(
        client.agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(name=agent.name, display_name=""),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        )
    )
    assert "agent.display_name" in failure.field_violations


async def test_update_unknown_agent_is_not_found(client: Client) -> None:
    failure = await rpc_error(
        client.agents.UpdateAgent(agent_pb2.UpdateAgentRequest(agent=agent_pb2.Agent(name="agents/nobody", display_name="x")))
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND


async def test_update_validate_only_changes_nothing(client: Client) -> None:
    agent = await client.agent("Before")
    preview = await client.agents.UpdateAgent(
        agent_pb2.UpdateAgentRequest(agent=agent_pb2.Agent(name=agent.name, display_name="After"), validate_only=True)
    )
    assert preview.display_name == "After"
    assert (await client.agents.GetAgent(agent_pb2.GetAgentRequest(name=agent.name))) == agent


async def test_delete_agent(client: Client) -> None:
    agent = await client.agent()
    await client.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name, etag=agent.etag))
    failure = await rpc_error(client.agents.GetAgent(agent_pb2.GetAgentRequest(name=agent.name)))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    missing = await rpc_error(client.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name)))
    assert missing.code == grpc.StatusCode.NOT_FOUND
    await client.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name, allow_missing=True))


async def test_delete_with_stale_etag_is_aborted(client: Client) -> None:
    agent = await client.agent()
    failure = await rpc_error(client.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name, etag='"stale"')))
    assert failure.code == grpc.StatusCode.ABORTED


async def test_delete_agent_with_sessions_needs_force(client: Client) -> None:
    agent = await client.agent()
    session = await client.session(agent.name)
    failure = await rpc_error(client.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name)))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "AGENT_HAS_SESSIONS"
    assert failure.metadata["session_count"] == "1"
    await client.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name, force=True))
    from runwire.v1 import session_pb2

    gone = await rpc_error(client.sessions.GetSession(session_pb2.GetSessionRequest(name=session.name)))
    assert gone.code == grpc.StatusCode.NOT_FOUND


async def test_list_pages_through_every_agent_once(client: Client) -> None:
    created = {(await client.agent(f"agent {i:02d}")).name for i in range(7)}
    seen: list[str] = []
    token = ""
    while True:
        page = await client.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=3, page_token=token))
        assert page.total_size == 7
        seen.extend(a.name for a in page.agents)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 7 and set(seen) == created


async def test_list_pages_are_stable_when_items_are_added_between_pages(client: Client) -> None:
    for i in range(4):
        await client.agent(f"a{i}")
    first = await client.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=2, order_by="display_name"))
    assert [a.display_name for a in first.agents] == ["a0", "a1"]
    await client.agent("a0-late")  # sorts before the cursor: must not shift the next page
    second = await client.agents.ListAgents(
        agent_pb2.ListAgentsRequest(page_size=2, order_by="display_name", page_token=first.next_page_token)
    )
    assert [a.display_name for a in second.agents] == ["a2", "a3"]
    assert second.next_page_token == ""


async def test_list_orders(client: Client) -> None:
    for name in ["bravo", "alpha", "charlie"]:
        await client.agent(name)
    ascending = await client.agents.ListAgents(agent_pb2.ListAgentsRequest(order_by="display_name"))
    assert [a.display_name for a in ascending.agents] == ["alpha", "bravo", "charlie"]
    descending = await client.agents.ListAgents(agent_pb2.ListAgentsRequest(order_by="display_name desc"))
    assert [a.display_name for a in descending.agents] == ["charlie", "bravo", "alpha"]
    newest_first = await client.agents.ListAgents(agent_pb2.ListAgentsRequest())
    assert [a.display_name for a in newest_first.agents] == ["charlie", "alpha", "bravo"]


async def test_list_filters(client: Client) -> None:
    await client.agent("Support desk", labels={"team": "care"})
    await client.agent("Sales", labels={"team": "growth"}, state=agent_pb2.Agent.STATE_DISABLED)
    await client.agent("Billing support", model=agent_pb2.ModelConfig(provider="openai"))

    async def names(filter_text: str) -> list[str]:
        page = await client.agents.ListAgents(agent_pb2.ListAgentsRequest(filter=filter_text, order_by="display_name"))
        return [a.display_name for a in page.agents]

    assert await names('display_name:"support"') == ["Billing support", "Support desk"]
    assert await names("state = DISABLED") == ["Sales"]
    assert await names('labels.team = "care" OR model.provider = "openai"') == ["Billing support", "Support desk"]
    assert await names('NOT labels:team') == ["Billing support"]
    assert await names('state = ACTIVE AND -display_name:"desk"') == ["Billing support"]
    assert await names('create_time > "2000-01-01T00:00:00Z"') == ["Billing support", "Sales", "Support desk"]


@pytest.mark.parametrize(
    ("request_fields", "field", "reason"),
    [
        ({"filter": "display_name = "}, "filter", "INVALID_FILTER"),
        ({"filter": "colour = red"}, "filter", "INVALID_FILTER"),
        ({"filter": "create_time > yesterday"}, "filter", "INVALID_FILTER"),
        ({"filter": "state = SLEEPING"}, "filter", "INVALID_FILTER"),
        ({"order_by": "owner"}, "order_by", "INVALID_ARGUMENT"),
        ({"order_by": "display_name sideways"}, "order_by", "INVALID_ARGUMENT"),
        ({"page_size": -1}, "page_size", "INVALID_ARGUMENT"),
        ({"page_token": "garbage"}, "page_token", "INVALID_PAGE_TOKEN"),
    ],
)
async def test_list_rejects_bad_queries(client: Client, request_fields: dict, field: str, reason: str) -> None:
    failure = await rpc_error(client.agents.ListAgents(agent_pb2.ListAgentsRequest(**request_fields)))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == reason
    assert field in failure.field_violations


async def test_page_token_is_bound_to_its_query_and_tamper_proof(client: Client) -> None:
    for i in range(3):
        await client.agent(f"a{i}")
    page = await client.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=1))
    token = page.next_page_token
    other_query = await rpc_error(
        client.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=1, page_token=token, order_by="display_name"))
    )
    assert other_query.reason == "INVALID_PAGE_TOKEN"
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    altered = await rpc_error(client.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=1, page_token=tampered)))
    assert altered.reason == "INVALID_PAGE_TOKEN"


async def test_page_size_is_capped_not_refused(client: Client) -> None:
    await client.agent()
    page = await client.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=1_000_000))
    assert len(page.agents) == 1


async def test_oversized_request_is_refused_by_the_transport(client: Client) -> None:
    limit = client.server.settings.max_receive_message_bytes
    failure_call = client.agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="big", instructions="x" * (limit + 1)))
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await failure_call
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_request_id_is_echoed_in_metadata(client: Client) -> None:
    call = client.agents.ListAgents(agent_pb2.ListAgentsRequest(), metadata=(("x-request-id", "trace-123"),))
    await call
    assert ("x-request-id", "trace-123") in tuple(await call.trailing_metadata())


async def test_a_request_id_is_generated_when_none_is_sent(client: Client) -> None:
    call = client.agents.ListAgents(agent_pb2.ListAgentsRequest())
    await call
    generated = dict(await call.trailing_metadata())["x-request-id"]
    assert len(generated) == 32
    failure = await rpc_error(client.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/none"), metadata=(("x-request-id", "err-1"),)))
    assert failure.metadata["request_id"] == "err-1"


async def test_get_sees_changes_made_on_another_replica_at_once(tmp_path: Path) -> None:
    """Two servers over one database: GetAgent on one answers what the other just wrote, an update as well as
    an agent deleted and created again under the same name (same revision, another incarnation)."""
    settings = secure_settings(tmp_path)
    async with running(settings) as first, running(settings) as second:
        async with caller(first, api_key(ADMIN_KEY)) as writer, caller(second, api_key(ADMIN_KEY)) as reader:
            created = await writer.agents.CreateAgent(
                agent_pb2.CreateAgentRequest(agent_id="replicated", agent=agent_pb2.Agent(display_name="First"))
            )
            assert (await reader.agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))).display_name == "First"

            await writer.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=created.name))
            again = await writer.agents.CreateAgent(
                agent_pb2.CreateAgentRequest(agent_id="replicated", agent=agent_pb2.Agent(display_name="Second"))
            )
            read = await reader.agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
            assert (read.display_name, read.etag) == ("Second", again.etag) and again.etag != created.etag

            updated = await writer.agents.UpdateAgent(
                agent_pb2.UpdateAgentRequest(
                    agent=agent_pb2.Agent(name=created.name, display_name="Third"),
                    update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                )
            )
            read = await reader.agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
            assert (read.display_name, read.etag) == ("Third", updated.etag)

            await writer.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=created.name))
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await reader.agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
