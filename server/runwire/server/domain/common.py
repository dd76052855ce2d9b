"""Rules shared by every resource: clocks, etags, labels, text limits, field masks, idempotency."""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from runwire.server.core.clock import Clock, utc_now
from runwire.server.core.errors import FailedPrecondition, InvalidArgument, Violations
from runwire.server.core.filtering import Expr, FilterError, parse_filter
from runwire.server.core.principal import Principal
from runwire.server.store import repositories as repo
from runwire.server.store.models import IdempotencyRecord
from runwire.server.store.transaction import CoreTransaction, Transaction, orm

LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
MAX_LABEL_VALUE = 63



def check_text(violations: Violations, field: str, value: str, max_chars: int, *, required: bool = False) -> None:
    if required and not value.strip():
        violations.add(field, "is required")
    elif len(value) > max_chars:
        violations.add(field, f"is {len(value)} characters long; the limit is {max_chars}")


def check_labels(violations: Violations, field: str, labels: Mapping[str, Any], max_labels: int) -> None:
    if len(labels) > max_labels:
        violations.add(field, f"has {len(labels)} labels; the limit is {max_labels}")
    for key, value in labels.items():
        if not LABEL_KEY.fullmatch(key):
            violations.add(f"{field}.{key}", "label keys are 1-63 characters of [a-z0-9_-] starting with a letter")
        elif not isinstance(value, str) or len(value) > MAX_LABEL_VALUE:
            violations.add(f"{field}.{key}", f"label values are strings of at most {MAX_LABEL_VALUE} characters")


def parse_filter_field(text: str, max_chars: int) -> Expr | None:
    try:
        return parse_filter(text, max_length=max_chars)
    except FilterError as exc:
        raise InvalidArgument.field("filter", str(exc), reason="INVALID_FILTER") from None


def filter_error(exc: FilterError) -> InvalidArgument:
    return InvalidArgument.field("filter", str(exc), reason="INVALID_FILTER")


@dataclass(frozen=True)
class UpdatePlan:
    """Validated update-mask paths with their new values, in domain field names."""

    changes: dict[str, Any]


def plan_update(
    mask_paths: Iterable[str], values: Mapping[str, Any], updatable: Iterable[str], *, field: str = "update_mask"
) -> UpdatePlan:
    """Pick the masked values; `*` means every top-level updatable field. Unknown or read-only paths are rejected."""
    allowed = set(updatable)
    paths = list(mask_paths)
    if "*" in paths:
        if len(paths) > 1:
            raise InvalidArgument.field(field, "`*` cannot be combined with other paths")
        paths = sorted(p for p in allowed if "." not in p)
    if not paths:
        raise InvalidArgument.field(field, "names no field to change")
    violations = Violations()
    changes: dict[str, Any] = {}
    for path in paths:
        if path not in allowed:
            violations.add(field, f"{path!r} cannot be updated; updatable fields: {', '.join(sorted(allowed))}")
            continue
        changes[path] = copy.deepcopy(get_path(values, path))
    violations.raise_if_any("the update mask is invalid")
    return UpdatePlan(changes)


def expiring_changes(mask_paths: Iterable[str], values: Mapping[str, Any], updatable: Iterable[str]) -> dict[str, Any]:
    """plan_update for a resource whose expiration is a oneof of `ttl` and `expire_time`."""
    paths = list(mask_paths)
    changes = plan_update(paths, values, updatable).changes
    if paths == ["*"]:
        # `*` names the expiration oneof once: ttl when the request sets it, otherwise expire_time.
        changes.pop("expire_time" if changes.get("ttl") is not None else "ttl")
    if "ttl" in changes and "expire_time" in changes:
        raise InvalidArgument.field("update_mask", "set either ttl or expire_time, not both")
    return changes


def expire_time_of(path: str, value: Any, now: datetime) -> datetime | None:
    """The new expiry from an `expire_time` or `ttl` change."""
    if path == "ttl":
        return now + value if value is not None else None
    return value


def check_immutable(field: str, requested: Any, current: Any) -> None:
    """An IMMUTABLE field may be sent back as it is (or left empty), never changed."""
    if requested and requested != current:
        raise InvalidArgument.field(field, f"is immutable: it is {current!r} and cannot change")


def get_path(values: Mapping[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    return current


def apply_path(target: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if not rest:
        target[head] = value
        return
    child = target.get(head)
    if not isinstance(child, dict):
        child = {}
    child = dict(child)
    apply_path(child, rest, value)
    target[head] = child


class Idempotency:
    """AIP-155: a request_id seen within the window replays the first outcome; reused with another request it is refused."""

    def __init__(self, window: timedelta, clock: Clock = utc_now) -> None:
        self.window = window
        self.clock = clock

    @staticmethod
    def validate(request_id: str, field: str = "request_id") -> None:
        if not request_id:
            return
        try:
            uuid.UUID(request_id)
        except ValueError:
            raise InvalidArgument.field(field, "must be a UUID, for example 1f0c5d3e-8a7b-4c2d-9e6f-0a1b2c3d4e5f") from None

    async def replay(
        self, transaction: CoreTransaction, caller: Principal, request_id: str, method: str, fingerprint: str
    ) -> list[str] | None:
        """The resource names the first request produced, or None when this request_id is new."""
        if not request_id:
            return None
        self.validate(request_id)
        db = orm(transaction)
        record = await repo.find_idempotency_record(db, caller.id, request_id)
        if record is None:
            return None
        if self._expired(record):
            await db.delete(record)
            await db.flush()
            return None
        return self._result_of(record, method, fingerprint)

    def _expired(self, record: Any) -> bool:
        return bool(record.create_time < self.clock() - self.window)

    @staticmethod
    def _result_of(record: Any, method: str, fingerprint: str) -> list[str]:
        """The first request's resource names, if this request is the same one (method and body)."""
        if record.method != method or record.fingerprint != fingerprint:
            raise InvalidArgument.field(
                "request_id",
                "was already used for a different request; use a new UUID for each distinct request",
                reason="REQUEST_ID_REUSED",
            )
        return list(record.result)

    async def replay_on(
        self, store: Any, db: Any, caller: Principal, request_id: str, method: str, fingerprint: str
    ) -> list[str] | None:
        """replay() with Core statements, in a transaction from `store.write()` or `store.write_core()`."""
        if not request_id:
            return None
        self.validate(request_id)
        record = await repo.find_idempotency_record_on(store, db, caller.id, request_id)
        if record is None:
            return None
        if self._expired(record):
            await repo.delete_idempotency_record_on(store, db, record.pk)
            return None
        return self._result_of(record, method, fingerprint)

    async def remember_on(
        self, store: Any, db: Any, caller: Principal, request_id: str, method: str, fingerprint: str, result: list[str]
    ) -> None:
        """remember() with a Core insert, in a transaction from `store.write()` or `store.write_core()`."""
        if request_id:
            values = {
                "owner": caller.id,
                "request_id": request_id,
                "method": method,
                "fingerprint": fingerprint,
                "result": result,
                "create_time": self.clock(),
            }
            await repo.insert_idempotency_record_on(store, db, values)

    def remember(
        self, db: CoreTransaction, caller: Principal, request_id: str, method: str, fingerprint: str, result: list[str]
    ) -> None:
        if request_id:
            orm(db).add(
                IdempotencyRecord(
                    owner=caller.id,
                    request_id=request_id,
                    method=method,
                    fingerprint=fingerprint,
                    result=result,
                    create_time=self.clock(),
                )
            )


async def refuse_if_runs_active(db: Transaction, session_ids: Sequence[str]) -> None:
    """Deleting a session under a running run would pull its history away mid-step: refuse, even with force."""
    busy = await repo.sessions_with_active_runs(db, session_ids)
    if busy:
        shown = ", ".join(f"sessions/{i}" for i in busy[:10])
        raise FailedPrecondition(
            f"{len(busy)} session(s) have runs that have not ended ({shown}); cancel them or wait, then delete",
            reason="SESSION_HAS_ACTIVE_RUNS",
            metadata={"sessions": shown},
        )
