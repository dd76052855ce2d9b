"""Messages of a session: content parts, threads through parent_message, search."""

from __future__ import annotations

import builtins
import copy
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

from sqlalchemy import select

from runwire.server.wire import convert
from runwire.server.core import names
from runwire.server.core.etags import check_etag
from runwire.server.domain.common import check_immutable, check_labels, plan_update
from runwire.server.domain.context import DomainContext
from runwire.server.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Violations
from runwire.server.core.paging import Page, query_fingerprint, resolve_page_size
from runwire.server.core.principal import Principal
from runwire.server.core.statuses import MessageRole
from runwire.server.domain.sessions import not_found as session_not_found
from runwire.server.domain.versioned import VersionedRecords
from runwire.server.store import messages as message_writer
from runwire.server.store import repositories as repo
from runwire.server.store.models import MessageColumns, MessageRow, SessionRow

UPDATABLE = ("content", "labels")
PART_KINDS = ("text", "data", "file", "tool_call", "tool_result")
FILE = names.NamePattern.of("files")
SNIPPET_CHARS = 160
MAX_SEARCH_RESULTS = 100
# Listed messages whose records are kept between reads, at most.
MAX_KEPT_MESSAGES = 2048


def not_found(name: str) -> NotFound:
    return NotFound(f"message {name!r} does not exist", reason="MESSAGE_NOT_FOUND", metadata={"resource": name})


@dataclass(frozen=True)
class SearchHit:
    message: MessageRow
    snippet: str


class MessageService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx
        # The last record read of each listed message, by version (store/repositories.py, session_messages_page).
        self._records = VersionedRecords(limit=MAX_KEPT_MESSAGES)

    def validate_content(self, v: Violations, content: Sequence[Mapping[str, Any]], field: str) -> None:
        limits = self.ctx.limits
        if not content:
            v.add(field, "must hold at least one part")
        if len(content) > limits.max_message_parts:
            v.add(field, f"has {len(content)} parts; the limit is {limits.max_message_parts}")
        text_bytes = 0
        for index, part in enumerate(content):
            kinds = [k for k in PART_KINDS if k in part]
            if len(kinds) != 1:
                v.add(f"{field}[{index}]", f"must set exactly one of {', '.join(PART_KINDS)}")
                continue
            if "text" in part:
                text_bytes += len(part["text"].encode())
            if "file" in part:
                problem = FILE.problem(part["file"])
                if problem:
                    v.add(f"{field}[{index}].file", problem)
            if "tool_call" in part and not (part["tool_call"].get("tool") or ""):
                v.add(f"{field}[{index}].tool_call.tool", "is required")
            if "tool_result" in part and not (part["tool_result"].get("tool_call_id") or ""):
                v.add(f"{field}[{index}].tool_result.tool_call_id", "is required")
        if text_bytes > limits.max_message_text_bytes:
            v.add(field, f"holds {text_bytes:,} bytes of text; the limit is {limits.max_message_text_bytes:,}")

    async def create(
        self,
        caller: Principal,
        parent: str,
        fields: Mapping[str, Any],
        *,
        message_id: str = "",
        request_id: str = "",
        fingerprint: str = "",
        validate_only: bool = False,
        run_id: str | None = None,
    ) -> MessageColumns:
        (session_id,) = names.SESSION.parse(parent, "parent")
        v = Violations()
        role = fields.get("role") or 0
        if role not in {r.value for r in MessageRole} or role == MessageRole.UNSPECIFIED:
            v.add("message.role", "is required: USER, ASSISTANT, SYSTEM or TOOL")
        content = copy.deepcopy(list(fields.get("content") or []))
        self.validate_content(v, content, "message.content")
        check_labels(v, "message.labels", fields.get("labels") or {}, self.ctx.limits.max_labels)
        parent_message = fields.get("parent_message") or ""
        parent_id: str | None = None
        if parent_message:
            problem = names.MESSAGE.problem(parent_message)
            if problem:
                v.add("message.parent_message", problem)
            else:
                parent_session, parent_id = parent_message.split("/")[1::2]
                if parent_session != session_id:
                    v.add("message.parent_message", "must be a message of the same session")
        if message_id and not names.ID_PATTERN.fullmatch(message_id):
            v.add("message_id", "must be 4 to 63 characters of [a-z0-9-], start with a letter and not end with '-'")
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        message_id = message_id or names.new_id()
        now = self.ctx.clock()
        values = message_writer.message_values(
            session_id=session_id,
            message_id=message_id,
            owner=caller.id,
            parent_id=parent_id,
            role=role,
            content=content,
            run_id=run_id,
            labels=fields.get("labels") or {},
            now=now,
        )
        store = self.ctx.store
        async with store.write_core() as db:  # Core statements only: no ORM Session to open, flush and commit
            replayed = await self.ctx.idempotency.replay_on(store, db, caller, request_id, "CreateMessage", fingerprint)
            if replayed is None:
                session = await self._session_in(db, caller, parent, session_id)
                values["owner"] = session.owner
                row = SimpleNamespace(**values)  # the new message's columns; not an ORM instance (no Session here)
                if parent_id is not None and not await repo.message_id_taken(store, db, session_id, parent_id):
                    error = not_found(parent_message)
                    error.message = f"parent message {parent_message!r} does not exist"
                    raise error
                if await repo.message_id_taken(store, db, session_id, message_id):
                    raise AlreadyExists(
                        f"message {names.MESSAGE.format(session_id, message_id)!r} already exists", reason="ALREADY_EXISTS"
                    )
                if validate_only:
                    return row
                await message_writer.insert_message(store, db, values)
                await self._record(db, "message.created", row)
                name = names.MESSAGE.format(session_id, message_id)
                await self.ctx.idempotency.remember_on(store, db, caller, request_id, "CreateMessage", fingerprint, [name])
                return row
        return await self.get(caller, replayed[0])

    async def _record(self, db: Any, type: str, row: MessageColumns) -> None:
        name = names.MESSAGE.format(row.session_id, row.id)
        await self.ctx.events.record(db, type, name, row.owner, convert.message_proto(row))

    async def _session_in(self, db: Any, caller: Principal, parent: str, session_id: str) -> Any:
        owner = None if caller.is_admin else caller.id
        session = await repo.find_live_session_on(self.ctx.store, db, session_id, owner, self.ctx.clock())
        if session is None:
            raise session_not_found(parent)
        return session

    async def get(self, caller: Principal, name: str) -> MessageRow:
        names.MESSAGE.parse(name, "name")
        async with self.ctx.store.read() as db:
            return await self._get_in(db, caller, name)

    async def _get_in(self, db: Any, caller: Principal, name: str) -> MessageRow:
        session_id, message_id = names.MESSAGE.parse(name, "name")
        session = await repo.get_session(db, session_id, None if caller.is_admin else caller.id, self.ctx.clock())
        row = await repo.get_message(db, session_id, message_id) if session is not None else None
        if row is None:
            raise not_found(name)
        return row

    async def list(
        self, caller: Principal, parent: str, *, page_size: int, page_token: str, filter_text: str, order_by: str
    ) -> Page:
        (session_id,) = names.SESSION.parse(parent, "parent", allow_wildcard_parent=True)
        now = self.ctx.clock()

        def base():  # type: ignore[no-untyped-def]
            query = select(MessageRow).join(SessionRow, SessionRow.id == MessageRow.session_id).where(repo.live_sessions(now))
            if not caller.is_admin:
                query = query.where(SessionRow.owner == caller.id)
            if session_id != "-":
                query = query.where(MessageRow.session_id == session_id)
            return query

        read_page = None
        if session_id != "-":
            owner = None if caller.is_admin else caller.id
            if not await repo.live_session_exists(self.ctx.store, session_id, owner, now):
                raise session_not_found(parent)

            async def read_page(order, after, limit):  # type: ignore[no-untyped-def]
                return await repo.session_messages_page(self.ctx.store, session_id, order, after, limit, self._records)

        return await self.ctx.list(
            caller,
            "messages",
            base,
            repo.MESSAGE_LISTING,
            page_size=page_size,
            page_token=page_token,
            filter_text=filter_text,
            order_by=order_by,
            default_order="create_time",
            scope=(parent,),
            read_page=read_page,
        )

    async def update(
        self,
        caller: Principal,
        name: str,
        values: Mapping[str, Any],
        mask_paths: builtins.list[str],
        *,
        etag: str = "",
        request_id: str = "",
        fingerprint: str = "",
        validate_only: bool = False,
    ) -> MessageRow:
        names.MESSAGE.parse(name, "message.name")
        plan = plan_update(mask_paths, values, UPDATABLE)
        v = Violations()
        if "content" in plan.changes:
            self.validate_content(v, plan.changes["content"] or [], "message.content")
        if "labels" in plan.changes:
            check_labels(v, "message.labels", plan.changes["labels"] or {}, self.ctx.limits.max_labels)
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, "UpdateMessage", fingerprint)
            if replayed is not None:
                return await self._get_in(db, caller, replayed[0])
            row = await self._get_in(db, caller, name)
            check_etag("message", f"{row.session_id}/{row.id}", row.revision, row.incarnation, etag)
            check_immutable("message.role", values.get("role"), row.role)
            parent = names.MESSAGE.format(row.session_id, row.parent_id) if row.parent_id else ""
            check_immutable("message.parent_message", values.get("parent_message"), parent)
            target = _preview(row) if validate_only else row
            if "content" in plan.changes:
                target.content = list(plan.changes["content"])
                target.text = message_writer.text_of(target.content)
            if "labels" in plan.changes:
                target.labels = dict(plan.changes["labels"] or {})
            if validate_only:
                return target
            now = self.ctx.clock()
            row.update_time = now
            row.revision += 1
            await message_writer.touch_session(self.ctx.store, db, row.session_id, now)
            await self._record(db, "message.updated", row)
            self.ctx.idempotency.remember(db, caller, request_id, "UpdateMessage", fingerprint, [name])
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
        session_id, message_id = names.MESSAGE.parse(name, "name")
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            if await self.ctx.idempotency.replay(db, caller, request_id, "DeleteMessage", fingerprint) is not None:
                return
            try:
                row = await self._get_in(db, caller, name)
            except NotFound:
                if allow_missing:
                    return
                raise
            check_etag("message", f"{row.session_id}/{row.id}", row.revision, row.incarnation, etag)
            if row.reply_count and not force:
                raise FailedPrecondition(
                    f"message {name!r} has {row.reply_count} repl(ies); pass force=true to delete the thread below it too",
                    reason="MESSAGE_HAS_REPLIES",
                    metadata={"resource": name, "reply_count": str(row.reply_count)},
                )
            doomed = [message_id, *await repo.thread_below(db, session_id, message_id)]
            await message_writer.remove(self.ctx.store, db, session_id, doomed, row.parent_id, self.ctx.clock())
            # The replies deleted with it (force) are announced by this event alone.
            await self._record(db, "message.deleted", row)
            self.ctx.idempotency.remember(db, caller, request_id, "DeleteMessage", fingerprint, [])

    async def search(
        self, caller: Principal, parent: str, query: str, *, page_size: int, page_token: str
    ) -> tuple[builtins.list[SearchHit], str]:
        (session_id,) = names.SESSION.parse(parent, "parent", allow_wildcard_parent=True)
        words = query.split()
        if not words:
            raise InvalidArgument.field("query", "is required: one or more words to look for")
        if len(query) > self.ctx.limits.max_search_query_chars:
            raise InvalidArgument.field(
                "query", f"is {len(query)} characters long; the limit is {self.ctx.limits.max_search_query_chars}"
            )
        size = resolve_page_size(page_size, 20, MAX_SEARCH_RESULTS)
        fingerprint = query_fingerprint("search", caller.id, parent, query)
        after = self.ctx.page_tokens.decode(page_token, fingerprint)
        offset = int(after[0]) if after else 0
        async with self.ctx.store.read() as db:
            if session_id != "-":
                await self._session_in(db, caller, parent, session_id)
            rows = await repo.search_messages(
                db, caller.id, None if session_id == "-" else session_id, words, self.ctx.clock(), offset, size + 1
            )
        token = self.ctx.page_tokens.encode(fingerprint, [offset + size]) if len(rows) > size else ""
        return [SearchHit(row, _snippet(row.text, words[0])) for row in rows[:size]], token


def _snippet(text: str, word: str) -> str:
    at = text.lower().find(word.lower())
    start = max(0, at - SNIPPET_CHARS // 2) if at >= 0 else 0
    excerpt = text[start : start + SNIPPET_CHARS]
    return ("…" if start > 0 else "") + excerpt + ("…" if start + SNIPPET_CHARS < len(text) else "")


def _preview(row: MessageRow) -> MessageRow:
    return MessageRow(
        session_id=row.session_id,
        id=row.id,
        owner=row.owner,
        parent_id=row.parent_id,
        role=row.role,
        content=copy.deepcopy(row.content),
        text=row.text,
        run_id=row.run_id,
        labels=dict(row.labels),
        reply_count=row.reply_count,
        create_time=row.create_time,
        update_time=row.update_time,
        revision=row.revision,
        incarnation=row.incarnation,
    )
