"""Failures of outgoing connections, told in the server's own words.

A library's exception text names classes, addresses and sometimes paths; callers (and models) get
one of the short phrases below, and the exception itself goes to the server's log.
"""

from __future__ import annotations

import errno
import functools
import importlib
import socket
import ssl
from types import ModuleType

import httpx

_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EPIPE: "connection closed",
    errno.ENOENT: "not found",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def causes(error: BaseException) -> list[BaseException]:
    """The error, the first member of each exception group, and what each was raised from."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found and len(found) < 16:
        found.append(current)
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        else:
            current = current.__cause__ or current.__context__
    return found


def connection_trouble(error: BaseException) -> str:
    """Why a connection failed, in a few words: "connection refused", "name not resolved", "timed out"..."""
    chain = causes(error)
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return "name not resolved"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, OSError) and cause.errno in _ERRNO_WORDS:
            return _ERRNO_WORDS[cause.errno]
    for cause in chain:
        if isinstance(cause, http_errors("ConnectTimeout", "PoolTimeout")):
            return "connection timed out"
        if isinstance(cause, (*http_errors("TimeoutException"), TimeoutError)):
            return "timed out"
        if isinstance(cause, http_errors("RemoteProtocolError")):
            return "the connection broke off"
        if isinstance(cause, http_errors("ReadError", "WriteError")):
            return "the connection was lost"
        if isinstance(cause, http_errors("ProxyError")):
            return "the proxy failed"
        if isinstance(cause, http_errors("InvalidURL", "UnsupportedProtocol")):
            return "the URL is not valid"
        if isinstance(cause, http_errors("ConnectError")):
            # "cannot resolve" comes from the egress resolver (engine/egress.py); its text is ours.
            return "name not resolved" if "cannot resolve" in str(cause) else "connection failed"
    return "connection failed"


@functools.cache
def _http_modules() -> tuple[ModuleType, ...]:
    """httpx, and httpx2 where installed (the MCP SDK's copy of it, with its own exception classes)."""
    modules = [httpx]
    try:
        modules.append(importlib.import_module("httpx2"))
    except ImportError:
        pass
    return tuple(modules)


@functools.cache
def http_errors(*names: str) -> tuple[type[BaseException], ...]:
    """The exception classes of those names in every HTTP client module the server uses."""
    return tuple(getattr(module, name) for module in _http_modules() for name in names if hasattr(module, name))


def tool_failure(error: BaseException) -> str:
    """What the model reads when a tool fails with anything but a ToolError."""
    if any(isinstance(cause, (OSError, *http_errors("HTTPError"))) for cause in causes(error)):
        return f"the tool failed ({connection_trouble(error)})"
    if isinstance(error, MemoryError):
        return "the tool failed (out of memory)"
    return "the tool failed (an unexpected error; the server's log has the detail)"
