"""A resource kind made for the tests, as small as a kind can be: notes, a text each, owned by one caller.

docs/resources.md shows this module as the example of adding a resource: a row, a descriptor, a
service with its validation and its changes. Everything else (names, tenancy, etags, request ids,
validate_only, allow_missing, listing) comes from domain/resources.py.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runwire.server.core import names
from runwire.server.core.errors import Violations
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.domain.common import check_text, plan_update
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery, ResourceKind, ResourceWriter, Tenancy, WriteOptions, register
from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.models import ResourceRow
from runwire.server.store.store import Listing

MAX_TEXT_CHARS = 200


class NoteBase(DeclarativeBase):
    """Kept apart from the server's tables: the test creates this one itself."""


class NoteRow(ResourceRow, NoteBase):
    __tablename__ = "test_notes"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    text: Mapped[str] = mapped_column(String(MAX_TEXT_CHARS))


NOTES = register(
    ResourceKind(
        field="note",
        pattern=names.NamePattern.of("testNotes"),
        row=NoteRow,
        tenancy=Tenancy.OWNER_OR_ADMIN,
        listing=Listing(
            filter_fields={"text": FieldSpec(NoteRow.text, "string"), "create_time": FieldSpec(NoteRow.create_time, "timestamp")},
            order_columns={"create_time": NoteRow.create_time, "text": NoteRow.text, "name": NoteRow.id},
            tiebreak=NoteRow.pk,
        ),
        title="note",
        not_found_reason="NOT_FOUND",
        method="Note",
    )
)


class NoteCommentRow(ResourceRow, NoteBase):
    """A comment on a note: a collection inside another kind's resources, with no steps of its own."""

    __tablename__ = "test_note_comments"
    __table_args__ = (UniqueConstraint("note_id", "id"),)

    note_id: Mapped[str] = mapped_column(String(63), index=True)
    id: Mapped[str] = mapped_column(String(63))
    text: Mapped[str] = mapped_column(String(MAX_TEXT_CHARS))


COMMENTS = register(
    ResourceKind(
        field="comment",
        pattern=names.NamePattern.of("testNotes", "testComments"),
        row=NoteCommentRow,
        tenancy=Tenancy.OWNER_OR_ADMIN,
        listing=Listing(
            filter_fields={"text": FieldSpec(NoteCommentRow.text, "string")},
            order_columns={"create_time": NoteCommentRow.create_time, "name": NoteCommentRow.id},
            tiebreak=NoteCommentRow.pk,
        ),
        title="comment",
        not_found_reason="NOT_FOUND",
        method="Comment",
        parent=NOTES,
    )
)


class NoteService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx
        self.writer: ResourceWriter[NoteRow] = ResourceWriter(ctx, NOTES)

    def _validate(self, fields: Mapping[str, Any]) -> None:
        v = Violations()
        check_text(v, "note.text", fields.get("text") or "", MAX_TEXT_CHARS, required=True)
        v.raise_if_any()

    async def create(self, caller: Principal, fields: Mapping[str, Any], options: WriteOptions, *, note_id: str = "") -> NoteRow:
        self._validate(fields)
        now = self.ctx.clock()
        row = NoteRow(id=note_id or names.new_id(), owner=caller.id, text=fields["text"], create_time=now, update_time=now)
        return await self.writer.create(caller, row, options)

    async def update(self, caller: Principal, name: str, values: Mapping[str, Any], options: WriteOptions) -> NoteRow:
        plan = plan_update(options.update_mask, values, ("text",))
        self._validate(plan.changes)

        async def change(db: Any, row: NoteRow, target: NoteRow) -> None:
            target.text = plan.changes["text"]

        return await self.writer.update(caller, name, options, change)

    async def get(self, caller: Principal, name: str) -> NoteRow:
        return await self.writer.get(caller, name)

    async def list(self, caller: Principal, query: ListQuery) -> Page:
        return await self.writer.list(caller, query)

    async def delete(self, caller: Principal, name: str, options: WriteOptions) -> None:
        await self.writer.delete(caller, name, options)


class CommentService:
    """The comments of notes: the same write step, inside a parent."""

    def __init__(self, ctx: DomainContext) -> None:
        self.writer: ResourceWriter[NoteCommentRow] = ResourceWriter(ctx, COMMENTS)
        self.ctx = ctx

    async def create(self, caller: Principal, parent: str, text: str, options: WriteOptions, comment_id: str) -> NoteCommentRow:
        (note_id,) = NOTES.pattern.parse(parent, "parent")
        now = self.ctx.clock()
        row = NoteCommentRow(note_id=note_id, id=comment_id, owner=caller.id, text=text, create_time=now, update_time=now)
        return await self.writer.create(caller, row, options)

    async def update(self, caller: Principal, name: str, text: str, options: WriteOptions) -> NoteCommentRow:
        async def change(db: Any, row: NoteCommentRow, target: NoteCommentRow) -> None:
            target.text = text

        return await self.writer.update(caller, name, options, change, field="name")

    async def list(self, caller: Principal, parent: str, query: ListQuery) -> Page:
        return await self.writer.list(caller, query, parent=parent)

    async def delete(self, caller: Principal, name: str, options: WriteOptions) -> None:
        await self.writer.delete(caller, name, options)
