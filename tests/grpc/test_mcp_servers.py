"""McpServerService and ToolService through real stubs, against a real MCP server (tests/fakes/mcp_tools_server.py)
run over stdio by the server under test, and over Streamable HTTP as a separate process."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import grpc
import pytest

from runwire.server.app import RunwireServer
from runwire.v1 import (
    agent_pb2,
    error_reason_pb2,
    mcp_server_pb2,
    mcp_server_pb2_grpc,
    run_pb2,
    tool_pb2,
    tool_pb2_grpc,
)
from tests.conftest import rpc_error
from tests.grpc.leak_support import assert_no_internals
from tests.grpc.mcp_support import (
    CONNECTING,
    DISABLED,
    ERROR,
    READY,
    REPO,
    WAIT,
    McpServer,
    fake_stdio,
    mcp_settings,
    principal_for,
)
from tests.grpc.run_support import (
    TOOL_STATE,
    Runs,
    as_dict,
    connected,
    kind,
    read_until_kind,
    seconds,
    text_of,
)


@dataclasses.dataclass
class Mcp:
    runs: Runs
    servers: mcp_server_pb2_grpc.McpServerServiceStub
    tools: tool_pb2_grpc.ToolServiceStub

    @property
    def server(self) -> RunwireServer:
        return self.runs.server

    async def register(self, server_id: str = "fake-tools", **fields: Any) -> McpServer:
        fields.setdefault("display_name", "Fake tools")
        if "http" not in fields:
            fields.setdefault("stdio", fake_stdio())
        return await self.servers.CreateMcpServer(
            mcp_server_pb2.CreateMcpServerRequest(mcp_server=McpServer(**fields), mcp_server_id=server_id), timeout=WAIT
        )

    async def session(self, *tools: agent_pb2.AgentTool, **agent: Any) -> str:
        """A session of a new agent with these tools."""
        agent = await self.runs.client.agent(tools=list(tools), **agent)
        return (await self.runs.client.session(agent.name)).name

    async def get(self, name: str) -> McpServer:
        return await self.servers.GetMcpServer(mcp_server_pb2.GetMcpServerRequest(name=name))

    async def wait_for(self, name: str, condition: Callable[[McpServer], bool], timeout: float = WAIT) -> McpServer:
        deadline = time.monotonic() + timeout
        while True:
            server = await self.get(name)
            if condition(server):
                return server
            assert time.monotonic() < deadline, f"{name} never reached the condition; last seen: {server}"
            await asyncio.sleep(0.05)

    async def list_tools(self, **request: Any) -> tool_pb2.ListToolsResponse:
        return await self.tools.ListTools(tool_pb2.ListToolsRequest(**request))


@asynccontextmanager
async def mcp_serving(tmp_path: Path) -> AsyncIterator[Mcp]:
    server = RunwireServer(mcp_settings(tmp_path), principal_for=principal_for)
    await server.start()
    try:
        async with connected(server) as runs:
            channel = runs.client.channel
            yield Mcp(runs, mcp_server_pb2_grpc.McpServerServiceStub(channel), tool_pb2_grpc.ToolServiceStub(channel))
    finally:
        await server.stop(grace=0.5)


@pytest.fixture
async def mcp(tmp_path: Path) -> AsyncIterator[Mcp]:
    async with mcp_serving(tmp_path) as instance:
        yield instance


# -- registration --------------------------------------------------------------------


async def test_a_registered_stdio_server_is_ready_with_its_tools(mcp: Mcp) -> None:
    server = await mcp.register(description="tools for the tests", labels={"env": "test"}, stdio=fake_stdio(TOKEN="s3cret"))

    assert server.name == "mcpServers/fake-tools"
    assert server.state == READY
    assert server.server_version == "fake-tools 1.2.3"
    assert server.protocol_version
    assert server.HasField("ready_time")
    assert server.stdio.env == {"TOKEN": "********"}, "secrets are never returned"
    tools = {t.call_name: t for t in server.tools}
    assert set(tools) == {f"mcp.fake-tools.{t}" for t in ("add", "boom", "describe", "echo", "wait", "crash", "exit_soon")}
    add = tools["mcp.fake-tools.add"]
    assert add.name == "mcpServers/fake-tools/tools/add"
    assert add.display_name == "Add numbers"
    assert add.source == tool_pb2.Tool.SOURCE_MCP and add.available
    assert as_dict(add.parameters)["required"] == ["a", "b"]
    assert as_dict(add.output_schema)["type"] == "object"

    listed = await mcp.servers.ListMcpServers(mcp_server_pb2.ListMcpServersRequest(filter="state = READY AND labels.env = test"))
    assert [s.name for s in listed.mcp_servers] == [server.name]
    assert (await mcp.servers.ListMcpServers(mcp_server_pb2.ListMcpServersRequest(filter="state = ERROR"))).mcp_servers == []


async def test_tool_service_lists_builtin_and_mcp_tools_with_schemas(mcp: Mcp) -> None:
    await mcp.register()

    everything = await mcp.list_tools()
    by_call = {t.call_name: t for t in everything.tools}
    assert {"calculator", "current_time", "session_search", "mcp.fake-tools.add"} <= set(by_call)
    assert everything.total_size == len(everything.tools)
    calculator = by_call["calculator"]
    assert calculator.name == "tools/calculator" and calculator.source == tool_pb2.Tool.SOURCE_BUILTIN and calculator.available
    assert as_dict(calculator.parameters)["required"] == ["expression"]

    only_mcp = await mcp.list_tools(filter='source = MCP AND call_name : "add"')
    assert [t.name for t in only_mcp.tools] == ["mcpServers/fake-tools/tools/add"]

    got = await mcp.tools.GetTool(tool_pb2.GetToolRequest(name="mcpServers/fake-tools/tools/echo"))
    assert got.call_name == "mcp.fake-tools.echo" and got.mcp_server == "mcpServers/fake-tools"
    assert (await mcp.tools.GetTool(tool_pb2.GetToolRequest(name="tools/calculator"))).call_name == "calculator"

    first = await mcp.list_tools(page_size=2)
    second = await mcp.list_tools(page_size=2, page_token=first.next_page_token)
    names = [t.call_name for t in [*first.tools, *second.tools]]
    assert names == sorted(by_call)[:4]


async def test_tools_of_an_agent_with_effective_approval(mcp: Mcp) -> None:
    await mcp.register()
    agent = await mcp.runs.client.agent(
        tools=[
            agent_pb2.AgentTool(name="calculator"),
            agent_pb2.AgentTool(name="add", mcp_server="mcpServers/fake-tools", requires_approval=True),
        ]
    )

    listed = await mcp.list_tools(agent=agent.name)

    assert [(t.call_name, t.requires_approval) for t in listed.tools] == [("calculator", False), ("mcp.fake-tools.add", True)]


async def test_an_agent_run_calls_an_mcp_tool_and_sees_its_result(mcp: Mcp) -> None:
    await mcp.register()
    session = await mcp.session(agent_pb2.AgentTool(name="add", mcp_server="mcpServers/fake-tools"))

    events = await mcp.runs.execute_all(session, '[[tool:mcp.fake-tools.add {"a": 2, "b": 40}]]')

    completed = [e.tool_call_completed for e in events if kind(e) == "tool_call_completed"]
    assert len(completed) == 1
    assert completed[0].state == TOOL_STATE.STATE_SUCCEEDED and not completed[0].result.is_error
    assert as_dict(completed[0].result.output) == {"sum": 42.0}
    assert '"sum": 42' in text_of(events)
    assert kind(events[-1]) == "run_completed"


async def test_a_tool_error_and_a_timeout_reach_the_model_not_the_run(mcp: Mcp) -> None:
    await mcp.register()
    session = await mcp.session(
        agent_pb2.AgentTool(name="echo", mcp_server="mcpServers/fake-tools"),
        agent_pb2.AgentTool(name="wait", mcp_server="mcpServers/fake-tools"),
        limits=agent_pb2.AgentLimits(tool_timeout=seconds(1)),
    )

    events = await mcp.runs.execute_all(
        session, '[[tool:mcp.fake-tools.echo {"text": "boom", "fail": true}]] [[tool:mcp.fake-tools.wait {"seconds": 20}]]'
    )

    completed = {e.tool_call_completed.tool: e.tool_call_completed for e in events if kind(e) == "tool_call_completed"}
    echo, wait = completed["mcp.fake-tools.echo"], completed["mcp.fake-tools.wait"]
    assert echo.state == TOOL_STATE.STATE_FAILED and "echo was told to fail: boom" in as_dict(echo.result.output)["error"]
    assert wait.state == TOOL_STATE.STATE_TIMED_OUT and wait.result.is_error, as_dict(wait.result.output)
    assert kind(events[-1]) == "run_completed"
    assert (await mcp.get("mcpServers/fake-tools")).state == READY


async def test_cancelling_a_run_stops_its_mcp_call(mcp: Mcp) -> None:
    await mcp.register()
    session = await mcp.session(agent_pb2.AgentTool(name="wait", mcp_server="mcpServers/fake-tools"))
    run = await mcp.runs.create(session, '[[tool:mcp.fake-tools.wait {"seconds": 60}]]')
    await read_until_kind(mcp.runs.stream_events(run.name), "tool_call_started")

    cancelled = await mcp.runs.cancel(run.name, "enough")
    ended = await mcp.runs.wait_end(cancelled.name)

    assert ended.status == run_pb2.Run.STATUS_CANCELLED
    assert (await mcp.get("mcpServers/fake-tools")).state == READY, "the server survives a cancelled call"


async def test_a_server_that_dies_mid_call_is_a_tool_error_and_is_restarted(mcp: Mcp, tmp_path: Path) -> None:
    marker = tmp_path / "crashed"
    server = await mcp.register(stdio=fake_stdio(MCP_FAKE_CRASH_MARKER=str(marker)))
    assert server.restart_count == 0
    session = await mcp.session(agent_pb2.AgentTool(name="crash", mcp_server="mcpServers/fake-tools"))

    events = await mcp.runs.execute_all(session, "[[tool:mcp.fake-tools.crash]]")

    assert marker.exists(), "the process did exit mid-call"
    completed = [e.tool_call_completed for e in events if kind(e) == "tool_call_completed"]
    assert completed[0].state == TOOL_STATE.STATE_FAILED
    assert "closed the connection" in as_dict(completed[0].result.output)["error"]
    assert kind(events[-1]) == "run_completed", "the run goes on and answers"

    restarted = await mcp.wait_for(server.name, lambda s: s.state == READY and s.restart_count == 1)
    assert restarted.last_error.reason == "MCP_SERVER_UNAVAILABLE"
    assert restarted.last_error.message and restarted.HasField("last_error_time")

    again = await mcp.runs.execute_all(session, "[[tool:mcp.fake-tools.crash]]")
    result = [e.tool_call_completed for e in again if kind(e) == "tool_call_completed"][0]
    assert result.state == TOOL_STATE.STATE_SUCCEEDED and as_dict(result.result.output) == {"result": "survived"}

    refreshed = await mcp.servers.RefreshMcpServer(mcp_server_pb2.RefreshMcpServerRequest(name=server.name), timeout=WAIT)
    assert refreshed.state == READY and refreshed.restart_count == 0 and not refreshed.HasField("last_error")


async def test_a_server_that_dies_while_idle_is_noticed_and_restarted(mcp: Mcp) -> None:
    server = await mcp.register()
    session = await mcp.session(agent_pb2.AgentTool(name="exit_soon", mcp_server=server.name))

    events = await mcp.runs.execute_all(session, "[[tool:mcp.fake-tools.exit_soon]]")

    result = [e.tool_call_completed for e in events if kind(e) == "tool_call_completed"][0]
    assert result.state == TOOL_STATE.STATE_SUCCEEDED, "the call itself answered before the process exited"
    restarted = await mcp.wait_for(server.name, lambda s: s.state == READY and s.restart_count == 1)
    assert "ping" in restarted.last_error.message or "closed" in restarted.last_error.message, restarted.last_error


async def test_a_command_that_fails_is_reported_and_retried(mcp: Mcp) -> None:
    failing = mcp_server_pb2.StdioTransport(command=sys.executable, args=["-c", "import sys; sys.exit(5)"])

    server = await mcp.register("broken", stdio=failing, call_timeout=seconds(5))

    assert server.state in (ERROR, CONNECTING)
    errored = await mcp.wait_for(server.name, lambda s: s.state == ERROR and s.HasField("last_error"))
    assert errored.last_error.reason == "MCP_SERVER_UNAVAILABLE"
    session = await mcp.session(agent_pb2.AgentTool(name="anything", mcp_server=server.name))
    events = await mcp.runs.execute_all(session, "[[tool:mcp.broken.anything]]")
    result = [e.tool_call_completed for e in events if kind(e) == "tool_call_completed"][0]
    assert result.result.is_error, "a tool of a server that is down is a tool error for the model"
    assert kind(events[-1]) == "run_completed"


async def test_mcp_failures_are_told_in_the_servers_own_words(mcp: Mcp, tmp_path: Path) -> None:
    closed_port = _closed_loopback_port()
    gone_dir = tmp_path / "gone"
    gone_dir.mkdir()
    exits = mcp_server_pb2.StdioTransport(command=sys.executable, args=["-c", "import sys; sys.exit(5)"], cwd=str(gone_dir))
    registered = await mcp.register("exits", stdio=exits, call_timeout=seconds(5))
    errored = await mcp.wait_for(registered.name, lambda s: s.state == ERROR and bool(s.last_error.message))
    seen = [errored.last_error.message]
    gone_dir.rmdir()  # the next restart cannot start the command in it
    errored = await mcp.wait_for(registered.name, lambda s: s.last_error.message == "cannot start the command (not found)")
    seen.append(errored.last_error.message)
    http = mcp_server_pb2.HttpTransport(url=f"http://127.0.0.1:{closed_port}/mcp")
    unreachable = await mcp.register("unreachable", http=http, call_timeout=seconds(5))
    errored = await mcp.wait_for(unreachable.name, lambda s: s.state == ERROR and bool(s.last_error.message))
    assert errored.last_error.message == "connection refused", errored.last_error
    seen.append(errored.last_error.message)

    await mcp.register()
    await mcp.wait_for("mcpServers/fake-tools", lambda s: s.state == READY)
    session = await mcp.session(
        agent_pb2.AgentTool(name="boom", mcp_server="mcpServers/fake-tools"),
        agent_pb2.AgentTool(name="anything", mcp_server=unreachable.name),
    )
    events = await mcp.runs.execute_all(session, "[[tool:mcp.fake-tools.boom]] [[tool:mcp.unreachable.anything]]")
    results = [e.tool_call_completed.result for e in events if kind(e) == "tool_call_completed"]
    assert len(results) == 2 and all(r.is_error for r in results)
    seen.extend(as_dict(r.output)["error"] for r in results)

    for text in seen:
        assert_no_internals(text, paths=[str(tmp_path), str(closed_port)])


def _closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_registrations_survive_a_restart_and_reconnect(tmp_path: Path) -> None:
    async with mcp_serving(tmp_path) as mcp:
        await mcp.register()
    async with mcp_serving(tmp_path) as mcp:
        server = await mcp.wait_for("mcpServers/fake-tools", lambda s: s.state == READY)
        assert len(server.tools) == 7
        session = await mcp.session(agent_pb2.AgentTool(name="add", mcp_server=server.name))
        events = await mcp.runs.execute_all(session, '[[tool:mcp.fake-tools.add {"a": 1, "b": 1}]]')
        completed = [e.tool_call_completed for e in events if kind(e) == "tool_call_completed"]
        assert as_dict(completed[0].result.output) == {"sum": 2.0}


async def test_disable_update_and_delete(mcp: Mcp) -> None:
    server = await mcp.register()
    agent = await mcp.runs.client.agent(tools=[agent_pb2.AgentTool(name="add", mcp_server=server.name)])

    disabled = await mcp.servers.UpdateMcpServer(
        mcp_server_pb2.UpdateMcpServerRequest(mcp_server=McpServer(name=server.name, disabled=True), update_mask={"paths": ["disabled"]})
    )
    assert disabled.state == DISABLED and disabled.etag != server.etag
    listed = await mcp.list_tools(filter="source = MCP")
    assert listed.tools and not any(t.available for t in listed.tools)
    refused = await rpc_error(mcp.servers.RefreshMcpServer(mcp_server_pb2.RefreshMcpServerRequest(name=server.name)))
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION and refused.reason == "MCP_SERVER_DISABLED"
    assert refused.metadata["resource"] == server.name
    assert f"ERROR_REASON_{refused.reason}" in error_reason_pb2.ErrorReason.keys()  # a value of the contract

    in_use = await rpc_error(mcp.servers.DeleteMcpServer(mcp_server_pb2.DeleteMcpServerRequest(name=server.name)))
    assert in_use.code == grpc.StatusCode.FAILED_PRECONDITION and in_use.reason == "MCP_SERVER_IN_USE"
    assert agent.name in in_use.metadata["agents"]

    await mcp.servers.DeleteMcpServer(mcp_server_pb2.DeleteMcpServerRequest(name=server.name, force=True))
    gone = await rpc_error(mcp.servers.GetMcpServer(mcp_server_pb2.GetMcpServerRequest(name=server.name)))
    assert gone.code == grpc.StatusCode.NOT_FOUND and gone.reason == "MCP_SERVER_NOT_FOUND"
    assert not any(t.source == tool_pb2.Tool.SOURCE_MCP for t in (await mcp.list_tools()).tools)


async def test_secrets_are_kept_on_update_with_the_placeholder(mcp: Mcp) -> None:
    server = await mcp.register(stdio=fake_stdio(TOKEN="s3cret"))
    stdio = mcp_server_pb2.StdioTransport()
    stdio.CopyFrom(server.stdio)
    stdio.env["EXTRA"] = "x"

    updated = await mcp.servers.UpdateMcpServer(
        mcp_server_pb2.UpdateMcpServerRequest(mcp_server=McpServer(name=server.name, stdio=stdio), update_mask={"paths": ["stdio"]}),
        timeout=WAIT,
    )

    assert dict(updated.stdio.env) == {"TOKEN": "********", "EXTRA": "********"}
    row_transport = await _stored_transport(mcp, "fake-tools")
    assert row_transport["stdio"]["env"] == {"TOKEN": "s3cret", "EXTRA": "x"}


async def _stored_transport(mcp: Mcp, server_id: str) -> dict[str, Any]:
    from runwire.server.store import mcp_servers as mcp_repo

    async with mcp.server.mcp_servers.ctx.store.read() as db:
        row = await mcp_repo.get_mcp_server(db, server_id)
    return dict(row.transport)


# -- bad input and permissions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "field"),
    [
        pytest.param(McpServer(display_name="x"), "mcp_server.stdio", id="no-transport"),
        pytest.param(
            McpServer(display_name="x", stdio=mcp_server_pb2.StdioTransport(command="no-such-command-anywhere")),
            "mcp_server.stdio.command",
            id="unknown-command",
        ),
        pytest.param(
            McpServer(display_name="x", stdio=mcp_server_pb2.StdioTransport(command="/no/such/file")),
            "mcp_server.stdio.command",
            id="missing-path",
        ),
        pytest.param(
            McpServer(display_name="x", stdio=mcp_server_pb2.StdioTransport(command="python3", cwd="relative")),
            "mcp_server.stdio.cwd",
            id="relative-cwd",
        ),
        pytest.param(McpServer(display_name="x", http=mcp_server_pb2.HttpTransport(url="ftp://host/mcp")), "mcp_server.http.url", id="ftp-url"),
        pytest.param(McpServer(display_name="x", http=mcp_server_pb2.HttpTransport(url="not a url")), "mcp_server.http.url", id="bad-url"),
        pytest.param(McpServer(display_name="x", http=mcp_server_pb2.HttpTransport(url="http:///mcp")), "mcp_server.http.url", id="no-host"),
        pytest.param(
            McpServer(display_name="x", http=mcp_server_pb2.HttpTransport(url="http://h/mcp", headers={"bad header": "v"})),
            "mcp_server.http.headers",
            id="bad-header",
        ),
        pytest.param(
            McpServer(display_name="", http=mcp_server_pb2.HttpTransport(url="http://h/mcp")), "mcp_server.display_name", id="no-name"
        ),
        pytest.param(
            McpServer(display_name="x", http=mcp_server_pb2.HttpTransport(url="http://h/mcp"), call_timeout=seconds(3600)),
            "mcp_server.call_timeout",
            id="timeout-too-long",
        ),
    ],
)
async def test_bad_registrations_are_invalid_argument_with_field_details(mcp: Mcp, server: McpServer, field: str) -> None:
    failure = await rpc_error(mcp.servers.CreateMcpServer(mcp_server_pb2.CreateMcpServerRequest(mcp_server=server)))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in failure.field_violations, failure.field_violations
    assert (await mcp.servers.ListMcpServers(mcp_server_pb2.ListMcpServersRequest())).mcp_servers == []


async def test_bad_tool_names_and_filters(mcp: Mcp) -> None:
    bad_name = await rpc_error(mcp.tools.GetTool(tool_pb2.GetToolRequest(name="widgets/x")))
    assert bad_name.code == grpc.StatusCode.INVALID_ARGUMENT and "name" in bad_name.field_violations
    missing = await rpc_error(mcp.tools.GetTool(tool_pb2.GetToolRequest(name="tools/nope")))
    assert missing.code == grpc.StatusCode.NOT_FOUND and missing.reason == "TOOL_NOT_FOUND"
    no_server = await rpc_error(mcp.tools.GetTool(tool_pb2.GetToolRequest(name="mcpServers/nope/tools/x")))
    assert no_server.code == grpc.StatusCode.NOT_FOUND and no_server.reason == "MCP_SERVER_NOT_FOUND"
    bad_filter = await rpc_error(mcp.tools.ListTools(tool_pb2.ListToolsRequest(filter="colour = red")))
    assert bad_filter.code == grpc.StatusCode.INVALID_ARGUMENT and bad_filter.reason == "INVALID_FILTER"
    bad_source = await rpc_error(mcp.tools.ListTools(tool_pb2.ListToolsRequest(filter="source = SOMEWHERE")))
    assert bad_source.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_agents_must_reference_registered_servers_and_their_tools(mcp: Mcp) -> None:
    await mcp.register()

    unknown_server = await rpc_error(
        mcp.runs.client.agent(tools=[agent_pb2.AgentTool(name="add", mcp_server="mcpServers/elsewhere")])
    )
    assert unknown_server.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not exist" in unknown_server.field_violations["agent.tools[0].mcp_server"]

    unknown_tool = await rpc_error(
        mcp.runs.client.agent(tools=[agent_pb2.AgentTool(name="subtract", mcp_server="mcpServers/fake-tools")])
    )
    assert "add" in unknown_tool.field_violations["agent.tools[0].name"]


async def test_only_admins_register_stdio_servers_and_only_owners_change_them(mcp: Mcp) -> None:
    as_alice = (("x-test-principal", "alice"),)
    denied = await rpc_error(
        mcp.servers.CreateMcpServer(
            mcp_server_pb2.CreateMcpServerRequest(mcp_server=McpServer(display_name="x", stdio=fake_stdio())), metadata=as_alice
        )
    )
    assert denied.code == grpc.StatusCode.PERMISSION_DENIED

    server = await mcp.register()
    seen = await mcp.servers.GetMcpServer(mcp_server_pb2.GetMcpServerRequest(name=server.name), metadata=as_alice)
    assert seen.name == server.name, "registrations are shared"
    before = await mcp.wait_for(server.name, lambda s: s.state == READY)
    for call in (
        mcp.servers.DeleteMcpServer(mcp_server_pb2.DeleteMcpServerRequest(name=server.name), metadata=as_alice),
        mcp.servers.RefreshMcpServer(mcp_server_pb2.RefreshMcpServerRequest(name=server.name), metadata=as_alice),
        mcp.servers.UpdateMcpServer(
            mcp_server_pb2.UpdateMcpServerRequest(
                mcp_server=McpServer(name=server.name, disabled=True), update_mask={"paths": ["disabled"]}
            ),
            metadata=as_alice,
        ),
    ):
        not_hers = await rpc_error(call)
        assert (not_hers.code, not_hers.reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    # Nothing was reconnected, changed or deleted.
    after = await mcp.get(server.name)
    assert (after.state, after.etag, after.ready_time) == (READY, before.etag, before.ready_time)


# -- Streamable HTTP ------------------------------------------------------------------------


@pytest.fixture
def http_mcp_server(tmp_path: Path) -> Any:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.mcp_tools_server", "--http", str(port_file)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + WAIT
        while not port_file.exists():
            assert process.poll() is None, "the HTTP MCP server exited"
            assert time.monotonic() < deadline, "the HTTP MCP server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text()}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_a_streamable_http_server_serves_tools_to_a_run(mcp: Mcp, http_mcp_server: str) -> None:
    http = mcp_server_pb2.HttpTransport(url=http_mcp_server, headers={"Authorization": "Bearer t0ken"})
    registered = await mcp.register("http-tools", http=http)
    server = await mcp.wait_for(registered.name, lambda s: s.state == READY)

    assert server.http.headers == {"Authorization": "********"}
    assert {t.call_name for t in server.tools} >= {"mcp.http-tools.add"}
    session = await mcp.session(agent_pb2.AgentTool(name="add", mcp_server=server.name))
    events = await mcp.runs.execute_all(session, '[[tool:mcp.http-tools.add {"a": 3, "b": 4}]]')
    completed = [e.tool_call_completed for e in events if kind(e) == "tool_call_completed"]
    assert as_dict(completed[0].result.output) == {"sum": 7.0}




SECRET_URL_PARTS = ("pa55word", "s3cret-token-value", "q-signature-value")


async def test_credentials_in_an_http_url_are_masked_in_reads_errors_and_logs(
    mcp: Mcp, http_mcp_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    from runwire.server.logging_setup import JsonFormatter

    caplog.set_level(logging.DEBUG)
    base = http_mcp_server.replace("http://", "http://reader:pa55word@").replace("/mcp", "/no-such-path")
    url = f"{base}?token=s3cret-token-value&sig=q-signature-value&v=2"
    as_alice = (("x-test-principal", "alice"),)
    registered = await mcp.servers.CreateMcpServer(
        mcp_server_pb2.CreateMcpServerRequest(
            mcp_server=McpServer(display_name="secret url", http=mcp_server_pb2.HttpTransport(url=url)), mcp_server_id="secret-url"
        ),
        metadata=as_alice,
        timeout=WAIT,
    )
    failed = await mcp.wait_for(registered.name, lambda s: s.state == ERROR and bool(s.last_error.message))
    masked = "http://********:********@" + url.split("@", 1)[1].split("?")[0] + "?token=********&sig=********&v=********"
    seen_by_others = await mcp.servers.GetMcpServer(mcp_server_pb2.GetMcpServerRequest(name=registered.name), metadata=(("x-test-principal", "bob"),))
    listed = (await mcp.servers.ListMcpServers(mcp_server_pb2.ListMcpServersRequest())).mcp_servers
    for shown in (registered, failed, seen_by_others, *listed):
        assert shown.http.url == masked
        assert not any(part in str(shown) for part in SECRET_URL_PARTS), shown
    # Sending the masked URL back (with another plain value) keeps the stored credentials.
    http = mcp_server_pb2.HttpTransport(url=masked.replace("v=********", "v=3"))
    updated = await mcp.servers.UpdateMcpServer(
        mcp_server_pb2.UpdateMcpServerRequest(mcp_server=McpServer(name=registered.name, http=http), update_mask={"paths": ["http"]}),
        metadata=as_alice,
        timeout=WAIT,
    )
    assert updated.http.url == masked
    stored = await _stored_transport(mcp, "secret-url")
    assert stored["http"]["url"] == url.replace("v=2", "v=3")
    refreshed = await mcp.servers.RefreshMcpServer(mcp_server_pb2.RefreshMcpServerRequest(name=registered.name), metadata=as_alice)
    failed_again = await mcp.wait_for(refreshed.name, lambda s: s.state == ERROR and bool(s.last_error.message))
    assert not any(part in failed_again.last_error.message for part in SECRET_URL_PARTS)
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert "secret-url" in logged
    assert not any(part in logged for part in SECRET_URL_PARTS), logged
