"""The conventions' fields of a request, read once per request: what every write and list method passes on."""

from __future__ import annotations

from typing import Any, Sequence

from google.protobuf.message import Message

from runwire.server.core.paging import SearchQuery
from runwire.server.domain.resources import ListQuery, WriteOptions
from runwire.server.wire import convert


def write_options(
    request: Message, *, etag: str | None = None, update_mask: Sequence[str] = (), fingerprint: str | None = None
) -> WriteOptions:
    """request_id, validate_only, allow_missing, force and etag from the fields the request has (an Update
    request's etag is in its resource: pass it), with the request's fingerprint for idempotency."""
    return WriteOptions(
        request_id=_field(request, "request_id", ""),
        fingerprint=convert.fingerprint(request) if fingerprint is None else fingerprint,
        validate_only=_field(request, "validate_only", False),
        etag=_field(request, "etag", "") if etag is None else etag,
        allow_missing=_field(request, "allow_missing", False),
        force=_field(request, "force", False),
        update_mask=tuple(update_mask),
    )


def list_query(request: Message) -> ListQuery:
    return ListQuery(
        page_size=request.page_size,  # type: ignore[attr-defined]
        page_token=request.page_token,  # type: ignore[attr-defined]
        filter=_field(request, "filter", ""),
        order_by=_field(request, "order_by", ""),
    )


def search_query(request: Message) -> SearchQuery:
    return SearchQuery(
        text=request.query,  # type: ignore[attr-defined]
        page_size=request.page_size,  # type: ignore[attr-defined]
        page_token=request.page_token,  # type: ignore[attr-defined]
        filter=_field(request, "filter", ""),
    )


def _field(request: Message, name: str, default: Any) -> Any:
    return getattr(request, name) if name in request.DESCRIPTOR.fields_by_name else default
