"""Queries for files, their text chunks and the full-text index. Every file lookup is scoped by owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import bindparam, delete, func, insert, literal_column, select, table, text, update

from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.models import FileChunkEmbeddingRow, FileChunkRow, FileRow
from runwire.server.store.repositories import resource_name_sql
from runwire.server.store.store import Listing, rows_changed
from runwire.server.store.transaction import Transaction

PURPOSE_VALUES = {"ASSISTANTS": 1, "BATCH_INPUT": 2, "BATCH_OUTPUT": 3}
STATE_VALUES = {"PENDING": 1, "PROCESSING": 2, "COMPLETED": 3, "FAILED": 4}

_FILTER_FIELDS = {
    "purpose": FieldSpec(FileRow.purpose, "enum", enum_values=PURPOSE_VALUES),
    "state": FieldSpec(FileRow.state, "enum", enum_values=STATE_VALUES),
    "content_type": FieldSpec(FileRow.content_type, "string"),
    "filename": FieldSpec(FileRow.filename, "string"),
    "display_name": FieldSpec(FileRow.display_name, "string"),
    "session": FieldSpec(resource_name_sql("sessions/", FileRow.session_id), "string", nullable_empty=True),
    "agent": FieldSpec(resource_name_sql("agents/", FileRow.agent_id), "string", nullable_empty=True),
    "size_bytes": FieldSpec(FileRow.size_bytes, "int"),
    "sha256": FieldSpec(FileRow.sha256, "string"),
    "labels": FieldSpec(FileRow.labels, "map"),
    "create_time": FieldSpec(FileRow.create_time, "timestamp"),
    "update_time": FieldSpec(FileRow.update_time, "timestamp"),
}

FILE_LISTING = Listing(
    filter_fields=_FILTER_FIELDS,
    order_columns={
        "create_time": FileRow.create_time,
        "update_time": FileRow.update_time,
        "filename": FileRow.filename,
        "display_name": FileRow.display_name,
        "size_bytes": FileRow.size_bytes,
        "name": FileRow.id,
    },
    tiebreak=FileRow.pk,
)

# The fields SearchFiles may filter the searched files on.
SEARCH_FILTER_FIELDS = {k: _FILTER_FIELDS[k] for k in ("purpose", "content_type", "filename", "labels", "create_time")}

_FILE_BY_ID = select(FileRow).where(FileRow.id == bindparam("id"))
_FILE_BY_ID_AND_OWNER = _FILE_BY_ID.where(FileRow.owner == bindparam("owner"))

_FTS = table("file_chunks_fts", literal_column("rowid"))


async def get_file(db: Transaction, file_id: str, owner: str | None) -> FileRow | None:
    if owner is None:
        return (await db.execute(_FILE_BY_ID, {"id": file_id})).scalar_one_or_none()
    return (await db.execute(_FILE_BY_ID_AND_OWNER, {"id": file_id, "owner": owner})).scalar_one_or_none()


async def file_id_taken(db: Transaction, file_id: str) -> bool:
    return (await db.execute(select(FileRow.pk).where(FileRow.id == file_id))).first() is not None


async def blob_in_use(db: Transaction, sha256: str) -> bool:
    return (await db.execute(select(FileRow.pk).where(FileRow.sha256 == sha256).limit(1))).first() is not None


async def file_ids_in_states(db: Transaction, states: Sequence[int]) -> list[str]:
    stmt = select(FileRow.id).where(FileRow.state.in_(list(states))).order_by(FileRow.create_time)
    return list((await db.execute(stmt)).scalars().all())


async def claim_for_processing(db: Transaction, file_id: str, from_states: Sequence[int], processing: int, now: Any) -> bool:
    """Move the file to PROCESSING unless another worker (or replica) took it first."""
    result = await db.execute(
        update(FileRow)
        .where(FileRow.id == file_id, FileRow.state.in_(list(from_states)))
        .values(state=processing, progress=0.0, error_reason="", error_message="", update_time=now, revision=FileRow.revision + 1)
    )
    return rows_changed(result) == 1


async def replace_chunks(
    db: Transaction,
    file_id: str,
    chunks: Sequence[Any],
    full_text_index: bool,
    embeddings: Sequence[bytes] | None = None,
    model: str = "",
) -> None:
    """The file's chunks become `chunks`; `embeddings`, when given, has one vector per chunk, in order."""
    await delete_chunks(db, file_id, full_text_index)
    if chunks and embeddings:
        await db.execute(
            insert(FileChunkEmbeddingRow),
            [{"file_id": file_id, "chunk_index": c.index, "model": model, "vector": v} for c, v in zip(chunks, embeddings, strict=True)],
        )
    if not chunks:
        return
    await db.execute(
        insert(FileChunkRow),
        [
            {
                "file_id": file_id,
                "chunk_index": c.index,
                "text_offset": c.text_offset,
                "page_number": c.page_number,
                "text": c.text,
            }
            for c in chunks
        ],
    )
    if full_text_index:
        await db.execute(
            text("INSERT INTO file_chunks_fts(rowid, text) SELECT pk, text FROM file_chunks WHERE file_id = :id"),
            {"id": file_id},
        )


async def delete_chunks(db: Transaction, file_id: str, full_text_index: bool) -> None:
    if full_text_index:
        # An external-content FTS5 table forgets a row through its 'delete' command, given the indexed text.
        await db.execute(
            text(
                "INSERT INTO file_chunks_fts(file_chunks_fts, rowid, text) "
                "SELECT 'delete', pk, text FROM file_chunks WHERE file_id = :id"
            ),
            {"id": file_id},
        )
    await db.execute(delete(FileChunkRow).where(FileChunkRow.file_id == file_id))
    await db.execute(delete(FileChunkEmbeddingRow).where(FileChunkEmbeddingRow.file_id == file_id))


async def text_slice(db: Transaction, file_id: str, offset: int, max_chars: int) -> str:
    """Characters [offset, offset + max_chars) of the file's text, from the chunks that cover them."""
    stmt = (
        select(FileChunkRow.text_offset, FileChunkRow.text)
        .where(
            FileChunkRow.file_id == file_id,
            FileChunkRow.text_offset < offset + max_chars,
            FileChunkRow.text_offset + func.length(FileChunkRow.text) > offset,
        )
        .order_by(FileChunkRow.chunk_index)
    )
    rows = (await db.execute(stmt)).all()
    if not rows:
        return ""
    joined = "".join(t for _, t in rows)
    start = offset - rows[0][0]
    return joined[start : start + max_chars]


@dataclass(frozen=True)
class ChunkHit:
    file_id: str
    filename: str
    chunk_index: int
    text_offset: int
    page_number: int
    text: str
    score: float

    @classmethod
    def of(cls, row: Sequence[Any], score: float) -> ChunkHit:
        """A hit from a row that starts with the six columns above, in their order."""
        file_id, filename, chunk_index, text_offset, page_number, text = row[:6]
        return cls(file_id, filename, chunk_index, text_offset, page_number, text, score)


async def search_chunks(
    db: Transaction,
    *,
    words: Sequence[str],
    file_scope: Any,
    full_text_index: bool,
    offset: int,
    limit: int,
) -> list[ChunkHit]:
    """Chunks containing every word, among files matching `file_scope` (a WHERE clause on FileRow), best first.

    With the SQLite full-text index the rank is BM25; elsewhere every word is matched with LIKE and chunks
    are ranked by how often the words occur.
    """
    columns = (
        FileChunkRow.file_id,
        FileRow.filename,
        FileChunkRow.chunk_index,
        FileChunkRow.text_offset,
        FileChunkRow.page_number,
        FileChunkRow.text,
    )
    if full_text_index:
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        rank = func.bm25(literal_column("file_chunks_fts"))
        stmt = (
            select(*columns, rank.label("rank"))
            .select_from(_FTS)
            .join(FileChunkRow, FileChunkRow.pk == literal_column("file_chunks_fts.rowid"))
            .join(FileRow, FileRow.id == FileChunkRow.file_id)
            .where(literal_column("file_chunks_fts").op("MATCH")(match), file_scope)
            .order_by(rank, FileChunkRow.pk)
            .offset(offset)
            .limit(limit)
        )
        rows = (await db.execute(stmt)).all()
        # bm25() is lower for better matches; the contract's score is higher for better.
        return [ChunkHit.of(row, -float(row[6])) for row in rows]
    stmt = select(*columns).join(FileRow, FileRow.id == FileChunkRow.file_id).where(file_scope)
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(FileChunkRow.text.ilike(f"%{escaped}%", escape="\\"))
    stmt = stmt.order_by(FileRow.create_time.desc(), FileChunkRow.pk).offset(offset).limit(limit)
    rows = (await db.execute(stmt)).all()
    hits = [ChunkHit.of(row, float(sum(row[5].lower().count(w.lower()) for w in words))) for row in rows]
    return sorted(hits, key=lambda h: -h.score)


async def chunks_with_embeddings(db: Transaction, *, file_scope: Any, model: str) -> list[tuple[ChunkHit, bytes]]:
    """Every chunk embedded with `model` among files matching `file_scope`, with its vector (score 0).

    Semantic search ranks them all in memory: the cost grows with the number of chunks searched.
    """
    stmt = (
        select(
            FileChunkRow.file_id,
            FileRow.filename,
            FileChunkRow.chunk_index,
            FileChunkRow.text_offset,
            FileChunkRow.page_number,
            FileChunkRow.text,
            FileChunkEmbeddingRow.vector,
        )
        .join(FileRow, FileRow.id == FileChunkRow.file_id)
        .join(
            FileChunkEmbeddingRow,
            (FileChunkEmbeddingRow.file_id == FileChunkRow.file_id)
            & (FileChunkEmbeddingRow.chunk_index == FileChunkRow.chunk_index),
        )
        .where(file_scope, FileChunkEmbeddingRow.model == model)
        .order_by(FileChunkRow.pk)
    )
    rows = (await db.execute(stmt)).all()
    return [(ChunkHit.of(row, 0.0), bytes(row[6])) for row in rows]
