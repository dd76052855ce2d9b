"""A new resource kind needs its row, its descriptor, its validation and its changes, nothing else: the
notes of note_resource.py get every convention from the one write step, on the server's own store."""

from __future__ import annotations

from typing import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from runwire.server.app import RunwireServer
from runwire.server.core.etags import etag_of
from runwire.server.core.errors import Aborted, InvalidArgument, NotFound
from runwire.server.core.principal import Principal
from runwire.server.domain.resources import RESOURCES, ListQuery, WriteOptions
from tests.conftest import new_request_id
from tests.grpc.note_resource import NOTES, NoteBase, NoteRow, NoteService

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
