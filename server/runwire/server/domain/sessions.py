"""Sessions: conversations with one agent. Expiry (TTL), a per-owner cap, atomic batch methods."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from sqlalchemy import select

from runwire.server.core import names
from runwire.server.core.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    QuotaViolation,
    ResourceExhausted,
    Violations,
)
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.domain.agents import not_found as agent_not_found
from runwire.server.domain.common import (
    check_immutable,
    check_labels,
    check_text,
    expire_time_of,
    expiring_changes,
    refuse_if_runs_active,
)
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery, ResourceKind, ResourceWriter, Tenancy, WriteOptions, register
from runwire.server.store import repositories as repo
from runwire.server.store.models import SessionRow
from runwire.server.store.transaction import CoreTransaction, Transaction, orm
from runwire.server.wire import convert

UPDATABLE = ("display_name", "labels", "metadata", "expire_time", "ttl")
MAX_TTL = timedelta(days=3650)


def not_found(name: str) -> NotFound:
    return SESSIONS.not_found(name)


@dataclass(frozen=True)
class SessionDraft:
    """A validated session to create."""

    fields: Mapping[str, Any]
    session_id: str = ""


SESSIONS = register(
    ResourceKind(
        field="session",
        pattern=names.SESSION,
        row=SessionRow,
        tenancy=Tenancy.OWNER_OR_ADMIN,
        listing=repo.SESSION_LISTING,
        title="session",
        not_found_reason="SESSION_NOT_FOUND",
        method="Session",
        to_proto=convert.session_proto,
        live=repo.live_sessions,
    )
)


class SessionService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx
        self.writer: ResourceWriter[SessionRow] = ResourceWriter(ctx, SESSIONS)

    def _validate(self, v: Violations, fields: Mapping[str, Any], prefix: str) -> None:
        limits = self.ctx.limits
        check_text(v, f"{prefix}.display_name", fields.get("display_name") or "", limits.max_display_name_chars)
        check_labels(v, f"{prefix}.labels", fields.get("labels") or {}, limits.max_labels)
        metadata = fields.get("metadata") or {}
        size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
        if size > limits.max_metadata_bytes:
            v.add(f"{prefix}.metadata", f"is {size:,} bytes serialized; the limit is {limits.max_metadata_bytes:,}")
        ttl = fields.get("ttl")
        if ttl is not None and not timedelta(seconds=1) <= ttl <= MAX_TTL:
            v.add(f"{prefix}.ttl", "must be between 1 second and 10 years")
        expire_time = fields.get("expire_time")
        if expire_time is not None and expire_time <= self.ctx.clock():
            v.add(f"{prefix}.expire_time", "must be in the future")

    def _expire_time(self, fields: Mapping[str, Any], now: datetime) -> datetime | None:
        if fields.get("ttl") is not None:
            return now + fields["ttl"]
        return fields.get("expire_time")

    async def create(
        self, caller: Principal, fields: Mapping[str, Any], options: WriteOptions, *, session_id: str = ""
    ) -> SessionRow:
        rows = await self._create_many(caller, [SessionDraft(fields, session_id)], options, "CreateSession", "")
        return rows[0]

    async def batch_create(self, caller: Principal, drafts: Sequence[SessionDraft], options: WriteOptions) -> list[SessionRow]:
        if not drafts:
            raise InvalidArgument.field("requests", "must hold at least one request")
        if len(drafts) > self.ctx.limits.max_batch_size:
            raise InvalidArgument.field(
                "requests", f"holds {len(drafts)} requests; the limit is {self.ctx.limits.max_batch_size}"
            )
        return await self._create_many(caller, drafts, options, "BatchCreateSessions", "requests")

    async def _create_many(
        self, caller: Principal, drafts: Sequence[SessionDraft], options: WriteOptions, method: str, list_field: str
    ) -> list[SessionRow]:
        def prefix(index: int) -> str:
            return f"{list_field}[{index}]." if list_field else ""

        v = Violations()
        ids: list[str] = []
        agent_ids: list[str] = []
        for index, draft in enumerate(drafts):
            p = prefix(index)
            self._validate(v, draft.fields, f"{p}session")
            problem = names.AGENT.problem(draft.fields.get("agent") or "")
            if problem:
                v.add(f"{p}session.agent", problem)
                agent_ids.append("")
            else:
                agent_ids.append(draft.fields["agent"].split("/")[1])
            if draft.session_id and not names.ID_PATTERN.fullmatch(draft.session_id):
                v.add(f"{p}session_id", "must be 4 to 63 characters of [a-z0-9-], start with a letter and not end with '-'")
            session_id = draft.session_id or names.new_id()
            if session_id in ids:
                v.add(f"{p}session_id", f"{session_id!r} appears twice in the batch")
            ids.append(session_id)
        v.raise_if_any()

        now = self.ctx.clock()
        rows = [
            SessionRow(
                id=session_id,
                owner=caller.id,
                agent_id=agent_id,
                display_name=draft.fields.get("display_name") or "",
                labels=dict(draft.fields.get("labels") or {}),
                client_metadata=copy.deepcopy(dict(draft.fields.get("metadata") or {})),
                expire_time=self._expire_time(draft.fields, now),
                message_count=0,
                create_time=now,
                update_time=now,
                revision=1,
            )
            for draft, session_id, agent_id in zip(drafts, ids, agent_ids, strict=True)
        ]

        async def check(core: CoreTransaction) -> None:
            db = orm(core)
            for index, agent_id in enumerate(agent_ids):
                if await repo.get_agent(db, agent_id, self.writer.owner_scope(caller)) is None:
                    error = agent_not_found(names.AGENT.format(agent_id))
                    error.field_violations.append(
                        FieldViolation(f"{prefix(index)}session.agent", "names an agent that does not exist")
                    )
                    raise error
            existing = await repo.count_sessions_of_owner(db, caller.id, now)
            cap = self.ctx.limits.max_sessions_per_owner
            if existing + len(rows) > cap:
                raise ResourceExhausted(
                    f"the caller has {existing} session(s); creating {len(rows)} more would pass the limit of {cap}",
                    reason="SESSION_QUOTA_EXCEEDED",
                    quota_violations=[
                        QuotaViolation(subject=f"principal:{caller.id}", description=f"at most {cap} sessions per owner")
                    ],
                    metadata={"limit": str(cap), "current": str(existing)},
                )

        return await self.writer.create_many(caller, rows, options, check=check, method=method)

    async def get(self, caller: Principal, name: str, field: str = "name") -> SessionRow:
        return await self.writer.get(caller, name, field)

    async def get_record(self, caller: Principal, name: str, field: str = "name") -> repo.SessionRecord:
        """The session as a read-only record (the columns of SessionRow), read without an ORM Session."""
        (session_id,) = names.SESSION.parse(name, field)
        owner = self.writer.owner_scope(caller)
        record = await repo.find_live_session_record(self.ctx.store, session_id, owner, self.ctx.clock())
        if record is None:
            raise not_found(name)
        return record

    async def list(self, caller: Principal, query: ListQuery) -> Page:
        return await self.writer.list(caller, query)

    async def update(self, caller: Principal, name: str, values: Mapping[str, Any], options: WriteOptions) -> SessionRow:
        names.SESSION.parse(name, "session.name")
        changes = expiring_changes(options.update_mask, values, UPDATABLE)
        v = Violations()
        self._validate(v, changes, "session")
        v.raise_if_any()

        async def change(db: Transaction, row: SessionRow, target: SessionRow) -> None:
            check_immutable("session.agent", values.get("agent"), names.AGENT.format(row.agent_id))
            now = self.ctx.clock()
            for path, value in changes.items():
                if path == "display_name":
                    target.display_name = value or ""
                elif path == "labels":
                    target.labels = dict(value or {})
                elif path == "metadata":
                    target.client_metadata = copy.deepcopy(dict(value or {}))
                elif path in ("expire_time", "ttl"):
                    target.expire_time = expire_time_of(path, value, now)

        return await self.writer.update(caller, name, options, change)

    async def delete(self, caller: Principal, name: str, options: WriteOptions) -> None:
        async def check(db: Transaction, row: SessionRow) -> None:
            self._check_deletable(row, options.force)
            await refuse_if_runs_active(db, [row.id])

        async def remove(db: Transaction, row: SessionRow) -> None:
            await repo.delete_sessions_with_messages(db, [row.id])

        await self.writer.delete(caller, name, options, check=check, remove=remove)

    async def batch_delete(self, caller: Principal, session_names: Sequence[str], options: WriteOptions) -> None:
        if not session_names:
            raise InvalidArgument.field("names", "must hold at least one session name")
        if len(session_names) > self.ctx.limits.max_batch_size:
            raise InvalidArgument.field("names", f"holds {len(session_names)} names; the limit is {self.ctx.limits.max_batch_size}")
        v = Violations()
        ids: list[str] = []
        for index, name in enumerate(session_names):
            problem = names.SESSION.problem(name)
            if problem:
                v.add(f"names[{index}]", problem)
            elif name in session_names[:index]:
                v.add(f"names[{index}]", f"{name!r} appears twice")
            else:
                ids.append(name.split("/")[1])
        v.raise_if_any()
        method, request_id, fingerprint = "BatchDeleteSessions", options.request_id, options.fingerprint
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            if await self.ctx.idempotency.replay(db, caller, request_id, method, fingerprint) is not None:
                return
            deleted = [await self.writer.get_in(db, caller, name) for name in session_names]
            for row in deleted:
                self._check_deletable(row, options.force)
            await refuse_if_runs_active(db, ids)
            await repo.delete_sessions_with_messages(db, ids)
            for row in deleted:
                await self.writer.record(db, "deleted", row)
            self.ctx.idempotency.remember(db, caller, request_id, method, fingerprint, [])

    @staticmethod
    def _check_deletable(row: SessionRow, force: bool) -> None:
        if row.message_count and not force:
            name = names.SESSION.format(row.id)
            raise FailedPrecondition(
                f"session {name!r} has {row.message_count} message(s); pass force=true to delete them with it",
                reason="SESSION_NOT_EMPTY",
                metadata={"resource": name, "message_count": str(row.message_count)},
            )

    async def sweep_expired(self, batch: int = 500) -> int:
        """Delete sessions past their expiry, with their messages. Returns how many went."""
        removed = 0
        while True:
            async with self.ctx.store.write() as db:
                ids = await repo.expired_session_ids(db, self.ctx.clock(), batch)
                # A session whose run is still going is swept once the run ends.
                busy = set(await repo.sessions_with_active_runs(db, ids))
                going = [i for i in ids if i not in busy]
                if going:
                    for row in (await db.execute(select(SessionRow).where(SessionRow.id.in_(going)))).scalars().all():
                        await self.writer.record(db, "expired", row)
                swept = await repo.delete_sessions_with_messages(db, going)
                removed += swept
            if len(ids) < batch or not swept:
                return removed
