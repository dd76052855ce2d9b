"""A new resource kind needs its row, its descriptor, its validation and its changes, nothing else: the
notes of note_resource.py get every convention from the one write step, on the server's own store."""

from __future__ import annotations

from typing import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from runwire.server.app import RunwireServer
from runwire.server.core.errors import Aborted, AlreadyExists, InvalidArgument, NotFound
from runwire.server.core.etags import etag_of
from runwire.server.core.principal import Principal
from runwire.server.domain.resources import RESOURCES, ListQuery, WriteOptions
from tests.conftest import new_request_id
from tests.grpc.note_resource import COMMENTS, NOTES, CommentService, NoteBase, NoteCommentRow, NoteRow, NoteService

ALICE = Principal("alice")
BOB = Principal("bob")
ADMIN = Principal("root", is_admin=True)


@pytest.fixture
async def notes(server: RunwireServer) -> AsyncIterator[NoteService]:
    engine = server.agents.ctx.store.engine
    if isinstance(engine, AsyncEngine):
        async with engine.begin() as connection:
            await connection.run_sync(NoteBase.metadata.create_all)
    else:
        with engine.begin() as connection:
            NoteBase.metadata.create_all(connection)
    yield NoteService(server.agents.ctx)


@pytest.fixture
async def comments(notes: NoteService) -> CommentService:
    return CommentService(notes.ctx)


def etag(row: NoteRow) -> str:
    return etag_of(NOTES.etag, row.id, row.revision, row.incarnation)


async def test_a_registered_kind_gets_names_etags_request_ids_and_tenancy(notes: NoteService) -> None:
    assert RESOURCES["testNotes"] is NOTES
    with pytest.raises(InvalidArgument) as bad:
        await notes.get(ALICE, "notes/abcd")
    assert bad.value.field_violations[0].field == "name"
    with pytest.raises(InvalidArgument):
        await notes.create(ALICE, {"text": ""}, WriteOptions())

    request_id = new_request_id()
    created = await notes.create(ALICE, {"text": "first"}, WriteOptions(request_id=request_id, fingerprint="a"), note_id="note-one")
    assert (created.revision, len(created.incarnation)) == (1, 16)
    replayed = await notes.create(ALICE, {"text": "first"}, WriteOptions(request_id=request_id, fingerprint="a"), note_id="note-one")
    assert (replayed.id, replayed.incarnation) == (created.id, created.incarnation)
    with pytest.raises(InvalidArgument) as reused:
        await notes.create(ALICE, {"text": "other"}, WriteOptions(request_id=request_id, fingerprint="b"))
    assert reused.value.reason == "REQUEST_ID_REUSED"

    name = "testNotes/note-one"
    first_etag = etag(created)
    preview = await notes.update(ALICE, name, {"text": "dry"}, WriteOptions(update_mask=("text",), validate_only=True))
    assert preview.text == "dry" and (await notes.get(ALICE, name)).text == "first"
    updated = await notes.update(ALICE, name, {"text": "second"}, WriteOptions(update_mask=("text",), etag=first_etag))
    assert (updated.text, updated.revision) == ("second", 2)
    with pytest.raises(Aborted) as stale:
        await notes.update(ALICE, name, {"text": "third"}, WriteOptions(update_mask=("text",), etag=first_etag))
    assert stale.value.reason == "ETAG_MISMATCH"

    with pytest.raises(NotFound):
        await notes.get(BOB, name)
    assert (await notes.get(ADMIN, name)).text == "second"
    with pytest.raises(NotFound):
        await notes.delete(BOB, name, WriteOptions())

    await notes.delete(ALICE, name, WriteOptions(etag=etag(updated)))
    with pytest.raises(NotFound):
        await notes.get(ALICE, name)
    await notes.delete(ALICE, name, WriteOptions(allow_missing=True))


async def test_a_registered_kind_lists_with_filters_order_and_pages(notes: NoteService) -> None:
    for text in ("pear", "apple", "plum", "fig"):
        await notes.create(ALICE, {"text": text}, WriteOptions())
    await notes.create(BOB, {"text": "bob's"}, WriteOptions())
    seen, token = [], ""
    while True:
        page = await notes.list(ALICE, ListQuery(page_size=3, page_token=token, order_by="text", filter='text != "fig"'))
        seen += [r.text for r in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["apple", "pear", "plum"]
    with pytest.raises(InvalidArgument) as bad:
        await notes.list(ALICE, ListQuery(filter="colour = 1"))
    assert bad.value.reason == "INVALID_FILTER"


async def test_a_child_collection_lives_in_its_parent_with_the_parents_tenancy(
    notes: NoteService, comments: CommentService
) -> None:
    first = notes.writer.kind.name_of(await notes.create(ALICE, {"text": "first"}, WriteOptions()))
    second = notes.writer.kind.name_of(await notes.create(ALICE, {"text": "second"}, WriteOptions()))
    created = await comments.create(ALICE, first, "hello", WriteOptions(), "hi-there")
    name = f"{first}/testComments/hi-there"
    assert COMMENTS.name_of(created) == name and created.revision == 1
    # Ids are unique within a parent, not across parents.
    with pytest.raises(AlreadyExists):
        await comments.create(ALICE, first, "again", WriteOptions(), "hi-there")
    await comments.create(ALICE, second, "elsewhere", WriteOptions(), "hi-there")
    missing_parent = "testNotes/no-such-note"
    with pytest.raises(NotFound) as missing:
        await comments.create(ALICE, missing_parent, "lost", WriteOptions(), "lost-one")
    assert missing.value.metadata["resource"] == missing_parent
    # Only whoever sees the parent sees (and changes) its comments: Bob neither, an admin both.
    with pytest.raises(NotFound):
        await comments.create(BOB, first, "intruder", WriteOptions(), "bobs-one")
    with pytest.raises(NotFound):
        await comments.writer.get(BOB, name)
    with pytest.raises(NotFound):
        await comments.list(BOB, first, ListQuery())
    assert [r.id for r in (await comments.list(BOB, "testNotes/-", ListQuery())).items] == []
    assert (await comments.writer.get(ADMIN, name)).text == "hello"

    etag_before = etag_of(COMMENTS.etag, COMMENTS.etag_id(created), created.revision, created.incarnation)
    updated = await comments.update(ALICE, name, "changed", WriteOptions(etag=etag_before))
    assert (updated.text, updated.revision) == ("changed", 2)
    with pytest.raises(Aborted):
        await comments.update(ALICE, name, "stale", WriteOptions(etag=etag_before))
    listed = await comments.list(ALICE, first, ListQuery(order_by="name"))
    assert [(r.note_id, r.text) for r in listed.items] == [(first.split("/")[1], "changed")]
    everywhere = await comments.list(ALICE, "testNotes/-", ListQuery(filter='text = "elsewhere"'))
    assert [r.note_id for r in everywhere.items] == [second.split("/")[1]]

    await comments.delete(ALICE, name, WriteOptions())
    with pytest.raises(NotFound):
        await comments.writer.get(ALICE, name)
    await comments.delete(ALICE, name, WriteOptions(allow_missing=True))
    assert isinstance((await comments.list(ALICE, second, ListQuery())).items[0], NoteCommentRow)
