"""The one place where domain errors become google.rpc.Status with details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from runwire.server.api.i18n import ENGLISH, localize
from runwire.server.core.errors import DomainError, ErrorKind

ERROR_DOMAIN = "runwire.dev"

_CODES: dict[ErrorKind, tuple[grpc.StatusCode, int]] = {
    ErrorKind.INVALID_ARGUMENT: (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT),
    ErrorKind.NOT_FOUND: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
    ErrorKind.ALREADY_EXISTS: (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
    ErrorKind.FAILED_PRECONDITION: (grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
    ErrorKind.ABORTED: (grpc.StatusCode.ABORTED, code_pb2.ABORTED),
    ErrorKind.RESOURCE_EXHAUSTED: (grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED),
    ErrorKind.PERMISSION_DENIED: (grpc.StatusCode.PERMISSION_DENIED, code_pb2.PERMISSION_DENIED),
    ErrorKind.UNAUTHENTICATED: (grpc.StatusCode.UNAUTHENTICATED, code_pb2.UNAUTHENTICATED),
    ErrorKind.UNAVAILABLE: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
    ErrorKind.OUT_OF_RANGE: (grpc.StatusCode.OUT_OF_RANGE, code_pb2.OUT_OF_RANGE),
    ErrorKind.CANCELLED: (grpc.StatusCode.CANCELLED, code_pb2.CANCELLED),
    ErrorKind.DEADLINE_EXCEEDED: (grpc.StatusCode.DEADLINE_EXCEEDED, code_pb2.DEADLINE_EXCEEDED),
}


def _pack(message) -> any_pb2.Any:  # type: ignore[no-untyped-def]
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_for(error: DomainError, request_id: str, language: str = ENGLISH) -> grpc.Status:
    """The rich status of a domain error; `language` (from accept-language) picks the LocalizedMessage's."""
    return rpc_status.to_status(status_proto(error, request_id, language))


def status_proto(error: DomainError, request_id: str, language: str = ENGLISH) -> status_pb2.Status:
    """The google.rpc.Status of a domain error, for calls and for errors carried inside a stream (Connect)."""
    _, code = _CODES[error.kind]
    metadata = {"request_id": request_id, **error.metadata} if request_id else dict(error.metadata)
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata)),
    ]
    if error.field_violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                        for v in error.field_violations
                    ]
                )
            )
        )
    if error.quota_violations:
        details.append(
            _pack(
                error_details_pb2.QuotaFailure(
                    violations=[
                        error_details_pb2.QuotaFailure.Violation(subject=v.subject, description=v.description)
                        for v in error.quota_violations
                    ]
                )
            )
        )
    if error.retry_after_seconds is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_seconds * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    if request_id:
        details.append(_pack(error_details_pb2.RequestInfo(request_id=request_id)))
    fields = [v.field for v in error.field_violations or ()]
    locale, localized = localize(error.reason, language, error.message, metadata, fields)
    details.append(_pack(error_details_pb2.LocalizedMessage(locale=locale, message=localized)))
    return status_pb2.Status(code=code, message=error.message, details=details)


def internal_status(request_id: str, language: str = ENGLISH) -> grpc.Status:
    """No internals leave the server: the request id is what ties the reply to the log line."""
    message = f"internal error; quote request id {request_id} when reporting it"
    locale, localized = localize("INTERNAL", language, message, {})
    if locale != ENGLISH:
        localized = f"{localized} ({request_id})"
    details = [
        _pack(error_details_pb2.ErrorInfo(reason="INTERNAL", domain=ERROR_DOMAIN, metadata={"request_id": request_id})),
        _pack(error_details_pb2.RequestInfo(request_id=request_id)),
        _pack(error_details_pb2.LocalizedMessage(locale=locale, message=localized)),
    ]
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message=message, details=details))


def unimplemented_status(method: str, request_id: str, language: str = ENGLISH) -> grpc.Status:
    """A method of the contract that is not served yet (the generated base servicer raises NotImplementedError)."""
    message = f"{method} is not implemented yet"
    locale, localized = localize("UNIMPLEMENTED", language, message, {})
    details = [
        _pack(error_details_pb2.ErrorInfo(reason="UNIMPLEMENTED", domain=ERROR_DOMAIN, metadata={"request_id": request_id})),
        _pack(error_details_pb2.RequestInfo(request_id=request_id)),
        _pack(error_details_pb2.LocalizedMessage(locale=locale, message=localized)),
    ]
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.UNIMPLEMENTED, message=message, details=details))
