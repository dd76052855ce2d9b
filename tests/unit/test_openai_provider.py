"""The OpenAI-compatible provider against a fake server speaking the real HTTP and SSE wire format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from runwire.server.engine.egress import EgressPolicy, EgressRules
from runwire.server.engine.openai_provider import OpenAIProvider
from runwire.server.engine.providers import (
    Chunk,
    FinishChunk,
    ModelMessage,
    ModelRequest,
    ProviderError,
    TextChunk,
    ToolCallRequest,
    ToolSpec,
    UsageChunk,
)
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    chunk,
    error,
    events,
    raw_stream,
    slow_stream,
    stalled,
    text_stream,
    tool_piece,
    usage_chunk,
)

API_KEY = "sk-test-secret-123"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
async def provider(server: FakeOpenAIServer) -> AsyncIterator[OpenAIProvider]:
    instance = OpenAIProvider(base_url=server.base_url, api_key=API_KEY, default_model="fake-model", timeout=5.0)
    yield instance
    await instance.aclose()


def ask(text: str = "Hi", **fields: Any) -> ModelRequest:
    fields.setdefault("model", "")
    return ModelRequest(messages=(ModelMessage("user", text),), **fields)


async def collect(provider: OpenAIProvider, request: ModelRequest) -> list[Chunk]:
    return [c async for c in provider.stream(request)]


async def failure(provider: OpenAIProvider, request: ModelRequest) -> tuple[list[Chunk], ProviderError]:
    """The chunks streamed before the call failed, and the failure."""
    received: list[Chunk] = []
    with pytest.raises(ProviderError) as caught:
        async for c in provider.stream(request):
            received.append(c)
    return received, caught.value


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


# Streaming answers


async def test_text_stream(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(text_stream("Hel", "lo, ", "wor", "ld!"))

    chunks = await collect(provider, ask())

    assert chunks == [TextChunk("Hel"), TextChunk("lo, "), TextChunk("wor"), TextChunk("ld!"), FinishChunk("stop")]
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_usage_in_the_final_chunk(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(text_stream("Hello", usage=(12, 3)))

    chunks = await collect(provider, ask())

    assert chunks == [TextChunk("Hello"), UsageChunk(input_tokens=12, output_tokens=3), FinishChunk("stop")]


async def test_parallel_tool_calls_split_across_chunks(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    # Two calls interleaved by index, their arguments in pieces, as OpenAI sends parallel calls.
    server.script(
        events(
            [
                chunk(role="assistant", content=None),
                chunk(tool_calls=[tool_piece(0, id="call_a", name="get_weather")]),
                chunk(tool_calls=[tool_piece(1, id="call_b", name="search")]),
                chunk(tool_calls=[tool_piece(0, arguments='{"ci')]),
                chunk(tool_calls=[tool_piece(1, arguments='{"query": "caf')]),
                chunk(tool_calls=[tool_piece(0, arguments='ty": "Par')]),
                chunk(tool_calls=[tool_piece(1, arguments='é", "limit": 3}')]),
                chunk(tool_calls=[tool_piece(0, arguments='is"}')]),
                chunk(finish_reason="tool_calls"),
                usage_chunk(40, 25),
            ]
        )
    )

    chunks = await collect(provider, ask("Weather in Paris, and cafés?"))

    assert chunks == [
        ToolCallRequest(id="call_a", name="get_weather", arguments={"city": "Paris"}),
        ToolCallRequest(id="call_b", name="search", arguments={"query": "café", "limit": 3}),
        UsageChunk(40, 25),
        FinishChunk("tool_calls"),
    ]


async def test_text_before_a_tool_call_and_empty_arguments(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(
        events(
            [
                chunk(content="Let me check."),
                chunk(tool_calls=[tool_piece(0, id="call_1", name="now", arguments="")]),
                # Some servers (older Ollama) report "stop" even when calling tools.
                chunk(finish_reason="stop"),
            ]
        )
    )

    chunks = await collect(provider, ask())

    assert chunks == [
        TextChunk("Let me check."),
        ToolCallRequest(id="call_1", name="now", arguments={}),
        FinishChunk("tool_calls"),
    ]


async def test_tool_calls_without_index_or_id(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    # Some compatible servers send whole calls without `index`, or without `id`.
    server.script(
        events(
            [
                chunk(tool_calls=[{"function": {"name": "a", "arguments": '{"x": 1}'}}]),
                chunk(tool_calls=[{"id": "call_b", "function": {"name": "b", "arguments": "{}"}}]),
                chunk(finish_reason="tool_calls"),
            ]
        )
    )

    first, second, finish = await collect(provider, ask())

    assert isinstance(first, ToolCallRequest) and first.name == "a" and first.arguments == {"x": 1}
    assert first.id.startswith("call_")
    assert second == ToolCallRequest(id="call_b", name="b", arguments={})
    assert finish == FinishChunk("tool_calls")


async def test_invalid_tool_arguments_become_a_rejected_call(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(
        events(
            [
                chunk(tool_calls=[tool_piece(0, id="call_1", name="get_weather", arguments='{"city": ')]),
                chunk(tool_calls=[tool_piece(0, arguments="Paris}")]),
                chunk(finish_reason="tool_calls"),
            ]
        )
    )

    received = await collect(provider, ask())

    (call,) = [c for c in received if isinstance(c, ToolCallRequest)]
    assert (call.id, call.name, call.arguments) == ("call_1", "get_weather", {})
    assert "not valid JSON" in call.rejected
    assert received[-1] == FinishChunk("tool_calls")


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ("[1, 2]", "not a JSON object"),
        ('"text"', "not a JSON object"),
        ('{"x": NaN}', "NaN is not a JSON value"),
        ('{"x": -Infinity}', "-Infinity is not a JSON value"),
        ('{"a":' * 5000 + "1" + "}" * 5000, "too deeply"),
    ],
)
async def test_tool_arguments_that_are_not_a_json_object_are_rejected(
    server: FakeOpenAIServer, provider: OpenAIProvider, arguments: str, why: str
) -> None:
    server.script(
        events([chunk(tool_calls=[tool_piece(0, id="c", name="t", arguments=arguments)]), chunk(finish_reason="tool_calls")])
    )

    (call,) = [c for c in await collect(provider, ask()) if isinstance(c, ToolCallRequest)]

    assert call.arguments == {} and why in call.rejected


async def test_a_well_formed_call_is_not_rejected_and_keeps_integers(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(
        events([chunk(tool_calls=[tool_piece(0, id="c", name="t", arguments='{"n": 42, "x": 1.5}')]), chunk(finish_reason="tool_calls")])
    )

    (call,) = [c for c in await collect(provider, ask()) if isinstance(c, ToolCallRequest)]

    assert call.rejected == "" and call.arguments == {"n": 42, "x": 1.5} and type(call.arguments["n"]) is int


@pytest.mark.parametrize(
    ("sent", "mapped"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter"), ("eos_token", "stop")],
)
async def test_finish_reasons(server: FakeOpenAIServer, provider: OpenAIProvider, sent: str, mapped: str) -> None:
    server.script(text_stream("x", finish_reason=sent))

    chunks = await collect(provider, ask())

    assert chunks[-1] == FinishChunk(mapped)  # type: ignore[arg-type]


async def test_done_without_finish_reason_means_stop(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(events([chunk(content="x")]))

    assert await collect(provider, ask()) == [TextChunk("x"), FinishChunk("stop")]


async def test_finish_reason_without_done_is_complete(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    # Some servers close after the finish_reason chunk and never send [DONE].
    server.script(events([chunk(content="x"), chunk(finish_reason="length")], done=False))

    assert await collect(provider, ask()) == [TextChunk("x"), FinishChunk("length")]


async def test_sse_parsing_is_tolerant(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    # CRLF and bare-CR endings, comments, other fields, "data:" without a space,
    # a multi-byte character cut between network writes, and a last event
    # with no blank line after it.
    body = (
        ": keep-alive\r\n\r\n"
        "event: message\r\nid: 1\r\n"
        f"data: {json.dumps(chunk(content='Grüße '), ensure_ascii=False)}\r\n\r\n"
        "retry: 1000\n\n"
        f"data:{json.dumps(chunk(content='🌍'), ensure_ascii=False)}\r\r"
        ":\n\n"
        f"data: {json.dumps(chunk(finish_reason='stop'))}\n\n"
        "data: [DONE]"
    ).encode()
    server.script(raw_stream(body, pieces=37))

    chunks = await collect(provider, ask())

    assert chunks == [TextChunk("Grüße "), TextChunk("🌍"), FinishChunk("stop")]


async def test_multi_line_data_is_joined(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    # One event's JSON spread over several `data:` lines.
    payload = json.dumps(chunk(content="a\nb"), indent=1)
    lines = "".join(f"data: {line}\n" for line in payload.splitlines())
    server.script(raw_stream(f"{lines}\ndata: [DONE]\n\n".encode()))

    assert await collect(provider, ask()) == [TextChunk("a\nb"), FinishChunk("stop")]


# Requests


async def test_request_body_maps_messages_tools_and_settings(server: FakeOpenAIServer) -> None:
    server.script(text_stream("ok"))
    # The request's base_url is a user's endpoint on loopback: allowed here, refused by default.
    provider = OpenAIProvider(
        base_url="http://127.0.0.1:1/unused", default_model="default-model", egress=EgressPolicy(EgressRules(allow_private=True))
    )
    request = ModelRequest(
        model="agent-model",
        base_url=server.base_url + "/",
        messages=(
            ModelMessage("system", "Be brief."),
            ModelMessage("user", "Weather in Paris?"),
            ModelMessage(
                "assistant",
                "",
                tool_calls=(ToolCallRequest(id="call_1", name="get_weather", arguments={"city": "Paris"}),),
            ),
            ModelMessage("tool", '{"temp": 21}', tool_call_id="call_1"),
            ModelMessage("assistant", "Checking.", tool_calls=(ToolCallRequest(id="call_2", name="now", arguments={}),)),
            ModelMessage("tool", "12:00", tool_call_id="call_2"),
            ModelMessage("assistant", "21°C at noon."),
        ),
        tools=(
            ToolSpec(
                name="get_weather",
                description="Current weather for a city.",
                parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            ),
        ),
        temperature=0.2,
        max_output_tokens=256,
        options={
            "top_p": 0.9,
            "seed": 7,
            "response_format": {"type": "text"},
            # Reserved, overridden by explicit settings, or not JSON: none of these may get through.
            "messages": [],
            "stream": False,
            "tools": [],
            "model": "other",
            "temperature": 1.5,
            "not_json": object(),
            "nan": float("nan"),
        },
    )
    try:
        await collect(provider, request)
    finally:
        await provider.aclose()

    (sent,) = server.requests
    assert sent.path == "/v1/chat/completions"
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "model": "agent-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
            {"role": "assistant", "content": "21°C at noon."},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                },
            }
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "max_tokens": 256,
        "top_p": 0.9,
        "seed": 7,
        "response_format": {"type": "text"},
    }


async def test_options_can_drop_stream_options(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    # An escape hatch for servers that reject the field.
    server.script(text_stream("ok"))

    await collect(provider, ask(options={"stream_options": None}))

    assert "stream_options" not in server.requests[0].json()


async def test_missing_model_or_base_url(server: FakeOpenAIServer) -> None:
    no_model = OpenAIProvider(base_url=server.base_url)
    no_url = OpenAIProvider(base_url="", default_model="m")
    try:
        _, exc = await failure(no_model, ask())
        assert not exc.retryable and "no model" in exc.message
        _, exc = await failure(no_url, ask())
        assert not exc.retryable and "no base URL" in exc.message
    finally:
        await no_model.aclose()
        await no_url.aclose()
    assert server.requests == []


# HTTP errors


async def test_rate_limited_with_retry_after(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(error(429, {"error": {"message": "Rate limit reached", "type": "requests"}}, {"Retry-After": "7"}))

    _, exc = await failure(provider, ask())

    assert exc.retryable and exc.status == 429 and exc.retry_after == 7.0
    assert "Rate limit reached" in exc.message


async def test_rate_limited_with_a_date_retry_after(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(error(429, {"error": {"message": "slow down"}}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))

    _, exc = await failure(provider, ask())

    assert exc.retryable and exc.status == 429 and exc.retry_after is None


async def test_server_error_is_retryable(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(error(500, "upstream exploded at /srv/app/main.py"))

    _, exc = await failure(provider, ask())

    assert exc.retryable and exc.status == 500
    # A body that is not an OpenAI-style error (a proxy's page, a stack trace) stays in the log.
    assert exc.message == "the model server answered HTTP 500"


async def test_bad_request_is_not_retryable(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(
        error(400, {"error": {"message": "Invalid value for 'temperature'", "type": "invalid_request_error", "param": "temperature"}})
    )

    _, exc = await failure(provider, ask())

    assert not exc.retryable and exc.status == 400
    assert "Invalid value for 'temperature'" in exc.message


async def test_error_messages_are_truncated_and_never_hold_the_key(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.script(error(401, {"error": {"message": f"Incorrect API key provided: {API_KEY}. " + "x" * 2000}}))

    _, exc = await failure(provider, ask())

    assert not exc.retryable and exc.status == 401
    assert API_KEY not in exc.message and API_KEY not in str(exc)
    assert "Incorrect API key provided" in exc.message
    assert len(exc.message) < 600


# Failures mid-stream


async def test_error_event_mid_stream(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(
        events([chunk(content="Partial "), {"error": {"message": "model overloaded", "code": 503}}], done=False)
    )

    received, exc = await failure(provider, ask())

    assert received == [TextChunk("Partial ")]
    assert not exc.retryable
    assert "model overloaded" in exc.message


@pytest.mark.parametrize("framing", ["chunked", "close"])
async def test_stream_cut_off_before_done(server: FakeOpenAIServer, provider: OpenAIProvider, framing: str) -> None:
    # "chunked": the connection drops inside the chunked body (a protocol error);
    # "close": the body ends cleanly but the answer never finished.
    server.script(events([chunk(content="Half an ans")], done=False, end=False, framing=framing))  # type: ignore[arg-type]

    received, exc = await failure(provider, ask())

    assert received == [TextChunk("Half an ans")]
    assert not exc.retryable


async def test_malformed_event(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    server.script(events(["{not json"]))

    _, exc = await failure(provider, ask())

    assert not exc.retryable and exc.message == "the model server's answer was not valid JSON"


# Connections


async def test_connection_refused_is_retryable() -> None:
    fake = FakeOpenAIServer()
    await fake.start()
    await fake.stop()  # Nothing listens on that port any more.
    provider = OpenAIProvider(base_url=fake.base_url, default_model="m", api_key=API_KEY)
    try:
        _, exc = await failure(provider, ask())
    finally:
        await provider.aclose()

    assert exc.retryable and exc.status is None
    assert API_KEY not in exc.message


async def test_read_timeout_before_any_output_is_retryable(server: FakeOpenAIServer) -> None:
    server.script(stalled())
    provider = OpenAIProvider(base_url=server.base_url, default_model="m", timeout=0.2)
    try:
        _, exc = await failure(provider, ask())
    finally:
        await provider.aclose()

    assert exc.retryable and "timed out" in exc.message


async def test_read_timeout_after_output_is_not_retryable(server: FakeOpenAIServer) -> None:
    server.script(slow_stream(interval=5.0))
    provider = OpenAIProvider(base_url=server.base_url, default_model="m", timeout=0.3)
    try:
        received, exc = await failure(provider, ask())
    finally:
        await provider.aclose()

    assert received == [TextChunk("tick")]
    assert not exc.retryable and "part-way" in exc.message


async def test_cancelling_the_consumer_closes_the_connection(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.script(slow_stream(interval=0.05))
    received: list[Chunk] = []
    first = asyncio.Event()

    async def consume() -> None:
        async for c in provider.stream(ask()):
            received.append(c)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await asyncio.wait_for(server.client_disconnected.wait(), 5)
    assert received and all(c == TextChunk("tick") for c in received)


async def test_closing_the_stream_early_closes_the_connection(
    server: FakeOpenAIServer, provider: OpenAIProvider
) -> None:
    server.script(slow_stream(interval=0.05))
    stream = provider.stream(ask())

    assert await anext(stream) == TextChunk("tick")
    await stream.aclose()  # type: ignore[attr-defined]

    await asyncio.wait_for(server.client_disconnected.wait(), 5)


async def test_injected_client_is_used_and_left_open(server: FakeOpenAIServer) -> None:
    server.script(text_stream("a"), text_stream("b"))
    async with httpx.AsyncClient() as client:
        provider = OpenAIProvider(base_url=server.base_url, default_model="m", client=client)
        assert text_of(await collect(provider, ask())) == "a"
        await provider.aclose()
        assert not client.is_closed
        assert text_of(await collect(provider, ask())) == "b"


async def test_aclose_closes_an_owned_client(server: FakeOpenAIServer) -> None:
    server.script(text_stream("a"))
    provider = OpenAIProvider(base_url=server.base_url, default_model="m")
    await collect(provider, ask())

    await provider.aclose()

    # Using a closed provider is a programming error, not a model failure.
    with pytest.raises(RuntimeError, match="closed"):
        await collect(provider, ask())


async def test_tool_names_openai_refuses_travel_as_aliases_and_come_back(server: FakeOpenAIServer, provider: OpenAIProvider) -> None:
    # MCP tools are called `mcp.{server}.{tool}`; OpenAI only takes [A-Za-z0-9_-]{1,64} as function names.
    server.script(
        events(
            [
                chunk(tool_calls=[tool_piece(0, id="call_1", name="mcp_fake-tools_add", arguments='{"a": 1, "b": 2}')]),
                chunk(finish_reason="tool_calls"),
            ]
        )
    )
    long_name = "mcp.fake-tools." + "x" * 80
    request = ModelRequest(
        model="",
        messages=(
            ModelMessage("user", "Add"),
            ModelMessage("assistant", "", tool_calls=(ToolCallRequest(id="call_0", name="mcp.fake-tools.add", arguments={}),)),
            ModelMessage("tool", "{}", tool_call_id="call_0"),
        ),
        tools=(
            ToolSpec(name="mcp.fake-tools.add", description="Adds.", parameters={"type": "object"}),
            ToolSpec(name=long_name, description="Long.", parameters={"type": "object"}),
            ToolSpec(name="calculator", description="Calculates.", parameters={"type": "object"}),
        ),
    )

    chunks = await collect(provider, request)

    assert chunks[0] == ToolCallRequest(id="call_1", name="mcp.fake-tools.add", arguments={"a": 1, "b": 2})
    sent = server.requests[0].json()
    names = [t["function"]["name"] for t in sent["tools"]]
    assert names[0] == "mcp_fake-tools_add" and names[2] == "calculator"
    assert len(names[1]) == 64 and names[1].startswith("mcp_fake-tools_xxx")
    assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == "mcp_fake-tools_add"
