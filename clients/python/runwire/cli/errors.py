"""Printing a failed call: the status, then what its google.rpc.Status details say."""

from __future__ import annotations

import sys
from typing import TextIO

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

EXIT_FAILURE = 1


def _unpack(status: status_pb2.Status, kind):  # type: ignore[no-untyped-def]
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            yield message


def rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status the server attached, or None when there is none (or it does not match the call)."""
    try:
        return rpc_status.from_call(error)  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        return None


def describe(error: grpc.RpcError, server: str, timeout: float | None = None) -> list[str]:
    """The lines to print for a failed call."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN  # type: ignore[attr-defined]
    details = (error.details() if hasattr(error, "details") else "") or ""  # type: ignore[attr-defined]
    code_name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    status = rich_status(error)

    if status is None:
        # No rich status: the failure comes from the transport or from something that is not a Runwire server.
        if code == grpc.StatusCode.UNAVAILABLE:
            lines = [f"error: cannot reach the server at {server}"]
            return lines + ([f"  {details}"] if details else [])
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            within = f" within {timeout:g}s" if timeout else ""
            return [f"error: DEADLINE_EXCEEDED: no answer from the server at {server}{within}; try a larger --timeout"]
        return [f"error: {code_name}: {details}" if details else f"error: {code_name}"]

    lines = [f"error: {code_name}: {status.message or details}"]
    for bad in _unpack(status, error_details_pb2.BadRequest):
        lines += [f"  {v.field}: {v.description}" for v in bad.field_violations]
    for failure in _unpack(status, error_details_pb2.PreconditionFailure):
        lines += [f"  {v.subject or v.type}: {v.description}" for v in failure.violations]
    for quota in _unpack(status, error_details_pb2.QuotaFailure):
        lines += [f"  quota {v.subject}: {v.description}" for v in quota.violations]
    request_id = ""
    for info in _unpack(status, error_details_pb2.ErrorInfo):
        metadata = {k: v for k, v in sorted(info.metadata.items()) if k != "request_id"}
        request_id = request_id or info.metadata.get("request_id", "")
        extra = f" ({', '.join(f'{k}={v}' for k, v in metadata.items())})" if metadata else ""
        lines.append(f"reason: {info.reason}{extra}")
    for retry in _unpack(status, error_details_pb2.RetryInfo):
        lines.append(f"retry after: {retry.retry_delay.ToTimedelta().total_seconds():g}s")
    for info in _unpack(status, error_details_pb2.RequestInfo):
        request_id = info.request_id or request_id
    if request_id:
        lines.append(f"request id: {request_id}")
    return lines


def report(error: grpc.RpcError, server: str, timeout: float | None = None, out: TextIO | None = None) -> int:
    """Print the failure to stderr and return the exit code."""
    out = out or sys.stderr
    for line in describe(error, server, timeout):
        print(line, file=out)
    return EXIT_FAILURE
