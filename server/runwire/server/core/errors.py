"""Domain errors: what went wrong, in the domain's words. api/errors.py maps them to gRPC status once."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar, cast, get_args

# Re-exported: the server names reasons through this module.
from runwire.v1.error_reason_names import ErrorReasonName as ErrorReasonName

_ERROR_REASON_NAMES = frozenset(get_args(ErrorReasonName))


def reason_named(name: str, fallback: ErrorReasonName) -> ErrorReasonName:
    """`name` as a reason when the contract has it (one read back from a stored or relayed Failure, say),
    else `fallback`."""
    return cast(ErrorReasonName, name) if name in _ERROR_REASON_NAMES else fallback


class ErrorKind(enum.Enum):
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    FAILED_PRECONDITION = "failed_precondition"
    ABORTED = "aborted"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    UNAVAILABLE = "unavailable"
    OUT_OF_RANGE = "out_of_range"
    CANCELLED = "cancelled"
    DEADLINE_EXCEEDED = "deadline_exceeded"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass(frozen=True)
class QuotaViolation:
    subject: str
    description: str


class DomainError(Exception):
    """Base of every error a caller can act on. `reason` is a stable ErrorReason name (runwire.v1.ErrorReason
    without its prefix); a kind without a reason of its own (NotFound, FailedPrecondition, ResourceExhausted)
    needs one at every raise."""

    kind: ClassVar[ErrorKind] = ErrorKind.FAILED_PRECONDITION
    default_reason: ClassVar[ErrorReasonName | None] = None

    def __init__(
        self,
        message: str,
        *,
        reason: ErrorReasonName | None = None,
        field_violations: list[FieldViolation] | None = None,
        quota_violations: list[QuotaViolation] | None = None,
        metadata: dict[str, str] | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        chosen = reason or self.default_reason
        if chosen is None:
            raise TypeError(f"{type(self).__name__} needs a reason")
        self.reason: ErrorReasonName = chosen
        self.field_violations = field_violations or []
        self.quota_violations = quota_violations or []
        self.metadata = metadata or {}
        self.retry_after_seconds = retry_after_seconds


class InvalidArgument(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    @classmethod
    def field(cls, field_path: str, description: str, *, reason: ErrorReasonName | None = None) -> InvalidArgument:
        return cls(
            f"invalid {field_path}: {description}",
            reason=reason,
            field_violations=[FieldViolation(field_path, description)],
        )


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class AlreadyExists(DomainError):
    kind = ErrorKind.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION


class Aborted(DomainError):
    kind = ErrorKind.ABORTED
    default_reason = "ETAG_MISMATCH"


class ResourceExhausted(DomainError):
    kind = ErrorKind.RESOURCE_EXHAUSTED


class OutOfRange(DomainError):
    kind = ErrorKind.OUT_OF_RANGE
    default_reason = "INVALID_ARGUMENT"


class Cancelled(DomainError):
    kind = ErrorKind.CANCELLED
    default_reason = "RUN_CANCELLED"


class DeadlineExceeded(DomainError):
    kind = ErrorKind.DEADLINE_EXCEEDED
    default_reason = "RUN_TIMED_OUT"


class Unavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE
    default_reason = "SHUTTING_DOWN"


@dataclass
class Violations:
    """Collects every problem of a request so the caller sees them all at once."""

    items: list[FieldViolation] = field(default_factory=list)
    # The ErrorReason of the error when a violation has a more precise one than INVALID_ARGUMENT.
    reason: ErrorReasonName | None = None

    def add(self, field_path: str, description: str, *, reason: ErrorReasonName | None = None) -> None:
        self.items.append(FieldViolation(field_path, description))
        if reason and not self.reason:
            self.reason = reason

    def raise_if_any(self, summary: str = "the request has invalid fields") -> None:
        if self.items:
            first = self.items[0]
            detail = f"{first.field}: {first.description}"
            more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
            raise InvalidArgument(f"{summary}: {detail}{more}", reason=self.reason, field_violations=list(self.items))


class Unauthenticated(DomainError):
    """No valid credentials. The message never says whether a key exists unless it is revoked or expired."""

    kind = ErrorKind.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    """The caller is known but may not do this. Never used for another tenant's resource: that is NOT_FOUND."""

    kind = ErrorKind.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"
