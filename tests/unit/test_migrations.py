"""The Alembic migrations build exactly the schema the models declare, on an empty database."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from runwire.server.store.database import alembic_config, create_inline_engine, migrate
from runwire.server.store.models import Base


def _declared(name: str | None, type_: str, parent_names: object) -> bool:
    """Skips the SQLite full-text index (a virtual table and its shadow tables), which has no model."""
    return not (type_ == "table" and name is not None and name.startswith("file_chunks_fts"))


def _context(connection: object) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"include_name": _declared})


async def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = create_inline_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    await migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(_context(connection), Base.metadata)
    engine.dispose()
    assert differences == [], f"models and migrations differ; add a migration: {differences}"


async def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    engine = create_inline_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    await migrate(engine)
    await migrate(engine)
    with engine.connect() as connection:
        context = _context(connection)
        heads = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_heads()
        assert context.get_current_heads() == tuple(heads)
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()
