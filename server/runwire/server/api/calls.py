"""Per-call state and the interceptor that wraps every handler, unary and streaming alike.

In order, for every call: a request id (from `x-request-id` or generated),
the caller (authentication, api/auth.py), its rate limit (api/ratelimit.py),
a stream slot for streaming calls, and a deadline for unary calls that arrive
without one. Then the handler runs, and afterwards the call is measured
(core/metrics.py) and logged in one structured line.

The interceptor is also the one place where errors leave the server: a
DomainError raised here or by a servicer becomes a rich status (with a
LocalizedMessage in the caller's `accept-language`); anything else is logged
with the request id and answered INTERNAL without internals.

A request body that does not decode as its method's message (garbage bytes,
invalid UTF-8 in a string, nesting past the decoder's depth limit) never
reaches a servicer: the wrapped deserializer turns it into an `Undecodable`
marker, and the call, once authenticated and rate limited like any other,
answers INVALID_ARGUMENT with reason MALFORMED_REQUEST. For client streams
the marker is met when the handler reads that message, and ends the call the
same way.

Health and reflection stay open: they need no credentials and are not rate
limited, so probes and `grpcurl list` work on a locked-down server.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, TypeAlias

import grpc

from runwire.server import logging_setup
from runwire.server.api.auth import API_KEY_HEADER, AUTHORIZATION, Authenticator, unauthenticated
from runwire.server.api.errors import internal_status, status_for, unimplemented_status
from runwire.server.api.i18n import ACCEPT_LANGUAGE, ENGLISH, pick_language
from runwire.server.api.ratelimit import Decision, Limit, RateLimiter, StreamSlots, rate_limited, stream_limit_exceeded
from runwire.server.background import call_scoped
from runwire.server.core import metrics
from runwire.server.core.errors import DeadlineExceeded, DomainError, ErrorKind, InvalidArgument, Unavailable
from runwire.server.core.principal import AUTH_NONE, INSECURE_PRINCIPAL, LOCAL_PRINCIPAL, TIER_ANONYMOUS, Principal
from runwire.server.domain.api_keys import API_KEY

log = logging.getLogger("runwire.calls")

REQUEST_ID_HEADER = "x-request-id"
USER_AGENT = "user-agent"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Services that answer without credentials or rate limits.
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_DUPLICATE = object()
_random_bits = random.getrandbits
# What every servicer method receives as `context`; its request and response types vary by method.
ServicerContext: TypeAlias = grpc.aio.ServicerContext[Any, Any]
# Who a call is before authentication, and for the open services: nobody in particular.
UNKNOWN_PRINCIPAL = Principal(id="-", tier=TIER_ANONYMOUS, auth_method=AUTH_NONE)


class Undecodable:
    """A request message that failed to decode: what the wrapped deserializer hands grpc instead of raising
    (grpc would answer UNKNOWN with the exception's class and log a traceback for each one)."""

    __slots__ = ("message_type",)

    def __init__(self, message_type: str) -> None:
        self.message_type = message_type


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer`, answering an `Undecodable` where it would raise."""
    if deserializer is None:
        return None
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    message_type = getattr(descriptor, "full_name", "")

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # DecodeError, or a recursion limit of another protobuf backend: the bytes are at fault
            return Undecodable(message_type)

    return deserialize


def malformed_request(request: Undecodable) -> InvalidArgument:
    what = f"a valid {request.message_type} message" if request.message_type else "a valid message for this method"
    metadata = {"message_type": request.message_type} if request.message_type else {}
    return InvalidArgument(f"the request is not {what}", reason="MALFORMED_REQUEST", metadata=metadata)


def _decoded(request: Any) -> Any:
    """The request of a unary-request call, or the error of one that did not decode."""
    if isinstance(request, Undecodable):
        raise malformed_request(request)
    return request


async def _decoded_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The messages of a client stream; one that did not decode ends the call as MALFORMED_REQUEST."""
    async for request in requests:
        if isinstance(request, Undecodable):
            raise malformed_request(request)
        yield request


class Call:
    """One call being served. Compared and hashed by identity.

    A call sets only its method, request id, principal and start; every other attribute keeps the class's
    default until something sets it (a unary call sets a few; streams set their own), which spares each call
    the twenty-odd stores of a dataclass's __init__.
    """

    method: str
    request_id: str
    principal: Principal
    started: float
    headers_sent: bool = False
    # When the call must be done, in time.time() seconds; None when it has no deadline (streams without one).
    # A caller's own deadline, or the server's default for unary calls that sent none.
    deadline: float | None = None
    # Language of error messages, from accept-language.
    language: str = ENGLISH
    # x-ratelimit-* metadata of this call's bucket, returned with the response.
    rate_headers: tuple[tuple[str, str], ...] = ()
    # For closing a stream whose API key is revoked: its task, and whether it is handing a message to grpc
    # (a cancellation there would end the call without a status, so the stream checks `revoked` after it).
    task: asyncio.Task[Any] | None = None
    revoked: bool = False
    yielding: bool = False
    # The server's default deadline passed and cancelled the handler (unary calls sent without a deadline).
    expired: bool = False
    # Streams only, for AdminService.ListStreams: identity, origin, what the stream follows, and its traffic.
    stream_id: str = ""
    user_agent: str = ""
    peer: str = ""
    start_time: float = 0.0
    follows: str = ""
    messages_sent: int = 0
    last_send_time: float | None = None
    # The ErrorReason the call failed with, for its access line; empty when it succeeded or failed otherwise.
    reason: str = ""
    # Graceful shutdown: where a stream's client resumes, as ErrorInfo metadata made from the last message
    # sent (None before any), set by the servicer once the stream is going; `shutting_down` once the server
    # stops (the stream's end becomes UNAVAILABLE SHUTTING_DOWN); `closing` when the server ends it.
    resume_point: Callable[[Any], dict[str, str]] | None = None
    last_sent: Any = None
    shutting_down: bool = False
    closing: bool = False

    def __init__(self, method: str, request_id: str, principal: Principal, started: float | None = None) -> None:
        self.method = method
        self.request_id = request_id
        self.principal = principal
        self.started = time.perf_counter() if started is None else started

    def __repr__(self) -> str:
        return f"Call(method={self.method!r}, request_id={self.request_id!r}, principal={self.principal.id!r})"

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without one. Pass it on to outgoing calls."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.time())


_current: contextvars.ContextVar[Call] = call_scoped(contextvars.ContextVar("runwire_call"))


def current_call() -> Call:
    call = _current.get()
    if call is None:  # background work (runwire.server.background) runs outside every call
        raise LookupError("no call is being served")
    return call


def current_call_or_none() -> Call | None:
    return _current.get(None)


logging_setup.current_call = current_call_or_none


def caller() -> Principal:
    """The principal of the call being served."""
    call = _current.get(None)
    return call.principal if call is not None else LOCAL_PRINCIPAL


async def send_headers(context: grpc.aio.ServicerContext, *extra: tuple[str, str]) -> None:
    """Send response headers once: the request id and rate-limit state, plus what a servicer adds (e.g. the run a
    stream follows).

    Streams send them before their first message; unary calls skip them (a separate headers
    frame costs as much as the rest of a cheap call) and carry the request id in trailers only.
    """
    call = _current.get(None)
    if call is None or call.headers_sent:
        return
    call.headers_sent = True
    await context.send_initial_metadata(((REQUEST_ID_HEADER, call.request_id), *call.rate_headers, *extra))


# Request fields that name what a stream follows, in order of preference (StreamRunEvents.run, WatchFile.name...).
_FOLLOWED_FIELDS = ("run", "name", "batch", "file", "session")


def _followed(request: Any) -> str:
    """The resource a streaming request names; empty for client streams and requests that name none."""
    descriptor = getattr(request, "DESCRIPTOR", None)
    if descriptor is None:
        return ""
    for name in _FOLLOWED_FIELDS:
        field = descriptor.fields_by_name.get(name)
        if field is not None and field.type == field.TYPE_STRING:
            value = getattr(request, name)
            if value:
                return value
    return ""


class StreamRegistry:
    """Open streaming calls: every one by its id (AdminService.ListStreams), and by the API key they authenticated
    with, so revoking a key closes them."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[Call]] = {}
        self.open: dict[str, Call] = {}
        self.shutting_down = False
        self._none_open: asyncio.Event | None = None

    def add(self, call: Call, context: Any = None, request: Any = None) -> None:
        if not call.stream_id:
            call.stream_id = uuid.uuid4().hex[:16]
            call.start_time = time.time()
            if context is not None:
                call.peer = context.peer() or ""
            if not call.follows:
                call.follows = _followed(request)
        self.open[call.stream_id] = call
        call.shutting_down = self.shutting_down
        key_id = call.principal.key_id
        if key_id:
            self._by_key.setdefault(key_id, set()).add(call)

    def remove(self, call: Call) -> None:
        self.open.pop(call.stream_id, None)
        if not self.open and self._none_open is not None:
            self._none_open.set()
        key_id = call.principal.key_id
        if key_id:
            calls = self._by_key.get(key_id)
            if calls is not None:
                calls.discard(call)
                if not calls:
                    del self._by_key[key_id]

    def begin_shutdown(self) -> None:
        """From now on a stream that ends, ends UNAVAILABLE SHUTTING_DOWN with where to resume."""
        self.shutting_down = True
        for call in self.open.values():
            call.shutting_down = True

    async def wait_none_open(self, timeout: float) -> None:
        """Return once no stream is open, or after `timeout` seconds."""
        if not self.open:
            return
        self._none_open = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none_open.wait(), timeout)

    def close_for_shutdown(self) -> int:
        """End every open stream with UNAVAILABLE SHUTTING_DOWN and where to resume, before grpc's own
        end of the grace period would cut it off with a bare status."""
        calls = list(self.open.values())
        for call in calls:
            call.shutting_down = call.closing = True
            if call.task is not None and not call.yielding:
                call.task.cancel()
        return len(calls)

    def close_key(self, key_id: str) -> int:
        calls = self._by_key.pop(key_id, set())
        for call in calls:
            call.revoked = True
            if call.task is not None and not call.yielding:
                call.task.cancel()
        return len(calls)


@dataclass
class CallPolicy:
    """What the interceptor enforces. Everything off (the default) is the embedded, unauthenticated server."""

    authenticator: Authenticator | None = None
    insecure: bool = False
    rate_limiter: RateLimiter | None = None
    stream_slots: StreamSlots | None = None
    default_deadline_seconds: float = 0.0
    streams: StreamRegistry = field(default_factory=StreamRegistry)


class CallInterceptor:
    """Wraps every method's handler once, when the server registers it (`wrap`), rather than through grpc's
    interceptor chain, which costs a handful of coroutines and a handler look-up on every call."""

    def __init__(
        self,
        principal_for: Callable[[grpc.aio.ServicerContext], Principal] | None = None,
        policy: CallPolicy | None = None,
    ) -> None:
        self._principal_for = principal_for
        self.policy = policy or CallPolicy(insecure=True)
        self._default_deadlines = DefaultDeadlines()

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` of `method` (its full name, `/package.Service/Method`) with everything above around it."""
        kwargs = {
            "request_deserializer": _tolerant(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        open_method = method.startswith(OPEN_SERVICES)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(self._wrap_unary(method, handler.unary_unary, open_method), **kwargs)
        if handler.stream_unary:
            # Client-streaming calls (uploads) last as long as their content takes: no default deadline.
            behavior = self._wrap_unary(method, handler.stream_unary, open_method, client_streaming=True, decode=_decoded_stream)
            return grpc.stream_unary_rpc_method_handler(behavior, **kwargs)
        if handler.unary_stream:
            behavior = self._wrap_streaming(method, handler.unary_stream, open_method, _decoded)
            return grpc.unary_stream_rpc_method_handler(behavior, **kwargs)
        if handler.stream_stream is None:  # a handler without any behaviour: nothing to wrap
            return handler
        behavior = self._wrap_streaming(method, handler.stream_stream, open_method, _decoded_stream)
        return grpc.stream_stream_rpc_method_handler(behavior, **kwargs)

    def _wrap_streaming(
        self, method: str, behavior: Callable[..., Any], open_method: bool, decode: Callable[[Any], Any]
    ) -> Callable[..., Any]:
        # Streaming handlers are either async generators or coroutines that call context.write()
        # (grpc's own health Watch); each keeps its style.
        if inspect.isasyncgenfunction(behavior):
            return self._wrap_stream(method, behavior, open_method, decode)
        return self._wrap_unary(method, behavior, open_method, streaming=True, decode=decode)

    # -- what every call goes through first ---------------------------------------

    def _start(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> tuple[Call, object, object]:
        """The call's state from its metadata (one pass), before anything that can fail. The credentials
        come back as sent, or as _DUPLICATE when a header came twice (authentication refuses that)."""
        request_id: str | bytes | None = None
        language: str | bytes | None = None
        user_agent: str | bytes | None = None
        authorization: object = None
        api_key: object = None
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID_HEADER:
                request_id = value
            elif key == ACCEPT_LANGUAGE:
                language = value
            elif key == AUTHORIZATION:
                authorization = value if authorization is None else _DUPLICATE
            elif key == API_KEY_HEADER:
                api_key = value if api_key is None else _DUPLICATE
            elif key == USER_AGENT:
                user_agent = value
        if not (isinstance(request_id, str) and _CLIENT_REQUEST_ID.fullmatch(request_id)):
            # 32 hex digits, as uuid4().hex, from the process's generator (seeded from urandom, and again in each
            # forked worker): no system call per call. A request id names a call; it guards nothing.
            request_id = f"{_random_bits(128):032x}"
        call = Call(method=method, request_id=request_id, principal=UNKNOWN_PRINCIPAL)
        if isinstance(user_agent, str):
            call.user_agent = user_agent
        if language is not None and isinstance(language, str):
            call.language = pick_language(language)
        _current.set(call)
        return call, authorization, api_key

    def _admit_now(
        self,
        call: Call,
        context: grpc.aio.ServicerContext,
        authorization: Any,
        api_key: Any,
        open_method: bool,
        streaming: bool,
    ) -> bool | None:
        """Authenticate, rate-limit, take a stream slot, without awaiting: True when a stream slot was taken
        (release it after). None when something must be awaited (a credential that is not a cached API key,
        buckets in Redis): _admit() does the rest. Nearly every call is done here."""
        policy = self.policy
        if self._principal_for is not None:
            call.principal = self._principal_for(context)
        elif open_method:
            return False
        elif policy.insecure:
            call.principal = INSECURE_PRINCIPAL
        elif policy.authenticator is not None:
            known = policy.authenticator.known(api_key) if authorization is None else None
            if known is None:
                return None
            call.principal = known
        limiter = policy.rate_limiter
        if limiter is not None:
            if not limiter.in_process:
                return None
            self._apply_limit(call, limiter.check_now(call.principal, call.method))
        return self._take_slot(call, streaming)

    async def _admit(self, call: Call, authorization: Any, api_key: Any, streaming: bool) -> bool:
        """What _admit_now() left to await: authentication the whole way (when the caller is still unknown),
        then the rate limit."""
        policy = self.policy
        if call.principal is UNKNOWN_PRINCIPAL and policy.authenticator is not None:
            call.principal = await policy.authenticator.authenticate(authorization, api_key)
        limiter = policy.rate_limiter
        if limiter is not None:
            self._apply_limit(call, await limiter.check(call.principal, call.method))
        return self._take_slot(call, streaming)

    @staticmethod
    def _apply_limit(call: Call, checked: tuple[Limit, Decision] | None) -> None:
        if checked is None:  # no limit for this caller and method
            return
        limit, decision = checked
        call.rate_headers = decision.headers()
        if not decision.allowed:
            metrics.rate_limited("rate", limit.method_class, call.principal.tier)
            raise rate_limited(call.principal, call.method, limit, decision)

    def _take_slot(self, call: Call, streaming: bool) -> bool:
        slots = self.policy.stream_slots
        if not streaming or slots is None:
            return False
        if not slots.acquire(call.principal):
            metrics.rate_limited("streams", "stream", call.principal.tier)
            raise stream_limit_exceeded(call.principal, slots.limit)
        return True

    def _deadline(self, call: Call, context: grpc.aio.ServicerContext, streaming: bool) -> float | None:
        """Seconds the server itself allows the handler: the default for unary calls without a deadline."""
        remaining = context.time_remaining()
        if remaining is not None:
            call.deadline = time.time() + remaining
            return None
        default = self.policy.default_deadline_seconds
        if streaming or not default:
            return None
        call.deadline = time.time() + default
        return default

    def _trailers(self, call: Call) -> tuple[tuple[str, str], ...]:
        return ((REQUEST_ID_HEADER, call.request_id), *call.rate_headers)

    # -- the wrappers ---------------------------------------------------------------

    def _wrap_unary(
        self,
        method: str,
        behavior: Callable[..., Awaitable[Any]],
        open_method: bool,
        *,
        streaming: bool = False,
        client_streaming: bool = False,
        decode: Callable[[Any], Any] = _decoded,
    ) -> Callable[..., Awaitable[Any]]:
        """`decode` checks the request (or wraps the request stream) once the caller is admitted: a caller who
        may not call learns nothing about its bytes."""
        # The loop the handlers run on, for current_task(): without it, each lookup of the running loop
        # costs a getpid() system call (Python 3.11 checks it for forks).
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # wrapped outside the server's loop: found per call
            loop = None

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call, authorization, api_key = self._start(method, context)
            code = grpc.StatusCode.OK
            slot = False
            gauge = metrics.stream_gauge(method) if streaming else None
            if gauge is not None:
                gauge.inc()
            try:
                admitted = self._admit_now(call, context, authorization, api_key, open_method, streaming)
                slot = admitted if admitted is not None else await self._admit(call, authorization, api_key, streaming)
                context.set_trailing_metadata(self._trailers(call))
                request = decode(request)
                if streaming:  # the handler writes with context.write(), which would send headers itself
                    call.task = asyncio.current_task()
                    self.policy.streams.add(call, context, request)
                    await send_headers(context)
                limit = self._deadline(call, context, streaming or client_streaming)
                if limit is None:
                    return await behavior(request, context)
                # The server's default deadline (nearly every unary call comes here): the call joins the ones
                # one shared timer watches, instead of a timer of its own.
                task = asyncio.current_task(loop)
                assert task is not None
                self._default_deadlines.add(call, task, limit)
                try:
                    return await behavior(request, context)
                finally:
                    self._default_deadlines.discard(call)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                if call.expired:
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
                    status = self._status_for(call, _deadline_exceeded(self.policy.default_deadline_seconds))
                elif call.revoked:
                    status = self._status_for(call, _revoked(call))
                else:
                    code = grpc.StatusCode.CANCELLED
                    raise
                code = status.code
                await self._abort(call, context, status)
            except Exception as exc:  # every failure leaves as a status, never a stack trace
                status = self._status_for(call, exc)
                code = status.code
                await self._abort(call, context, status)
            finally:
                self._finish(call, code, slot, gauge)

        return handle

    def _wrap_stream(
        self, method: str, behavior: Callable[..., AsyncIterator[Any]], open_method: bool, decode: Callable[[Any], Any]
    ) -> Callable[..., AsyncIterator[Any]]:
        sent = metrics.stream_messages(method)

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call, authorization, api_key = self._start(method, context)
            code = grpc.StatusCode.OK
            slot = False
            gauge = metrics.stream_gauge(method)
            gauge.inc()
            try:
                admitted = self._admit_now(call, context, authorization, api_key, open_method, True)
                slot = admitted if admitted is not None else await self._admit(call, authorization, api_key, True)
                context.set_trailing_metadata(self._trailers(call))
                request = decode(request)
                call.task = asyncio.current_task()
                self.policy.streams.add(call, context, request)
                self._deadline(call, context, True)
                async for response in behavior(request, context):
                    if not call.headers_sent:
                        await send_headers(context)
                    call.yielding = True
                    yield response
                    call.yielding = False
                    call.last_sent = response
                    call.messages_sent += 1
                    call.last_send_time = time.time()
                    sent.inc()
                    if call.revoked:
                        raise _revoked(call)
                    if call.closing:
                        raise _shutting_down(call)
                if call.shutting_down and call.resume_point is not None:
                    raise _shutting_down(call)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                if not (call.revoked or call.closing):
                    code = grpc.StatusCode.CANCELLED
                    raise
                status = self._status_for(call, _revoked(call) if call.revoked else _shutting_down(call))
                code = status.code
                await self._abort(call, context, status)
            except Exception as exc:
                if call.shutting_down and call.resume_point is not None and not _is_shutting_down(exc):
                    # Whatever ended a stream the shutdown cut short, its client resumes from here.
                    exc = _shutting_down(call)
                status = self._status_for(call, exc)
                code = status.code
                await self._abort(call, context, status)
            finally:
                self._finish(call, code, slot, gauge)

        return handle

    async def _abort(self, call: Call, context: grpc.aio.ServicerContext, status: grpc.Status) -> None:
        """Answer with `status` (abort raises AbortError; grpc sends the status, the wrapper's `finally` still runs)."""
        await context.abort(status.code, status.details, (*status.trailing_metadata, *self._trailers(call)))

    def _finish(self, call: Call, code: grpc.StatusCode, slot: bool, gauge: Any) -> None:
        if gauge is not None:
            gauge.dec()
            self.policy.streams.remove(call)
            call.task = None
        if slot and self.policy.stream_slots is not None:
            self.policy.stream_slots.release(call.principal)
        seconds = time.perf_counter() - call.started
        code_name = code.name
        metrics.call_finished(call.method, code_name, seconds)
        if not log.isEnabledFor(logging.INFO):
            return
        access = logging_setup.access_log
        if access is not None:  # `runwire serve`: formatted and written in batches, off the event loop
            access.record(call.method, code_name, call.principal.id, call.request_id, seconds, call.reason)
        else:
            extra = {"code": code_name, "duration_ms": round(seconds * 1000, 3), "principal": call.principal.id}
            if call.reason:
                extra["reason"] = call.reason
            log.info(
                "%s code=%s%s principal=%s request_id=%s duration_ms=%.2f",
                call.method,
                code_name,
                f" reason={call.reason}" if call.reason else "",
                call.principal.id,
                call.request_id,
                seconds * 1000,
                extra=extra,
            )

    @staticmethod
    def _status_for(call: Call, exc: Exception) -> grpc.Status:
        if isinstance(exc, DomainError):
            call.reason = exc.reason
            if exc.kind is ErrorKind.UNAUTHENTICATED:
                metrics.auth_failed(exc.reason)
            return status_for(exc, call.request_id, call.language)
        if isinstance(exc, NotImplementedError):
            return unimplemented_status(call.method, call.request_id, call.language)
        log.error("unhandled error in %s request_id=%s", call.method, call.request_id, exc_info=exc)
        return internal_status(call.request_id, call.language)


class DefaultDeadlines:
    """The unary calls running under the server's default deadline, and the one timer that cancels the ones
    past it.

    Every call here has the same limit, so the calls, kept in the order they arrived, expire in that order:
    each tick looks only at the oldest. A timer per call (loop.call_later and its cancel) cost about as much
    as the rest of the deadline handling; a call is cancelled at most one tick (a twentieth of the limit, at
    most half a second) after its deadline."""

    MAX_TICK_SECONDS = 0.5

    def __init__(self) -> None:
        self._running: dict[Call, tuple[float, asyncio.Task[Any]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tick = self.MAX_TICK_SECONDS

    def add(self, call: Call, task: asyncio.Task[Any], limit: float) -> None:
        self._running[call] = (call.started + limit, task)
        if self._timer is None:
            self._tick = min(self.MAX_TICK_SECONDS, limit / 20)
            self._timer = asyncio.get_running_loop().call_later(self._tick, self._sweep)

    def discard(self, call: Call) -> None:
        self._running.pop(call, None)

    def _sweep(self) -> None:
        self._timer = None
        now = time.perf_counter()
        expired = []
        for call, (deadline, task) in self._running.items():
            if deadline > now:
                break
            expired.append((call, task))
        for call, task in expired:
            del self._running[call]
            if not task.done():
                call.expired = True
                task.cancel()
        if self._running:
            self._timer = asyncio.get_running_loop().call_later(self._tick, self._sweep)


def _deadline_exceeded(seconds: float) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"the call did not finish within the server's default deadline of {seconds:g}s; set a deadline to choose another",
        reason="DEADLINE_EXCEEDED",
        metadata={"deadline_seconds": f"{seconds:g}"},
    )


SHUTDOWN_RETRY_SECONDS = 1.0


def _shutting_down(call: Call) -> DomainError:
    metadata = call.resume_point(call.last_sent) if call.resume_point is not None else {}
    return Unavailable(
        "the server is shutting down; call again (another replica, or this one after its restart) to resume",
        reason="SHUTTING_DOWN",
        metadata=metadata,
        retry_after_seconds=SHUTDOWN_RETRY_SECONDS,
    )


def _is_shutting_down(exc: Exception) -> bool:
    return isinstance(exc, DomainError) and exc.reason == "SHUTTING_DOWN"


def _revoked(call: Call) -> DomainError:
    name = API_KEY.format(call.principal.key_id)
    return unauthenticated(f"the API key {name} has been revoked", "API_KEY_REVOKED", api_key=name)
