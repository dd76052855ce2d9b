"""What every domain service needs: the store, the limits, the clock, idempotency, page tokens and the event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from runwire.server.config import Limits
from runwire.server.core.clock import Clock, utc_now
from runwire.server.core.errors import InvalidArgument
from runwire.server.core.filtering import FilterError
from runwire.server.core.paging import (
    OrderKey,
    Page,
    PageTokenCodec,
    parse_order_by,
    query_fingerprint,
    resolve_page_size,
)
from runwire.server.core.principal import Principal
from runwire.server.domain.common import Idempotency, filter_error, parse_filter_field
from runwire.server.domain.resource_events import ResourceEvents
from runwire.server.engine.egress import EgressPolicy
from runwire.server.engine.endpoints import ProviderEndpoints
from runwire.server.store.store import Listing, Store, key_of, list_page

# Reads one page of a listing by (order, after key, page size): its rows, whether more follow, the total.
PageReader = Callable[[Sequence[OrderKey], Sequence[Any] | None, int], Awaitable[tuple[list[Any], bool, int] | None]]


@dataclass
class DomainContext:
    store: Store
    limits: Limits
    idempotency: Idempotency
    page_tokens: PageTokenCodec
    # Record a resource's state changes here, in the transaction that changes it.
    events: ResourceEvents
    clock: Clock = field(default=utc_now)
    # Where user-aimed requests may go; the same object the provider and MCP connections check.
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    # The provider endpoints admins configured, by name; the same object the provider reads.
    endpoints: ProviderEndpoints = field(default_factory=ProviderEndpoints)

    async def list(
        self,
        caller: Principal,
        collection: str,
        base: Any,
        listing: Listing,
        *,
        page_size: int,
        page_token: str,
        filter_text: str,
        order_by: str,
        default_order: str,
        scope: Sequence[str] = (),
        read_page: PageReader | None = None,
    ) -> Page:
        """One page of `base` (already scoped to the caller; or a function that builds it, when `read_page`
        may make it unneeded) with the AIP filter, order and token rules.

        `read_page(order, after, limit)`, when given, reads the same page as list_page() would without a
        filter, from statements built once; it answers None for an order it does not cover."""
        expr = parse_filter_field(filter_text, self.limits.max_filter_chars)
        order = parse_order_by(order_by, list(listing.order_columns), default_order)
        size = resolve_page_size(page_size, self.limits.default_page_size, self.limits.max_page_size)
        fingerprint = query_fingerprint(collection, caller.id, *scope, filter_text.strip(), order)
        after = self.page_tokens.decode(page_token, fingerprint)
        if read_page is not None and expr is None:
            try:
                found = await read_page(order, after, size)
            except (ValueError, TypeError):
                raise InvalidArgument.field("page_token", "does not match this query", reason="INVALID_PAGE_TOKEN") from None
            if found is not None:
                rows, more, total = found
                token = self.page_tokens.encode(fingerprint, key_of(rows[-1], listing, order)) if more and rows else ""
                return Page(items=rows, next_page_token=token, total_size=total)
        if callable(base):
            base = base()
        async with self.store.read() as db:
            try:
                rows, more, total = await list_page(
                    db, base, listing, filter_expr=expr, order=order, after=after, limit=size
                )
            except FilterError as exc:
                raise filter_error(exc) from None
            except (ValueError, TypeError):
                raise InvalidArgument.field("page_token", "does not match this query", reason="INVALID_PAGE_TOKEN") from None
        token = self.page_tokens.encode(fingerprint, key_of(rows[-1], listing, order)) if more and rows else ""
        return Page(items=rows, next_page_token=token, total_size=total)
