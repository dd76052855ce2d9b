"""The `runwire agents|sessions|messages` commands, run in-process against a real server."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass

import pytest

from runwire.cli.main import main
from runwire.v1 import agent_pb2, common_pb2, message_pb2, session_pb2
from tests.conftest import Client


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def cli_runner(client: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `runwire ARGS --server <test server>` in a thread (the server's loop keeps serving) and capture its output."""
    monkeypatch.delenv("RUNWIRE_SERVER", raising=False)
    server = f"127.0.0.1:{client.server.port}"

    async def run(*argv: str, server_option: bool = True) -> Result:
        capsys.readouterr()
        args = [*argv, "--server", server] if server_option else list(argv)
        code = await asyncio.to_thread(main, args)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli(client: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return cli_runner(client, capsys, monkeypatch)


def field_lines(text: str) -> dict[str, str]:
    lines = {}
    for line in text.splitlines():
        if not line.startswith(" "):
            key, _, value = line.partition(": ")
            lines[key] = value
    return lines


def table(text: str) -> list[list[str]]:
    """Rows of an aligned table, cut at the columns of its header line."""
    lines = text.rstrip("\n").splitlines()
    header = lines[0]
    starts = [0] + [i for i in range(2, len(header)) if header[i] != " " and header[i - 2 : i] == "  "]
    bounds = list(zip(starts, starts[1:] + [None], strict=True))
    return [[line[a:b].strip() for a, b in bounds] for line in lines]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def make_agent(client: Client, agent_id: str, display_name: str = "Helper", **fields: object) -> agent_pb2.Agent:
    return await client.agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name=display_name, **fields), agent_id=agent_id)
    )


async def make_session(client: Client, session_id: str, agent: str | None = None, **fields: object) -> session_pb2.Session:
    if agent is None:
        agent = (await client.agent()).name
    return await client.sessions.CreateSession(
        session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent, **fields), session_id=session_id)
    )


async def add_message(client: Client, session: str, text: str) -> message_pb2.Message:
    return await client.messages.CreateMessage(
        message_pb2.CreateMessageRequest(
            parent=session,
            message=message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=[common_pb2.ContentPart(text=text)]),
        )
    )


# -- agents ------------------------------------------------------------------


async def test_agents_create_sends_every_flag_and_prints_the_agent(cli, client: Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    instructions = tmp_path / "instructions.txt"
    instructions.write_text("Be brief.\nBe kind.", encoding="utf-8")
    result = await cli(
        "agents", "create",
        "--display-name", "Support",
        "--id", "support",
        "--description", "Answers tickets",
        "--instructions-file", str(instructions),
        "--provider", "builtin",
        "--model", "echo-1",
        "--temperature", "0.5",
        "--tool", "calculator:approval",
        "--tool", "current_time",
        "--label", "team=care",
        "--label", "tier=gold",
    )  # fmt: skip
    assert result.code == 0, result.err
    lines = field_lines(result.out)
    assert lines["name"] == "agents/support"
    assert lines["display_name"] == "Support"
    assert lines["state"] == "ACTIVE"
    assert lines["labels.team"] == "care"
    assert lines["tools[0].requires_approval"] == "true"
    assert "  Be kind." in result.out.splitlines()  # continuation line of the multi-line instructions

    stored = await client.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/support"))
    assert stored.description == "Answers tickets"
    assert stored.instructions == "Be brief.\nBe kind."
    assert stored.model.model == "echo-1" and stored.model.temperature == 0.5
    assert [(t.name, t.requires_approval) for t in stored.tools] == [("calculator", True), ("current_time", False)]
    assert dict(stored.labels) == {"team": "care", "tier": "gold"}


async def test_agents_create_validate_only_creates_nothing(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    result = await cli("agents", "create", "--display-name", "Dry", "--id", "dry-run", "--validate-only", "--json")
    assert result.code == 0, result.err
    assert result.json()["display_name"] == "Dry"
    listed = await client.agents.ListAgents(agent_pb2.ListAgentsRequest())
    assert list(listed.agents) == []


async def test_agents_create_with_the_same_request_id_returns_the_first_agent(cli) -> None:  # type: ignore[no-untyped-def]
    request_id = "1f0c5d3e-8a7b-4c2d-9e6f-0a1b2c3d4e5f"
    first = await cli("agents", "create", "--display-name", "Once", "--request-id", request_id, "--json")
    again = await cli("agents", "create", "--display-name", "Once", "--request-id", request_id, "--json")
    assert first.code == again.code == 0
    assert first.json()["name"] == again.json()["name"]


async def test_agents_get_accepts_full_and_bare_names_and_prints_json(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    agent = await make_agent(client, "getter", "Getter", labels={"env": "dev"})
    by_id = await cli("agents", "get", "getter", "--json")
    by_name = await cli("agents", "get", "agents/getter", "--json")
    assert by_id.code == by_name.code == 0
    data = by_id.json()
    assert data == by_name.json()
    assert data["name"] == agent.name
    assert data["display_name"] == "Getter"  # proto field names, not lowerCamelCase
    assert data["labels"] == {"env": "dev"}
    assert data["state"] == "STATE_ACTIVE"
    assert data["etag"] == agent.etag


async def test_agents_list_prints_a_table_newest_first(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    await make_agent(client, "alpha", "Alpha")
    await make_agent(client, "beta", "Beta Bot")
    result = await cli("agents", "list")
    assert result.code == 0, result.err
    rows = table(result.out)
    assert rows[0] == ["NAME", "DISPLAY NAME", "STATE", "CREATED"]
    assert [r[:3] for r in rows[1:]] == [["agents/beta", "Beta Bot", "ACTIVE"], ["agents/alpha", "Alpha", "ACTIVE"]]
    assert all(r[3].endswith("Z") and "T" in r[3] for r in rows[1:])


async def test_agents_list_pages_and_all_follows_every_page(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    for index in range(5):
        await make_agent(client, f"agent-{index}", f"Agent {index}")

    first = await cli("agents", "list", "--page-size", "2", "--order-by", "name", "--json")
    assert first.code == 0, first.err
    page = first.json()
    assert [a["name"] for a in page["agents"]] == ["agents/agent-0", "agents/agent-1"]
    assert page["next_page_token"] and page["total_size"] == 5

    second = await cli("agents", "list", "--page-size", "2", "--order-by", "name", "--page-token", page["next_page_token"], "--json")
    assert [a["name"] for a in second.json()["agents"]] == ["agents/agent-2", "agents/agent-3"]

    every = await cli("agents", "list", "--page-size", "2", "--order-by", "name", "--all", "--json")
    data = every.json()
    assert [a["name"] for a in data["agents"]] == [f"agents/agent-{i}" for i in range(5)]
    assert "next_page_token" not in data and data["total_size"] == 5

    text = await cli("agents", "list", "--page-size", "2", "--order-by", "name", "--all")
    assert [r[0] for r in table(text.out)[1:]] == [f"agents/agent-{i}" for i in range(5)]
    assert text.err == ""

    partial = await cli("agents", "list", "--page-size", "2")
    assert len(table(partial.out)) == 3
    assert "--all" in partial.err and "--page-token" in partial.err


async def test_agents_list_filter(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    await make_agent(client, "care", "Care", labels={"team": "care"})
    await make_agent(client, "sales", "Sales", labels={"team": "sales"})
    result = await cli("agents", "list", "--filter", "labels.team = care", "--json")
    assert [a["name"] for a in result.json()["agents"]] == ["agents/care"]


async def test_agents_update_sends_a_mask_of_the_flags_given(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    await make_agent(client, "changing", "Before", description="old", instructions="keep me", labels={"a": "1", "b": "2"}
    )
    result = await cli("agents", "update", "changing", "--display-name", "After", "--label", "c=3")
    assert result.code == 0, result.err
    lines = field_lines(result.out)
    assert lines["display_name"] == "After"
    assert lines["labels.c"] == "3" and "labels.a" not in lines

    stored = await client.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/changing"))
    assert stored.display_name == "After"
    assert stored.description == "old" and stored.instructions == "keep me"  # not in the mask, untouched
    assert dict(stored.labels) == {"c": "3"}

    cleared = await cli("agents", "update", "agents/changing", "--description", "", "--clear-labels", "--json")
    assert cleared.code == 0, cleared.err
    stored = await client.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/changing"))
    assert stored.description == "" and dict(stored.labels) == {}
    assert stored.display_name == "After"


async def test_agents_update_with_a_stale_etag_fails_with_the_reason(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    agent = await make_agent(client, "etagged", "Etag")
    ok = await cli("agents", "update", "etagged", "--description", "one", "--etag", agent.etag)
    assert ok.code == 0, ok.err
    stale = await cli("agents", "update", "etagged", "--description", "two", "--etag", agent.etag)
    assert stale.code == 1
    assert stale.err.startswith("error: ABORTED: ")
    assert "reason: ETAG_MISMATCH" in stale.err
    assert "Traceback" not in stale.err


async def test_agents_update_without_changes_is_a_usage_error(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    await make_agent(client, "same", "Same")
    with pytest.raises(SystemExit) as exited:
        await cli("agents", "update", "same")
    assert exited.value.code == 2


async def test_agents_delete_needs_force_when_the_agent_has_sessions(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    agent = await make_agent(client, "busy", "Busy")
    await client.session(agent.name)

    refused = await cli("agents", "delete", "busy")
    assert refused.code == 1
    assert refused.err.startswith("error: FAILED_PRECONDITION: ")
    assert "reason: AGENT_HAS_SESSIONS" in refused.err

    deleted = await cli("agents", "delete", "busy", "--force")
    assert deleted.code == 0, deleted.err
    assert deleted.out == "deleted agents/busy\n"

    missing = await cli("agents", "get", "busy")
    assert missing.code == 1
    assert missing.err.startswith("error: NOT_FOUND: ")
    assert "reason: AGENT_NOT_FOUND" in missing.err


async def test_invalid_agent_prints_every_field_violation(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    result = await cli("agents", "create", "--display-name", " ", "--temperature", "5", "--tool", "rm-rf")
    assert result.code == 1
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0].startswith("error: INVALID_ARGUMENT: ")
    assert "  agent.display_name: is required" in lines
    assert "  agent.model.temperature: must be between 0 and 2" in lines
    assert any(line.startswith("  agent.tools[0].name: unknown built-in tool 'rm-rf'") for line in lines)
    assert "reason: INVALID_ARGUMENT" in lines
    assert any(line.startswith("request id: ") for line in lines)
    assert list((await client.agents.ListAgents(agent_pb2.ListAgentsRequest())).agents) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["agents", "create"],  # --display-name is required
        ["agents", "create", "--display-name", "x", "--label", "novalue"],
        ["agents", "create", "--display-name", "x", "--tool", "calculator:maybe"],
        ["agents", "create", "--display-name", "x", "--provider", "nope"],
        ["agents", "create", "--display-name", "x", "--instructions", "a", "--instructions-file", "b"],
        ["agents", "list", "--timeout", "0"],
        ["agents", "list", "--page-size", "0"],
        ["messages", "get", "bare-id"],
        ["messages", "create", "sess", "--role", "robot", "--text", "x"],
    ],
)
async def test_usage_errors_exit_with_2(cli, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exited:
        await cli(*argv)
    assert exited.value.code == 2


# -- sessions ----------------------------------------------------------------


async def test_sessions_create_get_update_delete(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    await make_agent(client, "support", "Support")
    created = await cli(
        "sessions", "create", "--agent", "support", "--id", "ticket-42", "--display-name", "Ticket 42",
        "--ttl", "3600", "--label", "queue=eu",
    )  # fmt: skip
    assert created.code == 0, created.err
    lines = field_lines(created.out)
    assert lines["name"] == "sessions/ticket-42"
    assert lines["agent"] == "agents/support"
    assert lines["labels.queue"] == "eu"
    assert lines["expire_time"].endswith("Z")

    stored = await client.sessions.GetSession(session_pb2.GetSessionRequest(name="sessions/ticket-42"))
    assert 3590 <= stored.expire_time.seconds - stored.create_time.seconds <= 3610

    got = await cli("sessions", "get", "sessions/ticket-42", "--json")
    assert got.code == 0
    assert got.json()["display_name"] == "Ticket 42"

    updated = await cli("sessions", "update", "ticket-42", "--display-name", "Ticket 42 (VIP)", "--ttl", "60", "--json")
    assert updated.code == 0, updated.err
    data = updated.json()
    assert data["display_name"] == "Ticket 42 (VIP)"
    assert data["labels"] == {"queue": "eu"}  # labels not in the mask
    stored = await client.sessions.GetSession(session_pb2.GetSessionRequest(name="sessions/ticket-42"))
    assert stored.display_name == "Ticket 42 (VIP)"
    assert stored.expire_time.seconds - stored.update_time.seconds <= 61

    deleted = await cli("sessions", "delete", "ticket-42")
    assert deleted.code == 0, deleted.err
    assert deleted.out == "deleted sessions/ticket-42\n"
    gone = await cli("sessions", "get", "ticket-42")
    assert gone.code == 1 and "reason: SESSION_NOT_FOUND" in gone.err


async def test_sessions_create_for_a_missing_agent_fails(cli) -> None:  # type: ignore[no-untyped-def]
    result = await cli("sessions", "create", "--agent", "nobody")
    assert result.code == 1
    assert result.err.startswith("error: NOT_FOUND: ")
    assert "reason: AGENT_NOT_FOUND" in result.err


async def test_sessions_list_table_and_all_pages(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    agent = await make_agent(client, "support", "Support")
    for index in range(3):
        await make_session(client, f"chat-{index}", agent.name, display_name=f"Chat {index}")
    await add_message(client, "sessions/chat-1", "hi")
    result = await cli("sessions", "list", "--order-by", "name")
    assert result.code == 0, result.err
    rows = table(result.out)
    assert rows[0] == ["NAME", "AGENT", "DISPLAY NAME", "MESSAGES", "EXPIRES"]
    assert rows[1:] == [
        ["sessions/chat-0", "agents/support", "Chat 0", "0", "-"],
        ["sessions/chat-1", "agents/support", "Chat 1", "1", "-"],
        ["sessions/chat-2", "agents/support", "Chat 2", "0", "-"],
    ]

    every = await cli("sessions", "list", "--page-size", "1", "--all", "--order-by", "name desc", "--json")
    assert [s["name"] for s in every.json()["sessions"]] == ["sessions/chat-2", "sessions/chat-1", "sessions/chat-0"]

    filtered = await cli("sessions", "list", "--filter", "message_count > 0", "--json")
    assert [s["name"] for s in filtered.json()["sessions"]] == ["sessions/chat-1"]


async def test_sessions_delete_with_messages_needs_force(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    session = await make_session(client, "full")
    await add_message(client, session.name, "hi")
    refused = await cli("sessions", "delete", "full")
    assert refused.code == 1 and "reason: SESSION_NOT_EMPTY" in refused.err
    forced = await cli("sessions", "delete", "full", "--force", "--json")
    assert forced.code == 0, forced.err
    assert forced.json() == {}


# -- messages ----------------------------------------------------------------


async def test_messages_create_get_update_delete(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    await make_session(client, "chat")
    created = await cli("messages", "create", "chat", "--role", "user", "--text", "Where is my order?", "--id", "question")
    assert created.code == 0, created.err
    lines = field_lines(created.out)
    assert lines["name"] == "sessions/chat/messages/question"
    assert lines["role"] == "USER"
    assert lines["text"] == "Where is my order?"

    reply = await cli("messages", "create", "sessions/chat", "--role", "assistant", "--text", "On its way.", "--parent", "question", "--json")
    assert reply.code == 0, reply.err
    reply_name = reply.json()["name"]
    assert reply.json()["parent_message"] == "sessions/chat/messages/question"

    got = await cli("messages", "get", "chat/question", "--json")
    assert got.code == 0
    assert got.json()["reply_count"] == 1

    updated = await cli("messages", "update", "sessions/chat/messages/question", "--text", "Where is order 42?")
    assert updated.code == 0, updated.err
    assert field_lines(updated.out)["text"] == "Where is order 42?"
    stored = await client.messages.GetMessage(message_pb2.GetMessageRequest(name="sessions/chat/messages/question"))
    assert [p.text for p in stored.content] == ["Where is order 42?"]
    assert stored.role == message_pb2.Message.ROLE_USER

    refused = await cli("messages", "delete", "chat/messages/question")
    assert refused.code == 1 and "reason: MESSAGE_HAS_REPLIES" in refused.err

    deleted_reply = await cli("messages", "delete", reply_name)
    assert deleted_reply.out == f"deleted {reply_name}\n"
    deleted = await cli("messages", "delete", "chat/question")
    assert deleted.code == 0 and deleted.out == "deleted sessions/chat/messages/question\n"
    session = await client.sessions.GetSession(session_pb2.GetSessionRequest(name="sessions/chat"))
    assert session.message_count == 0


async def test_messages_delete_force_removes_the_thread(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    await make_session(client, "chat")
    assert (await cli("messages", "create", "chat", "--role", "user", "--text", "root", "--id", "root")).code == 0
    assert (await cli("messages", "create", "chat", "--role", "assistant", "--text", "leaf", "--parent", "chat/root")).code == 0
    forced = await cli("messages", "delete", "chat/root", "--force")
    assert forced.code == 0, forced.err
    listed = await cli("messages", "list", "chat", "--json")
    assert listed.json().get("messages", []) == []


async def test_messages_list_table_role_filter_and_all(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    await make_session(client, "chat")
    long_text = "word " * 40
    texts = [("user", "hello there"), ("assistant", "hi, how can I help?"), ("user", long_text), ("system", "be nice")]
    for index, (role, text) in enumerate(texts):
        result = await cli("messages", "create", "chat", "--role", role, "--text", text, "--id", f"msg-{index}")
        assert result.code == 0, result.err

    listed = await cli("messages", "list", "chat")
    assert listed.code == 0, listed.err
    rows = table(listed.out)
    assert rows[0] == ["NAME", "ROLE", "CREATED", "TEXT"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("sessions/chat/messages/msg-0", "USER"),
        ("sessions/chat/messages/msg-1", "ASSISTANT"),
        ("sessions/chat/messages/msg-2", "USER"),
        ("sessions/chat/messages/msg-3", "SYSTEM"),
    ]
    assert rows[1][3] == "hello there"
    assert rows[3][3].endswith("…") and len(rows[3][3]) == 60  # long text is cut

    users = await cli("messages", "list", "chat", "--role", "user", "--json")
    assert [m["name"] for m in users.json()["messages"]] == ["sessions/chat/messages/msg-0", "sessions/chat/messages/msg-2"]

    combined = await cli("messages", "list", "chat", "--role", "USER", "--filter", 'text:"hello" OR text:"nothing"', "--json")
    assert [m["name"] for m in combined.json()["messages"]] == ["sessions/chat/messages/msg-0"]

    every = await cli("messages", "list", "-", "--page-size", "1", "--all", "--json")
    assert [m["name"] for m in every.json()["messages"]] == [f"sessions/chat/messages/msg-{i}" for i in range(4)]
    assert every.json()["total_size"] == 4


async def test_messages_search(cli, client: Client) -> None:  # type: ignore[no-untyped-def]
    await make_session(client, "one-1")
    await make_session(client, "two-2")
    for session, text in [("one-1", "refund my order"), ("one-1", "thanks"), ("two-2", "an order refund please")]:
        assert (await cli("messages", "create", session, "--role", "user", "--text", text)).code == 0

    everywhere = await cli("messages", "search", "-", "refund order")
    assert everywhere.code == 0, everywhere.err
    rows = table(everywhere.out)
    assert rows[0] == ["NAME", "ROLE", "SNIPPET"]
    assert sorted(r[2] for r in rows[1:]) == ["an order refund please", "refund my order"]

    one = await cli("messages", "search", "one-1", "refund", "--json")
    results = one.json()["results"]
    assert len(results) == 1 and results[0]["message"]["name"].startswith("sessions/one-1/messages/")

    paged = await cli("messages", "search", "-", "order", "--page-size", "1", "--all", "--json")
    assert len(paged.json()["results"]) == 2

    empty = await cli("messages", "search", "one-1", " ")
    assert empty.code == 1 and "  query: " in empty.err


async def test_messages_create_in_a_missing_session_fails(cli) -> None:  # type: ignore[no-untyped-def]
    result = await cli("messages", "create", "nowhere", "--role", "user", "--text", "hi")
    assert result.code == 1
    assert result.err.startswith("error: NOT_FOUND: ") and "reason: SESSION_NOT_FOUND" in result.err


# -- connection ----------------------------------------------------------------


async def test_unreachable_server_is_a_clear_error(cli) -> None:  # type: ignore[no-untyped-def]
    port = closed_port()
    result = await cli("agents", "list", "--server", f"127.0.0.1:{port}", "--timeout", "5", server_option=False)
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines()[0] == f"error: cannot reach the server at 127.0.0.1:{port}"
    assert "Traceback" not in result.err


async def test_server_comes_from_the_environment(cli, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    await make_agent(client, "from-env", "Env")
    monkeypatch.setenv("RUNWIRE_SERVER", f"127.0.0.1:{client.server.port}")
    result = await cli("agents", "get", "from-env", "--json", server_option=False)
    assert result.code == 0, result.err
    assert result.json()["name"] == "agents/from-env"

    port = closed_port()
    monkeypatch.setenv("RUNWIRE_SERVER", f"127.0.0.1:{port}")
    unreachable = await cli("agents", "get", "from-env", server_option=False)
    assert unreachable.code == 1 and f"cannot reach the server at 127.0.0.1:{port}" in unreachable.err
