"""Resources described once, and the one write step their creates, updates and deletes take.

A resource kind (`ResourceKind`) says what the API conventions need to know about it: its name pattern,
who may see and change it, its etag kind, how it is listed and how its events look. `ResourceWriter`
then applies the conventions to every write, inside the resource's transaction, in one order:

    request_id replay (AIP-155) -> find (tenancy) -> etag (AIP-154) -> the service's checks and changes
    -> validate_only (nothing written) -> revision bump -> `<kind>.created/updated/deleted` event
    -> request_id recorded

so a service brings only its validation and its changes (see docs/resources.md).

A kind may be a collection inside another kind's resources (`sessions/{session}/messages/{message}`):
its `parent` kind decides who sees it and how long it lives, and the writer finds the parent first. A
service whose rows need more than an ORM insert (counters kept with them) or that reads them through
statements built once overrides the writer's row steps: `find_parent`, `taken`, `insert`, `stamp`,
`changed`, `read_page`. A writer whose create steps (and `check`) are Core statements only sets
`core_writes`: its creates then run in `store.write_core()`, without an ORM Session.
"""

from __future__ import annotations

import builtins
import copy
import enum
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, ClassVar, Generic, Sequence, TypeVar

from google.protobuf.message import Message
from sqlalchemy import inspect

from runwire.server.core.errors import AlreadyExists, ErrorReasonName, NotFound, PermissionDenied
from runwire.server.core.etags import check_etag
from runwire.server.core.names import NamePattern
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.domain.context import DomainContext, PageReader
from runwire.server.store import resources as resource_repo
from runwire.server.store.models import new_incarnation
from runwire.server.store.store import Listing
from runwire.server.store.transaction import CoreTransaction, Transaction, orm

Row = TypeVar("Row")


class Tenancy(enum.Enum):
    """Who sees a resource and who changes it; anyone else gets NOT_FOUND (or PERMISSION_DENIED to change
    a SHARED one they can see)."""

    # Each owner its own; admins every owner's.
    OWNER_OR_ADMIN = "owner_or_admin"
    # The owner only, admins included (memories, secrets: personal).
    OWNER = "owner"
    # Everyone reads; the owner or an admin changes (MCP servers).
    SHARED = "shared"
    # Admins only; the service refuses anyone else before it reads (API keys).
    ADMIN = "admin"


@dataclass(frozen=True)
class ResourceKind:
    """What the API conventions need to know about one kind of resource."""

    # The singular as the API spells it in fields and requests: "agent", "mcp_server".
    field: str
    # Its collection and the pattern of its names: "agents" -> agents/{agent}.
    pattern: NamePattern
    # The ORM row: it has `id`, `revision`, `incarnation`, `create_time`, `update_time` (and `owner`).
    row: type
    tenancy: Tenancy
    # Which rows are listed and how: filter fields and order keys (or a function of the time, for fields
    # computed at read time).
    listing: Listing | Callable[[Any], Listing]
    # In messages: "agent", "MCP server".
    title: str
    # The ErrorInfo reason of NOT_FOUND: "AGENT_NOT_FOUND".
    not_found_reason: ErrorReasonName
    # The RPC suffix: "Agent" for CreateAgent, UpdateAgent, DeleteAgent (the idempotency records' method).
    method: str
    # The etag's kind: etag_of(etag_kind, id, revision, incarnation). Defaults to `field`.
    etag_kind: str = ""
    # The resource as the API sends it, for its events (`<field>.created` ...); None: no events (secrets).
    to_proto: Callable[[Any], Message] | None = None
    # Rows past their life (expiry) that are invisible before a sweeper deletes them: a clause of the time.
    live: Callable[[Any], Any] | None = None
    default_order: str = "create_time desc"
    # The kind whose resources hold this collection (sessions, for sessions/{session}/messages/{message}):
    # its resources are seen by whoever sees their parent, live as long as it does, belong to its owner,
    # and their row holds the parent's id in `<parent field>_id` (their `id` is unique within the parent).
    parent: ResourceKind | None = None

    @property
    def collection(self) -> str:
        return self.pattern.collections[-1]

    @property
    def etag(self) -> str:
        return self.etag_kind or self.field

    @property
    def parent_column(self) -> str:
        """The row's attribute holding its parent's id ("session_id")."""
        return f"{self.parent.field}_id" if self.parent is not None else ""

    def ids_of(self, row: Any) -> tuple[str, ...]:
        """The ids in the resource's name: its parent's, then its own."""
        return (getattr(row, self.parent_column), row.id) if self.parent is not None else (row.id,)

    def name_of(self, row: Any) -> str:
        return self.pattern.format(*self.ids_of(row))

    def etag_id(self, row: Any) -> str:
        return "/".join(self.ids_of(row))

    def not_found(self, name: str) -> NotFound:
        return NotFound(f"{self.title} {name!r} does not exist", reason=self.not_found_reason, metadata={"resource": name})

    def listing_at(self, now: Any) -> Listing:
        return self.listing if isinstance(self.listing, Listing) else self.listing(now)


RESOURCES: dict[str, ResourceKind] = {}


def register(kind: ResourceKind) -> ResourceKind:
    """Add a kind to the registry (by its collection) and return it; registering it again is harmless."""
    parent = kind.parent
    if parent is not None and (
        parent.parent is not None
        or kind.tenancy is not parent.tenancy
        or kind.pattern.collections != (*parent.pattern.collections, kind.collection)
    ):
        raise ValueError(f"{kind.collection!r} must sit directly under a top-level parent, with the parent's tenancy")
    known = RESOURCES.get(kind.collection)
    if known is not None and known != kind:
        raise ValueError(f"another resource kind is registered for {kind.collection!r}")
    RESOURCES[kind.collection] = kind
    return kind


@dataclass(frozen=True)
class WriteOptions:
    """The conventions' fields of one write request, as the servicer read them."""

    request_id: str = ""
    # A digest of the whole request: a request_id reused with another request is refused.
    fingerprint: str = ""
    validate_only: bool = False
    etag: str = ""
    allow_missing: bool = False
    force: bool = False
    update_mask: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListQuery:
    """The paging, filter and order fields of a List request (AIP-132, 158, 160)."""

    page_size: int = 0
    page_token: str = ""
    filter: str = ""
    order_by: str = ""


# A service's checks in the transaction, before anything is written (references, quotas, cascades). A
# create's transaction is a CoreTransaction when the writer has `core_writes`; `orm(db)` for ORM work otherwise.
Check = Callable[[CoreTransaction], Awaitable[None]]
# A service's update: (db, the stored row, the row to change) -> False when nothing changed. The row to
# change is a copy under validate_only, so the preview is what would be stored.
Change = Callable[[Transaction, Any, Any], Awaitable[bool | None]]
# How a row goes, when more than the row goes with it (a cascade).
Remove = Callable[[Transaction, Any], Awaitable[None]]


class ResourceWriter(Generic[Row]):
    """The conventions of reads and writes of one resource kind, for the service that owns it."""

    # Whether creates run in `store.write_core()` (no ORM Session): the row steps a create takes
    # (find_parent, taken, insert, stamp) and its `check` use Core statements only.
    core_writes: ClassVar[bool] = False

    def __init__(self, ctx: DomainContext, kind: ResourceKind) -> None:
        self.ctx = ctx
        self.kind = kind
        # The parent's reads, for a collection inside another kind's resources.
        self.parent: ResourceWriter[Any] | None = ResourceWriter(ctx, kind.parent) if kind.parent is not None else None

    # -- reads ------------------------------------------------------------------

    def owner_scope(self, caller: Principal) -> str | None:
        """The owner whose rows `caller` sees; None for every owner's."""
        tenancy = self.kind.tenancy
        if tenancy is Tenancy.OWNER or (tenancy is Tenancy.OWNER_OR_ADMIN and not caller.is_admin):
            return caller.id
        return None

    def _live(self) -> Any:
        live = self.kind.parent.live if self.kind.parent is not None else self.kind.live
        return live(self.ctx.clock()) if live is not None else None

    def _scoped(self, caller: Principal, parent_id: str | None = None) -> Any:
        """The rows `caller` sees (of one parent's collection, or of every parent's when None)."""
        kind, owner, live = self.kind, self.owner_scope(caller), self._live()
        if kind.parent is None:
            return resource_repo.scoped_select(kind.row, owner, live)
        return resource_repo.scoped_children(kind.row, kind.parent.row, kind.parent_column, parent_id, owner, live)

    async def find(self, db: Transaction, caller: Principal, *ids: str) -> Row | None:
        """The row of the resource with these ids (its parent's first), if `caller` sees it."""
        kind = self.kind
        if kind.parent is None:
            return await resource_repo.find_row(db, kind.row, ids[0], self.owner_scope(caller), self._live())
        return await resource_repo.find_one(db, self._scoped(caller, ids[0]).where(kind.row.id == ids[1]))  # type: ignore[attr-defined]

    async def get_in(self, db: Transaction, caller: Principal, name: str, field: str = "name") -> Row:
        row = await self.find(db, caller, *self.kind.pattern.parse(name, field))
        if row is None:
            raise self.kind.not_found(name)
        return row

    # -- the row steps a service may override -------------------------------------

    async def find_parent(self, db: CoreTransaction | None, caller: Principal, parent_id: str) -> Any | None:
        """The parent (anything with its `owner`) if `caller` sees it, in `db` (or a read of its own)."""
        assert self.parent is not None
        if db is not None:
            return await self.parent.find(orm(db), caller, parent_id)
        async with self.ctx.store.read() as read:
            return await self.parent.find(read, caller, parent_id)

    async def taken(self, db: CoreTransaction, rows: Sequence[Row]) -> builtins.list[Row]:
        """The `rows` whose ids another row already has (of any owner, live or expired; within the parent)."""
        kind, db = self.kind, orm(db)
        if kind.parent is None:
            ids = await resource_repo.ids_taken(db, kind.row, [r.id for r in rows])  # type: ignore[attr-defined]
            return [r for r in rows if r.id in ids]  # type: ignore[attr-defined]
        column = kind.parent_column
        return [
            r
            for r in rows
            if await resource_repo.child_ids_taken(db, kind.row, column, getattr(r, column), [r.id])  # type: ignore[attr-defined]
        ]

    async def insert(self, db: CoreTransaction, rows: Sequence[Row]) -> None:
        orm(db).add_all(rows)

    def stamp(self, row: Row, **columns: Any) -> Row:
        """`row` with these columns set (the row itself, changed; a record kind returns a new record)."""
        for key, value in columns.items():
            setattr(row, key, value)
        return row

    async def changed(self, db: CoreTransaction, row: Row) -> None:
        """What changes with a stored change of `row` (its parent's update time, say): nothing here."""

    async def read_page(self, parent_id: str, order: Any, after: Any, limit: int) -> Any:
        """A page of one parent's collection without a filter, from statements built once (see
        DomainContext.list); None: list_page() reads it."""
        return None

    async def _adopt(self, db: CoreTransaction, caller: Principal, rows: Sequence[Row]) -> builtins.list[Row]:
        """The parents of `rows` exist and `caller` sees them; each row belongs to its parent's owner."""
        kind = self.kind
        assert kind.parent is not None
        parents: dict[str, Any] = {}
        adopted = []
        for row in rows:
            parent_id = getattr(row, kind.parent_column)
            if parent_id not in parents:
                parents[parent_id] = await self.find_parent(db, caller, parent_id)
                if parents[parent_id] is None:
                    raise kind.parent.not_found(kind.parent.pattern.format(parent_id))
            adopted.append(self.stamp(row, owner=parents[parent_id].owner))
        return adopted

    async def get(self, caller: Principal, name: str, field: str = "name") -> Row:
        async with self.ctx.store.read() as db:
            return await self.get_in(db, caller, name, field)

    async def list(self, caller: Principal, query: ListQuery, *, base: Any = None, parent: str = "") -> Page:
        """One page of the rows `caller` sees (or of `base`, already scoped), by the AIP rules. A collection
        inside another kind's resources is listed in its `parent`, or in every parent `caller` sees (`-`)."""
        kind = self.kind
        scope: tuple[str, ...] = ()
        read_page: PageReader | None = None
        if kind.parent is None:
            if base is None:
                base = self._scoped(caller)
        else:
            (parent_id,) = kind.parent.pattern.parse(parent, "parent", allow_wildcard_parent=True)
            scope = (parent,)
            one_parent = parent_id != "-"
            if one_parent:
                if await self.find_parent(None, caller, parent_id) is None:
                    raise kind.parent.not_found(parent)

                async def read_page(order: Any, after: Any, limit: int) -> Any:
                    return await self.read_page(parent_id, order, after, limit)

            if base is None:
                # Built only when read_page does not answer.
                def base() -> Any:
                    return self._scoped(caller, parent_id if one_parent else None)

        return await self.ctx.list(
            caller,
            self.kind.collection,
            base,
            self.kind.listing_at(self.ctx.clock()),
            page_size=query.page_size,
            page_token=query.page_token,
            filter_text=query.filter,
            order_by=query.order_by,
            default_order=self.kind.default_order,
            scope=scope,
            read_page=read_page,
        )

    # -- writes -----------------------------------------------------------------

    async def create(self, caller: Principal, row: Row, options: WriteOptions, *, check: Check | None = None) -> Row:
        (created,) = await self.create_many(caller, [row], options, check=check)
        return created

    async def create_many(
        self,
        caller: Principal,
        rows: Sequence[Row],
        options: WriteOptions,
        *,
        check: Check | None = None,
        method: str = "",
    ) -> builtins.list[Row]:
        """Insert the validated `rows` in one transaction, each at revision 1 of a fresh incarnation."""
        method = method or f"Create{self.kind.method}"
        idempotency = self.ctx.idempotency
        idempotency.validate(options.request_id)
        if self.core_writes:
            created = await self._create_core(caller, rows, options, check, method)
            if isinstance(created, _Replayed):  # read after the transaction: reads go through the ORM
                return [await self.get(caller, name) for name in created.names]
            return created
        async with self.ctx.store.write() as db:
            replayed = await idempotency.replay(db, caller, options.request_id, method, options.fingerprint)
            if replayed is not None:
                return [await self.get_in(db, caller, name) for name in replayed]
            rows = await self._created(db, caller, rows, options, check)
            if options.validate_only:
                return rows
            idempotency.remember(db, caller, options.request_id, method, options.fingerprint, [self.kind.name_of(r) for r in rows])
        return rows

    async def _create_core(
        self, caller: Principal, rows: Sequence[Row], options: WriteOptions, check: Check | None, method: str
    ) -> builtins.list[Row] | _Replayed:
        """create_many() in a Core transaction, the request_id's record read and written by Core statements."""
        store, idempotency = self.ctx.store, self.ctx.idempotency
        async with store.write_core() as db:
            replayed = await idempotency.replay_on(store, db, caller, options.request_id, method, options.fingerprint)
            if replayed is not None:
                return _Replayed(replayed)
            rows = await self._created(db, caller, rows, options, check)
            if not options.validate_only:
                names = [self.kind.name_of(r) for r in rows]
                await idempotency.remember_on(store, db, caller, options.request_id, method, options.fingerprint, names)
        return rows

    async def _created(
        self, db: CoreTransaction, caller: Principal, rows: Sequence[Row], options: WriteOptions, check: Check | None
    ) -> builtins.list[Row]:
        """The create steps after replay: parents, checks, ids, stamps, then (unless validate_only) the insert
        and the events. Returns the rows as created."""
        if self.kind.parent is not None:
            rows = await self._adopt(db, caller, rows)
        if check is not None:
            await check(db)
        taken = await self.taken(db, rows)
        if taken:
            shown = ", ".join(repr(name) for name in sorted(self.kind.name_of(r) for r in taken))
            message = f"{self.kind.title} {shown} already exists" if len(taken) == 1 else f"{self.kind.title}s {shown} already exist"
            raise AlreadyExists(message, reason="ALREADY_EXISTS")
        rows = [self.stamp(row, revision=1, incarnation=row.incarnation or new_incarnation()) for row in rows]  # type: ignore[attr-defined]
        if options.validate_only:
            return rows
        await self.insert(db, rows)
        for row in rows:
            await self.record(db, "created", row)
        return rows

    async def update(
        self, caller: Principal, name: str, options: WriteOptions, change: Change, *, method: str = "", field: str = ""
    ) -> Row:
        """Apply `change` to the resource `name` (the request's `field`), or to a copy of it under validate_only.
        A custom method that changes the resource (RevokeApiKey) names itself in `method`."""
        method = method or f"Update{self.kind.method}"
        field = field or f"{self.kind.field}.name"
        self.kind.pattern.parse(name, field)
        idempotency = self.ctx.idempotency
        idempotency.validate(options.request_id)
        async with self.ctx.store.write() as db:
            replayed = await idempotency.replay(db, caller, options.request_id, method, options.fingerprint)
            if replayed is not None:
                return await self.get_in(db, caller, replayed[0])
            row = await self.get_in(db, caller, name, field)
            self.check_writer(caller, row)
            check_etag(self.kind.etag, self.kind.etag_id(row), row.revision, row.incarnation, options.etag)  # type: ignore[attr-defined]
            target = copy_row(row) if options.validate_only else row
            changed = await change(db, row, target)
            if options.validate_only:
                return target
            if changed is not False:
                row.update_time = self.ctx.clock()  # type: ignore[attr-defined]
                row.revision += 1  # type: ignore[attr-defined]
                await self.changed(db, row)
                await self.record(db, "updated", row)
            idempotency.remember(db, caller, options.request_id, method, options.fingerprint, [name])
        return row

    async def delete(
        self,
        caller: Principal,
        name: str,
        options: WriteOptions,
        *,
        check: Callable[[Transaction, Row], Awaitable[None]] | None = None,
        remove: Remove | None = None,
    ) -> Row | None:
        """Delete the resource `name`; None when allow_missing found none (or the request is replayed)."""
        method = f"Delete{self.kind.method}"
        ids = self.kind.pattern.parse(name, "name")
        idempotency = self.ctx.idempotency
        idempotency.validate(options.request_id)
        async with self.ctx.store.write() as db:
            if await idempotency.replay(db, caller, options.request_id, method, options.fingerprint) is not None:
                return None
            row = await self.find(db, caller, *ids)
            if row is None:
                if options.allow_missing:
                    return None
                raise self.kind.not_found(name)
            self.check_writer(caller, row)
            check_etag(self.kind.etag, self.kind.etag_id(row), row.revision, row.incarnation, options.etag)  # type: ignore[attr-defined]
            if check is not None:
                await check(db, row)
            await self.record(db, "deleted", row)
            if remove is not None:
                await remove(db, row)
            else:
                await db.delete(row)
            idempotency.remember(db, caller, options.request_id, method, options.fingerprint, [])
        return row

    def check_writer(self, caller: Principal, row: Any) -> None:
        """A SHARED resource is read by all and changed by its owner or an admin."""
        if self.kind.tenancy is Tenancy.SHARED and not caller.is_admin and row.owner != caller.id:
            raise PermissionDenied(
                f"only the owner of {self.kind.name_of(row)!r} or an admin may change, refresh or delete it",
                reason="PERMISSION_DENIED",
            )

    async def record(self, db: CoreTransaction, change: str, row: Any) -> None:
        """The resource event `<field>.<change>` of `row`, in the transaction `db` (none for kinds without)."""
        if self.kind.to_proto is not None:
            await self.ctx.events.record(
                db, f"{self.kind.field}.{change}", self.kind.name_of(row), row.owner, self.kind.to_proto(row)
            )


@dataclass(frozen=True)
class _Replayed:
    """A create's request_id seen before: the names it created, read again after the transaction."""

    names: builtins.list[str]


def copy_row(row: Row) -> Row:
    """A detached copy of `row` (every column, JSON values deep-copied): what validate_only changes."""
    mapper = inspect(type(row))
    values = {attr.key: copy.deepcopy(getattr(row, attr.key)) for attr in mapper.column_attrs if attr.key != "pk"}
    return type(row)(**values)
