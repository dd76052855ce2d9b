"""Alembic environment: runs on a connection handed in by runwire.server.store.database.migrate."""

from alembic import context

from runwire.server.store.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through runwire.server.store.database.migrate")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
