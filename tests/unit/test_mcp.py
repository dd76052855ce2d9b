"""The MCP pieces that need no server: call names, result mapping, command checks, settings."""

from __future__ import annotations

import sys
from typing import Any

import mcp_types
import pytest

from runwire.server.config import Settings, SettingsError
from runwire.server.core.mcp import agent_tool_call_name, call_name, parse_call_name
from runwire.server.engine.mcp import _schema, _tool_output, stdio_command_problem
from runwire.server.engine.tools import ToolError


def test_call_names_round_trip() -> None:
    assert call_name("github", "create_issue") == "mcp.github.create_issue"
    assert parse_call_name("mcp.github.create_issue") == ("github", "create_issue")
    assert parse_call_name("mcp.files.read.text") == ("files", "read.text"), "tool names may hold dots; server ids never do"
    assert parse_call_name("calculator") is None
    assert parse_call_name("mcp.github") is None
    assert agent_tool_call_name({"name": "add", "mcp_server": "mcpServers/calc"}) == "mcp.calc.add"
    assert agent_tool_call_name({"name": "calculator", "mcp_server": ""}) == "calculator"


def test_results_become_what_the_model_sees() -> None:
    text = mcp_types.TextContent(type="text", text="hello")
    assert _tool_output(mcp_types.CallToolResult(content=[text], structured_content={"n": 1})) == {"n": 1}
    assert _tool_output(mcp_types.CallToolResult(content=[text])) == {"text": "hello"}
    image = mcp_types.ImageContent(type="image", data="aGk=", mime_type="image/png")
    assert _tool_output(mcp_types.CallToolResult(content=[text, image]))["content"][1]["mimeType"] == "image/png"
    with pytest.raises(ToolError, match="it broke"):
        _tool_output(mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text="it broke")], is_error=True))


def test_stdio_commands_must_exist_on_the_host() -> None:
    assert stdio_command_problem(sys.executable) is None
    assert stdio_command_problem("python3") is None
    assert "not found" in (stdio_command_problem("no-such-command-anywhere") or "")
    assert "does not exist" in (stdio_command_problem("/no/such/file") or "")
    assert "absolute path" in (stdio_command_problem("bin/tool") or "")


def test_mcp_settings_come_from_the_environment_and_must_be_positive() -> None:
    settings = Settings.load({"RUNWIRE_MCP_RESTART_BACKOFF_SECONDS": "2", "RUNWIRE_MCP_HEALTH_CHECK_SECONDS": "5"})
    assert settings.mcp.mcp_restart_backoff_seconds == 2.0 and settings.mcp.mcp_health_check_seconds == 5.0
    with pytest.raises(SettingsError, match="mcp_health_check_seconds"):
        Settings.load({"RUNWIRE_MCP_HEALTH_CHECK_SECONDS": "0"})


def test_a_tool_schema_a_struct_cannot_carry_is_left_out() -> None:
    deep: dict[str, Any] = {"type": "object"}
    for _ in range(30):
        deep = {"type": "object", "properties": {"x": deep}}

    assert _schema("t", "input", deep) is None
    assert _schema("t", "input", {"type": "object", "properties": {"n": {"type": "number", "maximum": float("nan")}}}) is None
    kept = _schema("t", "input", {"type": "object", "properties": {"n": {"type": "integer", "default": 42.0}}})
    assert kept == {"type": "object", "properties": {"n": {"type": "integer", "default": 42}}}
    assert type(kept["properties"]["n"]["default"]) is int


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://h.example/mcp", "https://h.example/mcp"),
        ("https://u:p@h.example/mcp", "https://********:********@h.example/mcp"),
        ("https://tok3n@h.example/mcp", "https://********@h.example/mcp"),
        ("https://h.example/mcp?api_key=k&key=x&v=2&empty=&bare", "https://h.example/mcp?api_key=********&key=********&v=********&empty=&********"),
        ("https://h.example/a@b?access_token=t#frag", "https://h.example/a@b?access_token=********#frag"),
    ],
)
def test_credentials_in_a_url_are_masked_and_restored_from_the_stored_url(url: str, masked: str) -> None:
    from runwire.server.core.mcp import mask_url, unmask_url

    assert mask_url(url) == masked
    assert unmask_url(masked, url) == url
    # A value the caller changes is taken; a placeholder with nothing stored stays as sent.
    assert unmask_url("https://h.example/mcp?token=********&v=3", "https://h.example/mcp?token=abc&v=2") == (
        "https://h.example/mcp?token=abc&v=3"
    )
    assert unmask_url("https://h.example/mcp?new=********", "https://h.example/mcp") == "https://h.example/mcp?new=********"


def test_log_lines_lose_credentials_of_any_url() -> None:
    from runwire.server.logging_setup import redact

    line = redact("HTTP Request: POST https://u:pw@h.example/mcp?v=2&token=abc&X-Sig=def&signature=ghi \"HTTP/1.1 200\"")
    assert line == "HTTP Request: POST https://[REDACTED]@h.example/mcp?v=2&token=[REDACTED]&X-Sig=[REDACTED]&signature=[REDACTED] \"HTTP/1.1 200\""
