"""Stub methods with the client's defaults: credentials, deadlines, typed errors.

`Service` wraps any generated stub (`FileServiceStub`, `BatchServiceStub`...):
its methods take the same arguments as the stub's, and add the client's
metadata and default deadline to every call and raise `RunwireError`
subclasses instead of grpc's errors, for the four kinds of call, sync or
asyncio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator, Sequence

import grpc

from runwire.client.errors import from_grpc_error

Metadata = Sequence[tuple[str, str]]


class _Default:
    """Marks an argument left out, so that `timeout=None` can mean "no deadline"."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


@dataclass(frozen=True)
class CallDefaults:
    """What every call of one client carries unless the call says otherwise."""

    # Deadline in seconds of calls that return one response; None waits for ever.
    timeout: float | None = 30.0
    # Deadline of calls that stream responses (runs can wait hours for a person); None waits for ever.
    stream_timeout: float | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    # A callable giving fresh metadata for each call (e.g. a bearer token that is renewed).
    metadata_provider: Callable[[], Metadata] | None = field(default=None, compare=False)

    def call_metadata(self, extra: Metadata | None) -> tuple[tuple[str, str], ...]:
        dynamic = tuple(self.metadata_provider()) if self.metadata_provider is not None else ()
        return self.metadata + dynamic + tuple(extra or ())

    def deadline(self, timeout: Any, streaming: bool) -> float | None:
        if timeout is DEFAULT:
            return self.stream_timeout if streaming else self.timeout
        return timeout


def _kind(multicallable: Any) -> tuple[bool, bool]:
    """(streams requests, streams responses) of a stub method, sync or asyncio."""
    if isinstance(multicallable, (grpc.UnaryUnaryMultiCallable, grpc.aio.UnaryUnaryMultiCallable)):
        return False, False
    if isinstance(multicallable, (grpc.UnaryStreamMultiCallable, grpc.aio.UnaryStreamMultiCallable)):
        return False, True
    if isinstance(multicallable, (grpc.StreamUnaryMultiCallable, grpc.aio.StreamUnaryMultiCallable)):
        return True, False
    return True, True


class Method:
    """One stub method with the client's defaults. Call it like the stub's method."""

    def __init__(self, multicallable: Any, defaults: CallDefaults, asyncio: bool) -> None:
        self._callable = multicallable
        self._defaults = defaults
        self._asyncio = asyncio
        self.streams_requests, self.streams_responses = _kind(multicallable)

    def __call__(self, request: Any, *, timeout: Any = DEFAULT, metadata: Metadata | None = None, **options: Any) -> Any:
        deadline = self._defaults.deadline(timeout, self.streams_responses)
        call_metadata = self._defaults.call_metadata(metadata)
        if self._asyncio:
            return self._call_async(request, deadline, call_metadata, options)
        try:
            result = self._callable(request, timeout=deadline, metadata=call_metadata, **options)
        except grpc.RpcError as error:
            raise from_grpc_error(error) from error
        return ResponseStream(result) if self.streams_responses else result

    def _call_async(self, request: Any, deadline: float | None, metadata: Metadata, options: dict[str, Any]) -> Any:
        call = self._callable(request, timeout=deadline, metadata=metadata, **options)
        if self.streams_responses:
            return AsyncResponseStream(call)
        return _await_translated(call)


async def _await_translated(call: Any) -> Any:
    try:
        return await call
    except grpc.RpcError as error:
        raise from_grpc_error(error) from error


class ResponseStream:
    """A sync streaming call: iterate it for the responses; failures raise `RunwireError`."""

    def __init__(self, call: Any) -> None:
        self.call = call

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return next(self.call)
        except grpc.RpcError as error:
            raise from_grpc_error(error) from error

    def cancel(self) -> bool:
        return self.call.cancel()

    def initial_metadata(self) -> Any:
        return self.call.initial_metadata()

    def trailing_metadata(self) -> Any:
        return self.call.trailing_metadata()


class AsyncResponseStream:
    """An asyncio streaming call: `async for` its responses, or `read()`/`write()`; failures raise `RunwireError`."""

    def __init__(self, call: Any) -> None:
        self.call = call

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._responses()

    async def _responses(self) -> AsyncIterator[Any]:
        try:
            async for response in self.call:
                yield response
        except grpc.RpcError as error:
            raise from_grpc_error(error) from error

    async def read(self) -> Any:
        try:
            return await self.call.read()
        except grpc.RpcError as error:
            raise from_grpc_error(error) from error

    async def write(self, request: Any) -> None:
        try:
            await self.call.write(request)
        except grpc.RpcError as error:
            raise from_grpc_error(error) from error

    async def done_writing(self) -> None:
        await self.call.done_writing()

    def cancel(self) -> bool:
        return self.call.cancel()

    async def initial_metadata(self) -> Any:
        return await self.call.initial_metadata()

    async def trailing_metadata(self) -> Any:
        return await self.call.trailing_metadata()


class Service:
    """A generated stub whose methods carry the client's defaults: `client.service(FileServiceStub).GetFile(...)`."""

    def __init__(self, stub_class: type, channel: Any, defaults: CallDefaults, asyncio: bool) -> None:
        self._stub = stub_class(channel)
        self._defaults = defaults
        self._asyncio = asyncio
        self._methods: dict[str, Method] = {}

    def __getattr__(self, name: str) -> Method:
        if name.startswith("_"):
            raise AttributeError(name)
        method = self._methods.get(name)
        if method is None:
            method = self._methods[name] = Method(getattr(self._stub, name), self._defaults, self._asyncio)
        return method
