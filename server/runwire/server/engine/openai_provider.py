"""A provider for any OpenAI-compatible Chat Completions endpoint.

Works against OpenAI itself and the servers that copy its wire format (vLLM,
Ollama, llama.cpp server, LM Studio): one streamed POST to
`{base_url}/chat/completions`, read as server-sent events.

The server's endpoint (`providers.openai`) gets the server's key. An agent
that names its own `base_url` is a user's endpoint: it gets only the key the
request carries (the agent owner's own), never the server's, and its
connections go through the egress policy (engine/egress.py).

`base_url` includes the API version prefix, e.g. `https://api.openai.com/v1`
or `http://localhost:11434/v1`; nothing is guessed or appended but
`/chat/completions`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
import uuid
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from runwire.server.engine.egress import DestinationRefused, EgressPolicy, guarded_transport
from runwire.server.engine.endpoints import ProviderEndpoints
from runwire.server.engine.failures import connection_trouble
from runwire.server.engine.providers import (
    Chunk,
    FinishChunk,
    FinishReason,
    ModelMessage,
    ModelRequest,
    ProviderError,
    TextChunk,
    ToolCallRequest,
    ToolSpec,
    UsageChunk,
    parse_arguments,
)

log = logging.getLogger(__name__)

# Request fields the provider owns: an agent's free-form options must not be
# able to change what is sent or how the answer is framed.
_RESERVED_OPTIONS = frozenset({"model", "messages", "stream", "tools"})
# The endpoint's own error message is quoted, clipped, in run failures.
_MAX_ERROR_CHARS = 300
# Terminal escape sequences first, then any other control character.
_CONTROL_CHARS = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x1f\x7f-\x9f]")
# An error body bigger than this is not a useful error message.
_MAX_ERROR_BODY_BYTES = 64 * 1024
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    # The pre-tools name, still sent by some compatible servers.
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


class OpenAIProvider:
    """Streams Chat Completions from an OpenAI-compatible server."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "",
        default_model: str = "",
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
        egress: EgressPolicy | None = None,
        endpoints: ProviderEndpoints | None = None,
    ) -> None:
        self._base_url = base_url
        self._api_key = api_key
        self._default_model = default_model
        # Named endpoints an admin configured (`providers.endpoints`); `openai` is base_url/api_key above.
        self._endpoints = endpoints or ProviderEndpoints()
        # `timeout` bounds each read (the gap between streamed bytes), not the
        # whole answer: a long generation is fine as long as it keeps coming.
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=self._timeout)
        # Users' endpoints: every connection checked by the egress policy, no proxies, no redirects.
        self._user_client = httpx.AsyncClient(
            timeout=self._timeout,
            transport=guarded_transport(egress or EgressPolicy()),
            trust_env=False,
            follow_redirects=False,
        )

    def configure(self, *, base_url: str, api_key: str, default_model: str) -> None:
        """New server-wide defaults (ConfigService); calls already streaming keep the ones they started with."""
        self._base_url, self._api_key, self._default_model = base_url, api_key, default_model

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it; an injected client belongs to its owner."""
        await self._user_client.aclose()
        if self._owns_client:
            await self._client.aclose()

    async def stream(self, request: ModelRequest) -> AsyncGenerator[Chunk, None]:
        """Chunks of one call: text as it arrives, then tool calls, usage, and a FinishChunk.

        Configuration errors (no model, no base URL) surface on the first
        iteration, as ProviderError like every other failure.
        """
        if request.base_url:  # a user's endpoint: its own key only
            url, api_key, client = _endpoint(request.base_url), request.api_key, self._user_client
        elif request.endpoint and request.endpoint != "openai":  # a named endpoint: trusted, with its own key
            named = self._endpoints.get(request.endpoint)
            if named is None:
                raise ProviderError(
                    f"no provider endpoint named {request.endpoint!r} is configured",
                    retryable=False,
                    reason="PROVIDER_ENDPOINT_NOT_FOUND",
                )
            url, api_key, client = _endpoint(named.base_url), named.api_key, self._client
        else:
            url, api_key, client = _endpoint(self._base_url), self._api_key, self._client
        body = build_body(request, self._resolve_model(request))
        aliases = {wire_tool_name(t.name): t.name for t in request.tools}
        headers = {"Accept": "text/event-stream"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        streamed = False
        try:
            # `async with` closes the response on any exit, cancellation
            # included, so a cancelled run stops the generation server-side.
            async with client.stream("POST", url, json=body, headers=headers, timeout=self._timeout) as response:
                if response.status_code >= 300:
                    raise await _status_error(response)
                # aclosing: a consumer that stops early must not leave the reader suspended.
                async with aclosing(_read_completion(response)) as chunks:
                    async for chunk in chunks:
                        streamed = True
                        if isinstance(chunk, ToolCallRequest) and chunk.name in aliases:
                            chunk = dataclasses.replace(chunk, name=aliases[chunk.name])
                        yield chunk
        except ProviderError as exc:
            raise _redacted(exc, api_key) from None
        except DestinationRefused as exc:
            raise ProviderError(str(exc), retryable=False, reason=exc.reason) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _redacted(_transport_error(exc, url=url, streamed=streamed), api_key) from None

    def _resolve_model(self, request: ModelRequest) -> str:
        model = request.model or self._default_model
        if not model:
            raise ProviderError("no model configured for the OpenAI-compatible provider", retryable=False)
        return model



def _redacted(error: ProviderError, api_key: str) -> ProviderError:
    # A misbehaving server may echo the key back; it must never reach events or logs.
    if not api_key or api_key not in error.message:
        return error
    return ProviderError(
        error.message.replace(api_key, "***"),
        retryable=error.retryable,
        status=error.status,
        retry_after=error.retry_after,
        reason=error.reason,
    )


# Request building


def _endpoint(base_url: str) -> str:
    if not base_url:
        raise ProviderError("no base URL configured for the OpenAI-compatible provider", retryable=False)
    return base_url.rstrip("/") + "/chat/completions"


def build_body(request: ModelRequest, model: str) -> dict[str, Any]:
    """The JSON body of a streamed Chat Completions call."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in request.messages],
        "stream": True,
        # Without this, servers send no token counts on streamed answers.
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    body.update(_safe_options(request.options))
    # Options may set `stream_options` to null for servers that reject the field.
    if body.get("stream_options") is None:
        body.pop("stream_options", None)
    # The agent's explicit settings win over the same keys in free-form options.
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    return body


def _message(message: ModelMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            # OpenAI wants null, not "", beside tool calls when there is no text.
            "content": message.text or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": wire_tool_name(call.name), "arguments": json.dumps(call.arguments, ensure_ascii=False)},
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.text}


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": wire_tool_name(tool.name), "description": tool.description, "parameters": tool.parameters},
    }


_WIRE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def wire_tool_name(name: str) -> str:
    """OpenAI accepts function names of 1-64 `[A-Za-z0-9_-]`; other names (MCP tools are `mcp.{server}.{tool}`)
    are sent as a stable alias and mapped back when the model calls them."""
    if _WIRE_NAME.fullmatch(name):
        return name
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name) or "tool"
    if len(safe) <= 64:
        return safe
    return safe[:55] + "_" + hashlib.sha256(name.encode()).hexdigest()[:8]


def _safe_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options that can be sent as they are: string keys, JSON-serialisable values, not reserved."""
    safe: dict[str, Any] = {}
    for key, value in options.items():
        if not isinstance(key, str) or key in _RESERVED_OPTIONS:
            log.warning("ignoring reserved or non-string model option %r", key)
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            log.warning("ignoring model option %r: its value is not JSON", key)
            continue
        safe[key] = value
    return safe


# Response reading


@dataclass
class _PartialToolCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _StreamState:
    """What a completion has said so far; tool calls and usage are reported once, at the end."""

    calls: dict[int, _PartialToolCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: UsageChunk | None = None
    done: bool = False

    def apply(self, event: dict[str, Any]) -> Iterator[TextChunk]:
        """Fold one decoded event in, yielding any text it carries."""
        if "error" in event and event["error"] is not None:
            raise ProviderError(_with_detail("the model server failed part-way through its answer", _error_text(event)), retryable=False)
        usage = event.get("usage")
        if isinstance(usage, dict):
            # Kept, not yielded: some servers repeat cumulative usage on every chunk.
            self.usage = UsageChunk(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))
        for choice in event.get("choices") or ():
            # One answer is asked for (n=1); other choices would be a server bug.
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                yield TextChunk(content)
            if isinstance(delta, dict):
                for piece in delta.get("tool_calls") or ():
                    if isinstance(piece, dict):
                        self._add_tool_piece(piece)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])

    def _add_tool_piece(self, piece: dict[str, Any]) -> None:
        call = self.calls.setdefault(self._piece_index(piece), _PartialToolCall())
        function = piece.get("function")
        if not isinstance(function, dict):
            function = {}
        if piece.get("id") and not call.id:
            call.id = str(piece["id"])
        if function.get("name") and not call.name:
            call.name = str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call.arguments.append(arguments)
        elif isinstance(arguments, dict):
            # A few servers send the arguments already decoded.
            call.arguments.append(json.dumps(arguments))

    def _piece_index(self, piece: dict[str, Any]) -> int:
        index = piece.get("index")
        if isinstance(index, int):
            return index
        # Servers that omit `index` send each call whole or in order:
        # a new id starts a call, anything else continues the last one.
        known = {call.id for call in self.calls.values()}
        if not self.calls or (piece.get("id") and piece["id"] not in known):
            return len(self.calls)
        return max(self.calls)

    def finish(self) -> Iterator[Chunk]:
        if not self.done and self.finish_reason is None:
            raise ProviderError("model stream ended before the answer was complete", retryable=False)
        calls = [_tool_call(index, self.calls[index]) for index in sorted(self.calls)]
        yield from calls
        if self.usage is not None:
            yield self.usage
        reason = _FINISH_REASONS.get(self.finish_reason or "stop", "stop")
        # Some servers (older Ollama) say "stop" while calling tools; the run loop trusts the reason.
        if calls and reason == "stop":
            reason = "tool_calls"
        yield FinishChunk(reason)


async def _read_completion(response: httpx.Response) -> AsyncGenerator[Chunk, None]:
    state = _StreamState()
    async with aclosing(_sse_data(response)) as events:
        async for data in events:
            if data.strip() == "[DONE]":
                state.done = True
                break
            for text in state.apply(_decode_event(data)):
                yield text
    for chunk in state.finish():
        yield chunk


async def _sse_data(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The `data` of each server-sent event; comments and other fields are dropped.

    aiter_lines reassembles lines split across network reads and handles
    \\n, \\r\\n and \\r endings, as the SSE format allows all three.
    """
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        name, _, value = line.partition(":")
        if name == "data":
            lines.append(value[1:] if value.startswith(" ") else value)
    # The format drops an unterminated last event, but some servers end with
    # `data: [DONE]` and no blank line; keeping it costs nothing.
    if lines:
        yield "\n".join(lines)


def _decode_event(data: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        event = None
    if not isinstance(event, dict):
        log.info("the model server sent an event that is not a JSON object: %r", data[:200])
        raise ProviderError("the model server's answer was not valid JSON", retryable=False)
    return event


def _tool_call(index: int, call: _PartialToolCall) -> ToolCallRequest:
    if not call.name:
        raise ProviderError(f"model sent tool call #{index} without a tool name", retryable=False)
    # Arguments that cannot be used become the call's error result, which the model reads and can correct.
    arguments, rejected = parse_arguments("".join(call.arguments))
    # Servers that omit ids still need one, so the tool's answer can name its call.
    call_id = call.id or f"call_{uuid.uuid4().hex[:24]}"
    return ToolCallRequest(id=call_id, name=call.name, arguments=arguments, rejected=rejected)


# Errors


async def _status_error(response: httpx.Response) -> ProviderError:
    status = response.status_code
    body = await _read_capped(response)
    detail = _error_text(body)
    if not detail and body:
        # Not an OpenAI-style error (an HTML page of a proxy, a stack trace): the log has it, the caller does not.
        log.info("the model server answered HTTP %s with %r", status, body[:300])
    message = _with_detail(f"the model server answered HTTP {status}", detail)
    if status == 429:
        return ProviderError(message, retryable=True, status=status, retry_after=_retry_after(response))
    # 408 and 5xx are the server's trouble, not the request's: trying again may work.
    retryable = status == 408 or status >= 500
    return ProviderError(message, retryable=retryable, status=status, retry_after=_retry_after(response))


async def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    async for data in response.aiter_bytes():
        body += data
        if len(body) >= _MAX_ERROR_BODY_BYTES:
            break
    return bytes(body[:_MAX_ERROR_BODY_BYTES])


def _error_text(body: bytes | dict[str, Any]) -> str:
    """The `message` of an OpenAI-style error (`{"error": {"message": ...}}` or `{"error": "..."}`), clipped and
    without control characters; "" for anything else. The endpoint is the one its owner configured, and its
    message ("Incorrect API key provided", "Invalid value for 'temperature'") is what a user needs to fix it."""
    parsed: Any = body
    if isinstance(body, bytes):
        try:
            parsed = json.loads(body.decode("utf-8", errors="replace"))
        except (ValueError, RecursionError):
            return ""
    if not isinstance(parsed, dict):
        return ""
    error = parsed.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    return _truncate(" ".join(_CONTROL_CHARS.sub(" ", error).split())) if isinstance(error, str) else ""


def _with_detail(message: str, detail: str) -> str:
    return f"{message}: {detail}" if detail else message


def _retry_after(response: httpx.Response) -> float | None:
    # Only the seconds form; an HTTP date is rare from model servers and left to the caller's backoff.
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _transport_error(exc: Exception, *, url: str, streamed: bool) -> ProviderError:
    # The URL and the library's words stay in the log: the URL may name an internal host or carry credentials.
    log.info("a request to the model server at %s failed: %s: %s", _without_userinfo(url), type(exc).__name__, exc)
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return ProviderError("the model server's URL is not valid", retryable=False)
    transient = isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError))
    read_timeout = isinstance(exc, httpx.TimeoutException) and not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
    trouble = "timed out" if read_timeout else connection_trouble(exc)
    # Once output has been handed on, a retry would repeat it: only a clean failure is retryable.
    if streamed:
        return ProviderError(f"the model server's answer broke off part-way through ({trouble})", retryable=False)
    if read_timeout:
        return ProviderError("the model server timed out", retryable=transient)
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)):
        return ProviderError(f"the model server could not be reached ({trouble})", retryable=transient)
    return ProviderError(f"the request to the model server failed ({trouble})", retryable=transient)


def _without_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"
