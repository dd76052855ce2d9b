"""A fake OpenAI-compatible Chat Completions server speaking the real wire format.

A small HTTP/1.1 server on 127.0.0.1 (a free port): it parses each request,
records it, and answers with whatever behaviour the test scripted next.
Streams are server-sent events, written in small flushed pieces so that
events and even UTF-8 characters arrive split across network reads, as they
do from real servers behind proxies.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Framing = Literal["chunked", "close"]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Responder:
    """Writes one HTTP response on a connection, in chunked or connection-close framing."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._framing: Framing = "chunked"

    async def head(self, status: int, headers: dict[str, str] | None = None, *, framing: Framing = "chunked") -> None:
        self._framing = framing
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        # Each connection serves one request: the client must not try to reuse it.
        all_headers = {"Connection": "close", **(headers or {})}
        if framing == "chunked":
            all_headers["Transfer-Encoding"] = "chunked"
        lines += [f"{name}: {value}" for name, value in all_headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if self._framing == "chunked":
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self._writer.write(data)
        await self._writer.drain()

    async def write_split(self, data: bytes, pieces: int = 3) -> None:
        """Write in separate flushes, so the client reads the data in several parts."""
        size = max(1, -(-len(data) // pieces))
        for start in range(0, len(data), size):
            await self.write(data[start : start + size])
            # A real pause lets each piece leave as its own TCP segment.
            await asyncio.sleep(0.002)

    async def end(self) -> None:
        """Finish the body properly (the terminating chunk, or just the close)."""
        if self._framing == "chunked":
            self._writer.write(b"0\r\n\r\n")
            await self._writer.drain()

    async def sse(self, payload: dict[str, Any] | str, pieces: int = 3) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        await self.write_split(f"data: {data}\n\n".encode(), pieces)

    async def json_response(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        # bytes and str go out verbatim, so tests can send bodies that are not JSON.
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = json.dumps(body).encode()
        await self.head(status, {"Content-Type": "application/json", **(headers or {})})
        await self.write(raw)
        await self.end()


Behaviour = Callable[[RecordedRequest, Responder], Awaitable[None]]


class FakeOpenAIServer:
    """Answers each request with the next scripted behaviour; records requests and early disconnects."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        # Set when a client closes its connection before the response was finished.
        self.client_disconnected = asyncio.Event()
        self._script: deque[Behaviour] = deque()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._stopping = False
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *behaviours: Behaviour) -> None:
        self._script.extend(behaviours)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        # Dropping the sockets ends every handler on its own; cancelling them
        # instead makes Python 3.11's start_server log each cancelled handler.
        for writer in self._connections.values():
            writer.transport.abort()
        handlers = list(self._connections)
        if handlers:
            _, stuck = await asyncio.wait(handlers, timeout=2)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeOpenAIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            behaviour = self._script.popleft() if self._script else _unscripted
            await self._answer(behaviour, request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()

    async def _answer(
        self, behaviour: Behaviour, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # The client sends nothing more after its request, so a read that
        # returns means it hung up: stop answering and record the disconnect.
        hangup = asyncio.ensure_future(reader.read(1))
        answer = asyncio.ensure_future(behaviour(request, Responder(writer)))
        try:
            await asyncio.wait({hangup, answer}, return_when=asyncio.FIRST_COMPLETED)
            if hangup.done() and not answer.done():
                if not self._stopping:
                    self.client_disconnected.set()
            else:
                await answer
        finally:
            for task in (hangup, answer):
                task.cancel()
            await asyncio.gather(hangup, answer, return_exceptions=True)


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RecordedRequest(method, path, headers, body)


async def _unscripted(request: RecordedRequest, respond: Responder) -> None:
    await respond.json_response(500, {"error": {"message": "fake server: no behaviour scripted"}})


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests", 500: "Internal Server Error"}


# Chunk builders, shaped like OpenAI's chat.completion.chunk objects.


def chunk(
    *,
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The extra last chunk `stream_options.include_usage` asks for: usage, and no choices."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def tool_piece(index: int, *, id: str | None = None, name: str | None = None, arguments: str = "") -> dict[str, Any]:
    piece: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        piece["id"] = id
        piece["type"] = "function"
    if name is not None:
        piece["function"]["name"] = name
    return piece


# Scripted behaviours.


def events(
    payloads: Sequence[dict[str, Any] | str],
    *,
    done: bool = True,
    end: bool = True,
    framing: Framing = "chunked",
    preamble: bytes = b"",
) -> Behaviour:
    """Stream the payloads as SSE events. `done=False` leaves out `[DONE]`;
    `end=False` cuts the connection without finishing the chunked body."""

    async def behaviour(request: RecordedRequest, respond: Responder) -> None:
        await respond.head(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, framing=framing)
        if preamble:
            await respond.write_split(preamble)
        for payload in payloads:
            await respond.sse(payload)
        if done:
            await respond.sse("[DONE]")
        if end:
            await respond.end()

    return behaviour


def text_stream(*pieces: str, finish_reason: str = "stop", usage: tuple[int, int] | None = None) -> Behaviour:
    payloads: list[dict[str, Any] | str] = [chunk(role="assistant", content="")]
    payloads += [chunk(content=piece) for piece in pieces]
    payloads.append(chunk(finish_reason=finish_reason))
    if usage is not None:
        payloads.append(usage_chunk(*usage))
    return events(payloads)


def raw_stream(data: bytes, *, framing: Framing = "chunked", pieces: int = 7) -> Behaviour:
    """Send the body bytes verbatim (split into `pieces` flushes), for testing SSE parsing itself."""

    async def behaviour(request: RecordedRequest, respond: Responder) -> None:
        await respond.head(200, {"Content-Type": "text/event-stream"}, framing=framing)
        await respond.write_split(data, pieces)
        await respond.end()

    return behaviour


def error(status: int, body: Any, headers: dict[str, str] | None = None) -> Behaviour:
    async def behaviour(request: RecordedRequest, respond: Responder) -> None:
        await respond.json_response(status, body, headers)

    return behaviour


def slow_stream(interval: float = 0.05, *, first_delay: float = 0.0) -> Behaviour:
    """Stream "tick" text events forever, one every `interval` seconds, until the client hangs up."""

    async def behaviour(request: RecordedRequest, respond: Responder) -> None:
        await respond.head(200, {"Content-Type": "text/event-stream"})
        await asyncio.sleep(first_delay)
        while True:
            await respond.sse(chunk(content="tick"), pieces=1)
            await asyncio.sleep(interval)

    return behaviour


def stalled(after_head: bool = True) -> Behaviour:
    """Send the headers (or nothing) and then nothing more, to trip the client's read timeout."""

    async def behaviour(request: RecordedRequest, respond: Responder) -> None:
        if after_head:
            await respond.head(200, {"Content-Type": "text/event-stream"})
        await asyncio.Event().wait()

    return behaviour
