"""Sessions: conversations with one agent. Expiry (TTL), a per-owner cap, atomic batch methods."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from sqlalchemy import select

from runwire.server.wire import convert
from runwire.server.core import names
from runwire.server.domain.agents import not_found as agent_not_found
from runwire.server.core.etags import check_etag
from runwire.server.domain.common import check_immutable, check_labels, check_text, plan_update, refuse_if_runs_active
from runwire.server.domain.context import DomainContext
from runwire.server.core.errors import (
    AlreadyExists,
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
from runwire.server.store import repositories as repo
from runwire.server.store.models import SessionRow

UPDATABLE = ("display_name", "labels", "metadata", "expire_time", "ttl")
MAX_TTL = timedelta(days=3650)


def not_found(name: str) -> NotFound:
    return NotFound(f"session {name!r} does not exist", reason="SESSION_NOT_FOUND", metadata={"resource": name})


@dataclass(frozen=True)
class SessionDraft:
    """A validated session to create."""

    fields: Mapping[str, Any]
    session_id: str = ""


class SessionService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx

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
        self,
        caller: Principal,
        fields: Mapping[str, Any],
        *,
        session_id: str = "",
        request_id: str = "",
        fingerprint: str = "",
        validate_only: bool = False,
    ) -> SessionRow:
        rows = await self._create_many(
            caller, [SessionDraft(fields, session_id)], request_id, fingerprint, validate_only, "CreateSession", ""
        )
        return rows[0]

    async def batch_create(
        self,
        caller: Principal,
        drafts: Sequence[SessionDraft],
        *,
        request_id: str = "",
        fingerprint: str = "",
    ) -> list[SessionRow]:
        if not drafts:
            raise InvalidArgument.field("requests", "must hold at least one request")
        if len(drafts) > self.ctx.limits.max_batch_size:
            raise InvalidArgument.field(
                "requests", f"holds {len(drafts)} requests; the limit is {self.ctx.limits.max_batch_size}"
            )
        return await self._create_many(caller, drafts, request_id, fingerprint, False, "BatchCreateSessions", "requests")

    async def _create_many(
        self,
        caller: Principal,
        drafts: Sequence[SessionDraft],
        request_id: str,
        fingerprint: str,
        validate_only: bool,
        method: str,
        list_field: str,
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
        self.ctx.idempotency.validate(request_id)

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
            for draft, session_id, agent_id in zip(drafts, ids, agent_ids)
        ]
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, method, fingerprint)
            if replayed is not None:
                return [await self._get_in(db, caller, name) for name in replayed]
            for index, agent_id in enumerate(agent_ids):
                if await repo.get_agent(db, agent_id, None if caller.is_admin else caller.id) is None:
                    error = agent_not_found(names.AGENT.format(agent_id))
                    error.field_violations.append(
                        FieldViolation(f"{prefix(index)}session.agent", "names an agent that does not exist")
                    )
                    raise error
            taken = await repo.session_ids_taken(db, ids)
            if taken:
                raise AlreadyExists(
                    f"session(s) already exist: {', '.join(sorted(names.SESSION.format(i) for i in taken))}",
                    reason="ALREADY_EXISTS",
                )
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
            if validate_only:
                return rows
            db.add_all(rows)
            for row in rows:
                await self._record(db, "session.created", row)
            self.ctx.idempotency.remember(
                db, caller, request_id, method, fingerprint, [names.SESSION.format(r.id) for r in rows]
            )
        return rows

    async def get(self, caller: Principal, name: str, field: str = "name") -> SessionRow:
        (session_id,) = names.SESSION.parse(name, field)
        async with self.ctx.store.read() as db:
            return await self._get_in(db, caller, name, session_id)

    async def get_record(self, caller: Principal, name: str, field: str = "name") -> repo.SessionRecord:
        """The session as a read-only record (the columns of SessionRow), read without an ORM Session."""
        (session_id,) = names.SESSION.parse(name, field)
        owner = None if caller.is_admin else caller.id
        record = await repo.find_live_session_record(self.ctx.store, session_id, owner, self.ctx.clock())
        if record is None:
            raise not_found(name)
        return record

    async def _get_in(self, db: Any, caller: Principal, name: str, session_id: str | None = None) -> SessionRow:
        session_id = session_id or names.SESSION.parse(name, "name")[0]
        row = await repo.get_session(db, session_id, None if caller.is_admin else caller.id, self.ctx.clock())
        if row is None:
            raise not_found(name)
        return row

    async def list(self, caller: Principal, *, page_size: int, page_token: str, filter_text: str, order_by: str) -> Page:
        base = select(SessionRow).where(repo.live_sessions(self.ctx.clock()))
        if not caller.is_admin:
            base = base.where(SessionRow.owner == caller.id)
        return await self.ctx.list(
            caller,
            "sessions",
            base,
            repo.SESSION_LISTING,
            page_size=page_size,
            page_token=page_token,
            filter_text=filter_text,
            order_by=order_by,
            default_order="create_time desc",
        )

    async def update(
        self,
        caller: Principal,
        name: str,
        values: Mapping[str, Any],
        mask_paths: list[str],
        *,
        etag: str = "",
        request_id: str = "",
        fingerprint: str = "",
        validate_only: bool = False,
    ) -> SessionRow:
        (session_id,) = names.SESSION.parse(name, "session.name")
        plan = plan_update(mask_paths, values, UPDATABLE)
        if list(mask_paths) == ["*"]:
            # `*` names the expiration oneof once: ttl when the request sets it, otherwise expire_time.
            plan.changes.pop("expire_time" if plan.changes.get("ttl") is not None else "ttl")
        if "ttl" in plan.changes and "expire_time" in plan.changes:
            raise InvalidArgument.field("update_mask", "set either ttl or expire_time, not both")
        v = Violations()
        self._validate(v, plan.changes, "session")
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, "UpdateSession", fingerprint)
            if replayed is not None:
                return await self._get_in(db, caller, replayed[0])
            row = await self._get_in(db, caller, name, session_id)
            check_etag("session", row.id, row.revision, row.incarnation, etag)
            check_immutable("session.agent", values.get("agent"), names.AGENT.format(row.agent_id))
            target = _preview(row) if validate_only else row
            now = self.ctx.clock()
            for path, value in plan.changes.items():
                if path == "display_name":
                    target.display_name = value or ""
                elif path == "labels":
                    target.labels = dict(value or {})
                elif path == "metadata":
                    target.client_metadata = copy.deepcopy(dict(value or {}))
                elif path == "expire_time":
                    target.expire_time = value
                elif path == "ttl":
                    target.expire_time = now + value if value is not None else None
            if validate_only:
                return target
            row.update_time = now
            row.revision += 1
            await self._record(db, "session.updated", row)
            self.ctx.idempotency.remember(db, caller, request_id, "UpdateSession", fingerprint, [name])
        return row

    async def delete(
        self,
        caller: Principal,
        name: str,
        *,
        etag: str = "",
        force: bool = False,
        allow_missing: bool = False,
        request_id: str = "",
        fingerprint: str = "",
    ) -> None:
        (session_id,) = names.SESSION.parse(name, "name")
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            if await self.ctx.idempotency.replay(db, caller, request_id, "DeleteSession", fingerprint) is not None:
                return
            row = await repo.get_session(db, session_id, None if caller.is_admin else caller.id, self.ctx.clock())
            if row is None:
                if allow_missing:
                    return
                raise not_found(name)
            check_etag("session", row.id, row.revision, row.incarnation, etag)
            self._check_deletable(row, force)
            await refuse_if_runs_active(db, [row.id])
            await repo.delete_sessions_with_messages(db, [row.id])
            await self._record(db, "session.deleted", row)
            self.ctx.idempotency.remember(db, caller, request_id, "DeleteSession", fingerprint, [])

    async def batch_delete(
        self, caller: Principal, session_names: Sequence[str], *, force: bool = False, request_id: str = "", fingerprint: str = ""
    ) -> None:
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
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            if await self.ctx.idempotency.replay(db, caller, request_id, "BatchDeleteSessions", fingerprint) is not None:
                return
            deleted = []
            for name, session_id in zip(session_names, ids):
                row = await repo.get_session(db, session_id, None if caller.is_admin else caller.id, self.ctx.clock())
                if row is None:
                    raise not_found(name)
                self._check_deletable(row, force)
                deleted.append(row)
            await refuse_if_runs_active(db, ids)
            await repo.delete_sessions_with_messages(db, ids)
            for row in deleted:
                await self._record(db, "session.deleted", row)
            self.ctx.idempotency.remember(db, caller, request_id, "BatchDeleteSessions", fingerprint, [])

    async def _record(self, db: Any, type: str, row: SessionRow) -> None:
        await self.ctx.events.record(db, type, names.SESSION.format(row.id), row.owner, convert.session_proto(row))

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
                        await self._record(db, "session.expired", row)
                swept = await repo.delete_sessions_with_messages(db, going)
                removed += swept
            if len(ids) < batch or not swept:
                return removed


def _preview(row: SessionRow) -> SessionRow:
    return SessionRow(
        id=row.id,
        owner=row.owner,
        agent_id=row.agent_id,
        display_name=row.display_name,
        labels=dict(row.labels),
        client_metadata=copy.deepcopy(row.client_metadata),
        expire_time=row.expire_time,
        message_count=row.message_count,
        create_time=row.create_time,
        update_time=row.update_time,
        revision=row.revision,
        incarnation=row.incarnation,
    )
