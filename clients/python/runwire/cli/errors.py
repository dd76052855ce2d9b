"""Printing a failed call: the status, then what its google.rpc.Status details say."""

from __future__ import annotations

import sys
from typing import TextIO

import grpc

from runwire.client import RunwireError

EXIT_FAILURE = 1


def describe(error: RunwireError, server: str, timeout: float | None = None) -> list[str]:
    """The lines to print for a failed call."""
    code = error.code

    if error.status is None:
        # No rich status: the failure comes from the transport or from something that is not a Runwire server.
        if code == grpc.StatusCode.UNAVAILABLE:
            lines = [f"error: cannot reach the server at {server}"]
            return lines + ([f"  {error.message}"] if error.message else [])
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            within = f" within {timeout:g}s" if timeout else ""
            return [f"error: DEADLINE_EXCEEDED: no answer from the server at {server}{within}; try a larger --timeout"]
        return [f"error: {code.name}: {error.message}" if error.message else f"error: {code.name}"]

    lines = [f"error: {code.name}: {error.message}"]
    lines += [f"  {v.field}: {v.description}" for v in error.field_violations]
    lines += [f"  {v.subject or v.type}: {v.description}" for v in error.precondition_violations]
    lines += [f"  quota {v.subject}: {v.description}" for v in error.quota_violations]
    if error.reason:
        metadata = {k: v for k, v in sorted(error.metadata.items()) if k != "request_id"}
        extra = f" ({', '.join(f'{k}={v}' for k, v in metadata.items())})" if metadata else ""
        lines.append(f"reason: {error.reason}{extra}")
    if error.retry_delay is not None:
        lines.append(f"retry after: {error.retry_delay:g}s")
    if error.request_id:
        lines.append(f"request id: {error.request_id}")
    return lines


def report(error: RunwireError, server: str, timeout: float | None = None, out: TextIO | None = None) -> int:
    """Print the failure to stderr and return the exit code."""
    out = out or sys.stderr
    for line in describe(error, server, timeout):
        print(line, file=out)
    return EXIT_FAILURE
