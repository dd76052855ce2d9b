"""Messages of a session: content parts, threads through parent_message, search."""

from __future__ import annotations

import builtins
import copy
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from runwire.server.core import names
from runwire.server.core.errors import FailedPrecondition, InvalidArgument, NotFound, Violations
from runwire.server.core.paging import Page, SearchQuery, query_fingerprint, resolve_page_size
from runwire.server.core.principal import Principal
from runwire.server.core.statuses import MessageRole
from runwire.server.domain.common import check_immutable, check_labels, plan_update
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery, ResourceKind, ResourceWriter, Tenancy, WriteOptions, register
from runwire.server.domain.sessions import SESSIONS
from runwire.server.domain.versioned import VersionedRecords
from runwire.server.store import messages as message_writer
from runwire.server.store import repositories as repo
from runwire.server.store.models import MessageColumns, MessageRow
from runwire.server.store.records import MessageValues, SessionKey
from runwire.server.store.transaction import CoreTransaction, Transaction
from runwire.server.wire import convert

UPDATABLE = ("content", "labels")
PART_KINDS = ("text", "data", "file", "tool_call", "tool_result")
FILE = names.NamePattern.of("files")
SNIPPET_CHARS = 160
MAX_SEARCH_RESULTS = 100
# Listed messages whose records are kept between reads, at most.
MAX_KEPT_MESSAGES = 2048


def not_found(name: str) -> NotFound:
    return MESSAGES.not_found(name)


MESSAGES = register(
    ResourceKind(
        field="message",
        pattern=names.MESSAGE,
        row=MessageRow,
        tenancy=Tenancy.OWNER_OR_ADMIN,
        listing=repo.MESSAGE_LISTING,
        title="message",
        not_found_reason="MESSAGE_NOT_FOUND",
        method="Message",
        to_proto=convert.message_proto,
        default_order="create_time",
        parent=SESSIONS,
    )
)
_COLUMNS = tuple(c.key for c in MessageRow.__table__.columns if c.key != "pk")


@dataclass(frozen=True)
class SearchHit:
    message: MessageRow
    snippet: str


class MessageWriter(ResourceWriter[MessageColumns]):
    """The conventions' writes of messages on the one message writer (store/messages.py), which keeps the
    session's counters with every row, and on lookups built once: CreateMessage and ListMessages are hot.
    A create is Core statements only (`core_writes`), of a new message's columns as a record (MessageValues)."""

    core_writes = True

    def __init__(self, ctx: DomainContext) -> None:
        super().__init__(ctx, MESSAGES)
        # The last record read of each listed message, by version (store/repositories.py, session_messages_page).
        self._records = VersionedRecords(limit=MAX_KEPT_MESSAGES)

    async def find_parent(self, db: CoreTransaction | None, caller: Principal, parent_id: str) -> SessionKey | None:
        # The session's pk and owner only: all a message's creation and listing need of it.
        owner, now = self.owner_scope(caller), self.ctx.clock()
        if db is None:
            return await repo.find_live_session_key(self.ctx.store, parent_id, owner, now)
        return await repo.find_live_session_on(self.ctx.store, db, parent_id, owner, now)

    async def taken(self, db: CoreTransaction, rows: Sequence[MessageColumns]) -> builtins.list[MessageColumns]:
        return [r for r in rows if await repo.message_id_taken(self.ctx.store, db, r.session_id, r.id)]

    async def insert(self, db: CoreTransaction, rows: Sequence[MessageColumns]) -> None:
        for row in rows:
            await message_writer.insert_message(self.ctx.store, db, {key: getattr(row, key) for key in _COLUMNS})

    def stamp(self, row: MessageColumns, **columns: Any) -> MessageColumns:
        if isinstance(row, MessageValues):
            return row._replace(**columns)
        return super().stamp(row, **columns)

    async def changed(self, db: CoreTransaction, row: MessageColumns) -> None:
        await message_writer.touch_session(self.ctx.store, db, row.session_id, row.update_time)

    async def read_page(self, parent_id: str, order: Any, after: Any, limit: int) -> Any:
        return await repo.session_messages_page(self.ctx.store, parent_id, order, after, limit, self._records)


class MessageService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx
        self.writer = MessageWriter(ctx)

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
        options: WriteOptions,
        *,
        message_id: str = "",
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
        # The new message's columns as a record, not an ORM instance: the writer inserts it with Core statements.
        row = MessageValues(
            pk=None,
            **message_writer.message_values(
                session_id=session_id,
                message_id=message_id or names.new_id(),
                # The session's owner, once the writer has found it.
                owner=caller.id,
                parent_id=parent_id,
                role=role,
                content=content,
                run_id=run_id,
                labels=fields.get("labels") or {},
                now=self.ctx.clock(),
            ),
        )

        async def check(db: CoreTransaction) -> None:
            if parent_id is not None and not await repo.message_id_taken(self.ctx.store, db, session_id, parent_id):
                error = not_found(parent_message)
                error.message = f"parent message {parent_message!r} does not exist"
                raise error

        return await self.writer.create(caller, row, options, check=check)

    async def get(self, caller: Principal, name: str) -> MessageColumns:
        return await self.writer.get(caller, name)

    async def list(self, caller: Principal, parent: str, query: ListQuery) -> Page:
        return await self.writer.list(caller, query, parent=parent)

    async def update(self, caller: Principal, name: str, values: Mapping[str, Any], options: WriteOptions) -> MessageColumns:
        names.MESSAGE.parse(name, "message.name")
        plan = plan_update(list(options.update_mask), values, UPDATABLE)
        v = Violations()
        if "content" in plan.changes:
            self.validate_content(v, plan.changes["content"] or [], "message.content")
        if "labels" in plan.changes:
            check_labels(v, "message.labels", plan.changes["labels"] or {}, self.ctx.limits.max_labels)
        v.raise_if_any()

        async def change(db: Transaction, row: MessageRow, target: MessageRow) -> None:
            check_immutable("message.role", values.get("role"), row.role)
            parent = names.MESSAGE.format(row.session_id, row.parent_id) if row.parent_id else ""
            check_immutable("message.parent_message", values.get("parent_message"), parent)
            if "content" in plan.changes:
                target.content = list(plan.changes["content"])
                target.text = message_writer.text_of(target.content)
            if "labels" in plan.changes:
                target.labels = dict(plan.changes["labels"] or {})

        return await self.writer.update(caller, name, options, change)

    async def delete(self, caller: Principal, name: str, options: WriteOptions) -> None:
        async def check(db: Transaction, row: MessageColumns) -> None:
            if row.reply_count and not options.force:
                raise FailedPrecondition(
                    f"message {name!r} has {row.reply_count} repl(ies); pass force=true to delete the thread below it too",
                    reason="MESSAGE_HAS_REPLIES",
                    metadata={"resource": name, "reply_count": str(row.reply_count)},
                )

        async def remove(db: Transaction, row: MessageRow) -> None:
            # The replies deleted with it (force) are announced by its event alone.
            doomed = [row.id, *await repo.thread_below(db, row.session_id, row.id)]
            await message_writer.remove(self.ctx.store, db, row.session_id, doomed, row.parent_id, self.ctx.clock())

        await self.writer.delete(caller, name, options, check=check, remove=remove)

    async def search(self, caller: Principal, parent: str, search: SearchQuery) -> tuple[builtins.list[SearchHit], str]:
        (session_id,) = names.SESSION.parse(parent, "parent", allow_wildcard_parent=True)
        query = search.text
        words = query.split()
        if not words:
            raise InvalidArgument.field("query", "is required: one or more words to look for")
        if len(query) > self.ctx.limits.max_search_query_chars:
            raise InvalidArgument.field(
                "query", f"is {len(query)} characters long; the limit is {self.ctx.limits.max_search_query_chars}"
            )
        size = resolve_page_size(search.page_size, 20, MAX_SEARCH_RESULTS)
        fingerprint = query_fingerprint("search", caller.id, parent, query)
        after = self.ctx.page_tokens.decode(search.page_token, fingerprint)
        offset = int(after[0]) if after else 0
        async with self.ctx.store.read() as db:
            if session_id != "-" and await self.writer.find_parent(db, caller, session_id) is None:
                raise SESSIONS.not_found(parent)
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

