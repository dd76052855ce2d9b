"""Per-call state (request id, caller) and the interceptor that wraps every handler with it.

The interceptor is also where errors are mapped: a DomainError raised by a
servicer, unary or streaming, becomes a rich status; anything else is logged
with the request id and answered INTERNAL without internals.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc

from runwire.server.api.errors import internal_status, status_for
from runwire.server.domain.errors import DomainError
from runwire.server.domain.principal import LOCAL_PRINCIPAL, Principal

log = logging.getLogger("runwire.calls")

REQUEST_ID_HEADER = "x-request-id"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass
class Call:
    method: str
    request_id: str
    principal: Principal
    started: float = field(default_factory=time.perf_counter)
    headers_sent: bool = False


_current: contextvars.ContextVar[Call] = contextvars.ContextVar("runwire_call")


def current_call() -> Call:
    return _current.get()


def caller() -> Principal:
    """The principal of the call being served."""
    call = _current.get(None)
    return call.principal if call is not None else LOCAL_PRINCIPAL


async def send_headers(context: grpc.aio.ServicerContext, *extra: tuple[str, str]) -> None:
    """Send response headers once: the request id, plus what a servicer adds (e.g. the run a stream follows).

    Streams send them before their first message; unary calls skip them (a separate headers
    frame costs as much as the rest of a cheap call) and carry the request id in trailers only.
    """
    call = _current.get(None)
    if call is None or call.headers_sent:
        return
    call.headers_sent = True
    await context.send_initial_metadata(((REQUEST_ID_HEADER, call.request_id), *extra))


def _request_id(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str) and _CLIENT_REQUEST_ID.match(value):
            return value
    return uuid.uuid4().hex


class CallInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, principal_for: Callable[[grpc.aio.ServicerContext], Principal] | None = None) -> None:
        self._principal_for = principal_for or (lambda _context: LOCAL_PRINCIPAL)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # type: ignore[return-value]
        method = handler_call_details.method
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._wrap_unary(method, handler.unary_unary), **kwargs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(self._wrap_unary(method, handler.stream_unary), **kwargs)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(self._wrap_streaming(method, handler.unary_stream), **kwargs)
        return grpc.stream_stream_rpc_method_handler(self._wrap_streaming(method, handler.stream_stream), **kwargs)

    def _wrap_streaming(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        # Streaming handlers are either async generators or coroutines that call context.write()
        # (grpc's own health Watch); each keeps its style.
        if inspect.isasyncgenfunction(behavior):
            return self._wrap_stream(method, behavior)
        return self._wrap_unary(method, behavior, headers_first=True)

    async def _begin(self, method: str, context: grpc.aio.ServicerContext) -> Call:
        call = Call(method=method, request_id=_request_id(context), principal=self._principal_for(context))
        _current.set(call)
        context.set_trailing_metadata(((REQUEST_ID_HEADER, call.request_id),))
        return call

    def _wrap_unary(
        self, method: str, behavior: Callable[..., Awaitable[Any]], *, headers_first: bool = False
    ) -> Callable[..., Awaitable[Any]]:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = await self._begin(method, context)
            code = grpc.StatusCode.OK
            try:
                if headers_first:  # the handler writes with context.write(), which would send headers itself
                    await send_headers(context)
                return await behavior(request, context)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:  # every failure leaves as a status, never a stack trace
                status = self._status_for(call, exc)
                code = status.code
                await context.abort(
                    status.code, status.details, (*status.trailing_metadata, (REQUEST_ID_HEADER, call.request_id))
                )
            finally:
                self._log(call, code)

        return handle

    def _wrap_stream(self, method: str, behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call = await self._begin(method, context)
            code = grpc.StatusCode.OK
            try:
                async for response in behavior(request, context):
                    if not call.headers_sent:
                        await send_headers(context)
                    yield response
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:
                status = self._status_for(call, exc)
                code = status.code
                await context.abort(
                    status.code, status.details, (*status.trailing_metadata, (REQUEST_ID_HEADER, call.request_id))
                )
            finally:
                self._log(call, code)

        return handle

    @staticmethod
    def _status_for(call: Call, exc: Exception) -> grpc.Status:
        if isinstance(exc, DomainError):
            return status_for(exc, call.request_id)
        log.error("unhandled error in %s request_id=%s", call.method, call.request_id, exc_info=exc)
        return internal_status(call.request_id)

    @staticmethod
    def _log(call: Call, code: grpc.StatusCode) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s code=%s principal=%s request_id=%s duration_ms=%.2f",
                call.method,
                code.name,
                call.principal.id,
                call.request_id,
                (time.perf_counter() - call.started) * 1000,
            )
