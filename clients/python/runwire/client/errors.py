"""Typed exceptions for failed calls, carrying the server's google.rpc.Status details.

Every failed call raises a subclass of `RunwireError` chosen by its status
code (`NotFound`, `InvalidArgument`, ...). The details the server attached
are parsed once, into plain attributes:

    try:
        client.agents.get("agents/missing")
    except NotFound as error:
        error.reason            # "AGENT_NOT_FOUND" (ErrorInfo)
        error.field_violations  # [FieldViolation(field, description)] (BadRequest)
        error.retry_delay       # seconds to wait, from RetryInfo, or None

`RunwireError` is a `grpc.RpcError`, so code that catches grpc's errors keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request (BadRequest.FieldViolation)."""

    field: str
    description: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class QuotaViolation:
    """One exhausted quota (QuotaFailure.Violation)."""

    subject: str
    description: str


@dataclass(frozen=True, slots=True)
class PreconditionViolation:
    """One unmet precondition (PreconditionFailure.Violation)."""

    type: str
    subject: str
    description: str


class RunwireError(grpc.RpcError):
    """A call that failed, with the details of its google.rpc.Status."""

    # grpc's typing stubs give RpcError a call's methods (code(), details(), trailing_metadata()); a
    # RunwireError holds the values themselves, and its details(kind) unpacks the status's details.
    code: grpc.StatusCode  # type: ignore[assignment]
    trailing_metadata: tuple[tuple[str, Any], ...]  # type: ignore[assignment]

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        status: status_pb2.Status | None = None,
        trailing_metadata: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message}" if message else code.name)
        self.code = code
        self.message = message
        # The google.rpc.Status the server attached; None for transport failures and plain statuses.
        self.status = status
        self.trailing_metadata = trailing_metadata
        self.reason = ""
        self.domain = ""
        # ErrorInfo.metadata: what the reason is about (the resource name, the limit...).
        self.metadata: dict[str, str] = {}
        self.field_violations: list[FieldViolation] = []
        self.quota_violations: list[QuotaViolation] = []
        self.precondition_violations: list[PreconditionViolation] = []
        # RetryInfo: how long the server asks the caller to wait before trying again, in seconds.
        self.retry_delay: float | None = None
        self.request_id = ""
        # LocalizedMessage: (locale, message) in the caller's accept-language.
        self.localized_message: tuple[str, str] | None = None
        if status is not None:
            self._read_details(status)

    def _read_details(self, status: status_pb2.Status) -> None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = _unpack(detail, error_details_pb2.ErrorInfo)
                self.reason, self.domain, self.metadata = info.reason, info.domain, dict(info.metadata)
                self.request_id = self.request_id or info.metadata.get("request_id", "")
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = _unpack(detail, error_details_pb2.BadRequest)
                self.field_violations += [FieldViolation(v.field, v.description, v.reason) for v in bad.field_violations]
            elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
                quota = _unpack(detail, error_details_pb2.QuotaFailure)
                self.quota_violations += [QuotaViolation(v.subject, v.description) for v in quota.violations]
            elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
                failure = _unpack(detail, error_details_pb2.PreconditionFailure)
                self.precondition_violations += [
                    PreconditionViolation(v.type, v.subject, v.description) for v in failure.violations
                ]
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = _unpack(detail, error_details_pb2.RetryInfo)
                self.retry_delay = retry.retry_delay.ToNanoseconds() / 1e9
            elif detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
                self.request_id = _unpack(detail, error_details_pb2.RequestInfo).request_id or self.request_id
            elif detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
                localized = _unpack(detail, error_details_pb2.LocalizedMessage)
                self.localized_message = (localized.locale, localized.message)

    def details(self, kind: type[Message]) -> list[Message]:  # type: ignore[override]  # see `code` above
        """Every detail of type `kind` (e.g. error_details_pb2.ResourceInfo), unpacked."""
        if self.status is None:
            return []
        return [_unpack(d, kind) for d in self.status.details if d.Is(kind.DESCRIPTOR)]


def _unpack(detail: Any, kind: type[Message]) -> Any:
    message = kind()
    detail.Unpack(message)
    return message


class Cancelled(RunwireError): ...
class Unknown(RunwireError): ...
class InvalidArgument(RunwireError): ...
class DeadlineExceeded(RunwireError): ...
class NotFound(RunwireError): ...
class AlreadyExists(RunwireError): ...
class PermissionDenied(RunwireError): ...
class ResourceExhausted(RunwireError): ...
class FailedPrecondition(RunwireError): ...
class Aborted(RunwireError): ...
class OutOfRange(RunwireError): ...
class Unimplemented(RunwireError): ...
class Internal(RunwireError): ...
class Unavailable(RunwireError): ...
class DataLoss(RunwireError): ...
class Unauthenticated(RunwireError): ...


ERRORS_BY_CODE: dict[grpc.StatusCode, type[RunwireError]] = {
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNKNOWN: Unknown,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DATA_LOSS: DataLoss,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


class PageTokenLoop(RuntimeError):
    """The server returned a page token it had returned before: following it would never end."""


def from_grpc_error(error: grpc.RpcError) -> RunwireError:
    """The typed exception for a failed grpc call (sync or asyncio)."""
    if isinstance(error, RunwireError):
        return error
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else "") or ""
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        # A status whose code or message does not match the call's: not one to trust.
        status = None
    try:
        trailers = tuple(error.trailing_metadata() or ())
    except Exception:  # noqa: BLE001 - a call that never reached the server may have none
        trailers = ()
    kind = ERRORS_BY_CODE.get(code, RunwireError)
    # grpc's stubs type metadata items as _Metadatum; at run time they are (key, value) tuples.
    return kind(code, status.message if status is not None and status.message else message, status, trailers)  # type: ignore[arg-type]
