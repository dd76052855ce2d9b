"""Rules of MCP servers that every layer shares: the names models call their tools by, the stored
shape of a tool, and how the secrets of a transport (env, headers, the URL's credentials) are masked
in reads and scrubbed from error text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

CALL_NAME_PREFIX = "mcp."
# Reads show this in place of secret values (stdio env, HTTP headers); updates sending it keep the stored value.
SECRET_PLACEHOLDER = "********"
# Secrets shorter than this are not searched for in error text: they would match ordinary words.
_MIN_SCRUBBED_CHARS = 4


# -- secrets in an HTTP server's URL ----------------------------------------------------------
#
# A URL may carry credentials: user info (`https://user:pass@host/`) and query values (`?token=…`,
# `?sig=…`). They are masked like header values: reads show SECRET_PLACEHOLDER in their place, and an
# update that sends the placeholder back keeps the stored value. Every query value is masked, not only
# those whose names look secret: names such as `code` or `X-Amz-Credential` are too many to guess.


def _split_url(url: str) -> tuple[str, str, str, list[str], str]:
    """(scheme://, user info, host and path, query items, #fragment), as written (nothing decoded)."""
    rest, hash_mark, fragment = url.partition("#")
    rest, question, query = rest.partition("?")
    scheme, sep, after = rest.partition("://")
    if not sep:
        scheme, after = "", rest
    else:
        scheme += sep
    authority, slash, path = after.partition("/")
    userinfo, at, host = authority.rpartition("@")
    items = query.split("&") if question else []
    return scheme, userinfo if at else "", host + slash + path, items, hash_mark + fragment


def _join_url(scheme: str, userinfo: str, rest: str, items: list[str] | None, fragment: str) -> str:
    query = "?" + "&".join(items) if items is not None else ""
    return f"{scheme}{userinfo + '@' if userinfo else ''}{rest}{query}{fragment}"


def _masked_item(item: str) -> str:
    name, equals, value = item.partition("=")
    if not equals:
        return SECRET_PLACEHOLDER if name else name  # a bare item (`?s3cret`) may be a credential itself
    return f"{name}={SECRET_PLACEHOLDER}" if value else item


def mask_url(url: str) -> str:
    """The URL as callers, logs and error messages see it: user info and query values masked."""
    if "@" not in url and "?" not in url:
        return url
    scheme, userinfo, rest, items, fragment = _split_url(url)
    if userinfo:
        user, colon, _ = userinfo.partition(":")
        userinfo = SECRET_PLACEHOLDER + (":" + SECRET_PLACEHOLDER if colon else "") if user or colon else userinfo
    has_query = "?" in url.partition("#")[0]
    return _join_url(scheme, userinfo, rest, [_masked_item(i) for i in items] if has_query else None, fragment)


def unmask_url(new: str, stored: str) -> str:
    """`new` with each placeholder replaced by the stored value at the same place (same user info part,
    same query parameter name and occurrence); placeholders with no stored value stay as sent."""
    if SECRET_PLACEHOLDER not in new:
        return new
    scheme, userinfo, rest, items, fragment = _split_url(new)
    _, old_userinfo, _, old_items, _ = _split_url(stored)
    if userinfo:
        user, colon, password = userinfo.partition(":")
        old_user, _, old_password = old_userinfo.partition(":")
        user = old_user if user == SECRET_PLACEHOLDER and old_user else user
        password = old_password if password == SECRET_PLACEHOLDER and old_password else password
        userinfo = user + colon + password
    old_values: dict[str, list[str]] = {}
    for item in old_items:
        name, equals, value = item.partition("=")
        old_values.setdefault(name if equals else "\0bare", []).append(value if equals else name)
    seen: dict[str, int] = {}
    restored = []
    for item in items:
        name, equals, value = item.partition("=")
        key = name if equals else "\0bare"
        index = seen[key] = seen.get(key, -1) + 1
        candidates = old_values.get(key, [])
        if (value if equals else name) == SECRET_PLACEHOLDER and index < len(candidates):
            item = f"{name}={candidates[index]}" if equals else candidates[index]
        restored.append(item)
    has_query = "?" in new.partition("#")[0]
    return _join_url(scheme, userinfo, rest, restored if has_query else None, fragment)


def transport_secrets(transport: Mapping[str, Any]) -> list[str]:
    """Every secret of a transport (env and header values, the URL's user info and query values, also
    percent-decoded), longest first: the values to scrub from error text."""
    from urllib.parse import unquote

    found: set[str] = set()
    stdio, http = transport.get("stdio") or {}, transport.get("http") or {}
    found.update(str(v) for v in (stdio.get("env") or {}).values())
    found.update(str(v) for v in (http.get("headers") or {}).values())
    url = str(http.get("url") or "")
    if url:
        _, userinfo, _, items, _ = _split_url(url)
        parts = [p for p in userinfo.split(":", 1) if p] if userinfo else []
        parts += [i.partition("=")[2] if "=" in i else i for i in items]
        found.update(parts)
        found.update(unquote(p) for p in parts)
    return sorted((s for s in found if len(s) >= _MIN_SCRUBBED_CHARS and s != SECRET_PLACEHOLDER), key=len, reverse=True)


def scrub(text: str, transport: Mapping[str, Any]) -> str:
    """`text` (an error, a log line) without the transport's secrets: its URL masked, each secret masked."""
    url = str((transport.get("http") or {}).get("url") or "")
    if url and url in text:
        text = text.replace(url, mask_url(url))
    for secret in transport_secrets(transport):
        if secret in text:
            text = text.replace(secret, SECRET_PLACEHOLDER)
    return text


def call_name(server_id: str, tool: str) -> str:
    """The name models call an MCP tool by: `mcp.{server}.{tool}` (server ids have no dots)."""
    return f"{CALL_NAME_PREFIX}{server_id}.{tool}"


def agent_tool_call_name(config: Mapping[str, Any]) -> str:
    """The call name of an agent's tool entry ({"name", "mcp_server"}): a built-in's name or `mcp.{server}.{tool}`."""
    agent = str(config.get("agent") or "")
    if agent:
        # Another agent as a tool (docs/crews.md): `agent.{id}` calls it, `handover.{id}` hands over to it.
        return f"{HANDOVER_PREFIX if config.get('delegation') == HANDOVER else AGENT_PREFIX}{agent.rpartition('/')[2]}"
    server = str(config.get("mcp_server") or "")
    name = str(config.get("name") or "")
    return call_name(server.rpartition("/")[2], name) if server else name


AGENT_PREFIX = "agent."
HANDOVER_PREFIX = "handover."
# AgentTool.Delegation.DELEGATION_HANDOVER.
HANDOVER = 2


def parse_call_name(name: str) -> tuple[str, str] | None:
    """(server id, tool name) of an MCP call name, or None for any other name."""
    if not name.startswith(CALL_NAME_PREFIX):
        return None
    server_id, dot, tool = name[len(CALL_NAME_PREFIX) :].partition(".")
    if not server_id or not dot or not tool:
        return None
    return server_id, tool


@dataclass(frozen=True)
class McpToolInfo:
    name: str
    title: str
    description: str
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "input_schema": dict(self.input_schema),
            "output_schema": dict(self.output_schema) if self.output_schema is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> McpToolInfo:
        return cls(
            name=str(data.get("name", "")),
            title=str(data.get("title") or ""),
            description=str(data.get("description") or ""),
            input_schema=dict(data.get("input_schema") or {"type": "object"}),
            output_schema=data.get("output_schema"),
        )
