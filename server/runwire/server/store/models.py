"""Database tables. Every resource row carries its owner; every query filters on it."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, ClassVar, TypeAlias

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runwire.server.store.records import MessageValues, RunValues

# Naive UTC everywhere: SQLite has no time zones and PostgreSQL compares the same way.


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime()}
    # Every model maps one Table (SQLAlchemy types it as the wider FromClause), so insert()/update() take it.
    __table__: ClassVar[Table]


def new_incarnation() -> str:
    """A token drawn when a resource is created: a resource deleted and created again under the same name
    is another incarnation, and no etag of the old one matches it (revisions start again at 1)."""
    return secrets.token_hex(8)


def incarnation_column() -> Mapped[str]:
    # Rows from before incarnations have "" and keep their etags; every insert, ORM or Core, draws one.
    return mapped_column(String(32), default=new_incarnation, server_default="")


@event.listens_for(Base, "init", propagate=True)
def _draw_incarnation(target: Any, args: Any, kwargs: dict[str, Any]) -> None:
    """A row object has its incarnation from the start, so its etag is right before it is flushed."""
    if "incarnation" in type(target).__table__.columns and kwargs.get("incarnation") is None:
        kwargs["incarnation"] = new_incarnation()


class ResourceRow:
    """Columns shared by every resource: surrogate key, public id, owner, times, revision and incarnation
    (for etags)."""

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    create_time: Mapped[datetime]
    update_time: Mapped[datetime]
    revision: Mapped[int] = mapped_column(Integer, default=1)
    incarnation: Mapped[str] = incarnation_column()


class LeasedRow:
    """The lease of a resource some process drives (a run that executes or waits, a batch): its owner
    process and when the lease ends unless renewed, and the fencing number, which grows at every claim and
    which every write of the resource checks in the same statement."""

    lease_owner: Mapped[str] = mapped_column(String(200), default="", server_default="")
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True, index=True)
    fence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AgentRow(ResourceRow, Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tools: Mapped[list[Any]] = mapped_column(default=list)
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[int] = mapped_column(Integer, default=1)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_agents_owner_create_time", "owner", "create_time"),)


class SessionRow(ResourceRow, Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    agent_id: Mapped[str] = mapped_column(String(63), ForeignKey("agents.id", ondelete="RESTRICT"), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # `metadata` is reserved by SQLAlchemy's declarative base.
    client_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    expire_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True, index=True)
    message_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_sessions_owner_create_time", "owner", "create_time"),)


class MessageRow(ResourceRow, Base):
    __tablename__ = "messages"

    session_id: Mapped[str] = mapped_column(String(63), ForeignKey("sessions.id", ondelete="RESTRICT"))
    id: Mapped[str] = mapped_column(String(63))
    parent_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    role: Mapped[int] = mapped_column(Integer)
    content: Mapped[list[Any]] = mapped_column(default=list)
    text: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("session_id", "id", name="uq_messages_session_id_id"),
        Index("ix_messages_session_create_time", "session_id", "create_time"),
        Index("ix_messages_session_parent", "session_id", "parent_id"),
    )


class IdempotencyRecord(Base):
    """Remembers a mutating request by its request_id so that a retry gets the first outcome."""

    __tablename__ = "idempotency_records"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Resource names the request produced (JSON list); empty for deletes.
    result: Mapped[list[Any]] = mapped_column(default=list)
    create_time: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("owner", "request_id", name="uq_idempotency_owner_request"),)


class ServerKey(Base):
    """Server-wide secrets generated on first start (page-token signing key)."""

    __tablename__ = "server_keys"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class RunRow(ResourceRow, LeasedRow, Base):
    """A run: durable record of one execution. Steps, input and output are stored as proto JSON."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    session_id: Mapped[str] = mapped_column(String(63), index=True)
    agent_id: Mapped[str] = mapped_column(String(63), index=True)
    status: Mapped[int] = mapped_column(Integer, index=True)
    input: Mapped[list[Any]] = mapped_column(default=list)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output: Mapped[dict[str, Any]] = mapped_column(default=dict)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    pending_input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_reason: Mapped[str] = mapped_column(String(100), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    tool_call_count: Mapped[int] = mapped_column(Integer, default=0)
    start_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    time_to_first_token_ms: Mapped[float | None] = mapped_column(nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(nullable=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    # `batches/{batch}/tasks/{index}` when a batch task started the run; empty otherwise.
    batch_task: Mapped[str] = mapped_column(String(140), default="", server_default="", index=True)
    # The model provider the run uses (its agent's when it was created): replicas share the per-provider limit.
    provider: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # A crew run: the crew's id, and the crew as it was when the run was created (members with their
    # agents, process, tasks, limits), so a takeover continues with the same crew; the plan as last recorded.
    crew_id: Mapped[str] = mapped_column(String(63), default="", server_default="", index=True)
    crew_spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    crew_plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The run tree: the parent (empty for a run a client started), the top, and the levels below it.
    parent_run_id: Mapped[str] = mapped_column(String(63), default="", server_default="", index=True)
    root_run_id: Mapped[str] = mapped_column(String(63), default="", server_default="")
    depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    crew_task: Mapped[str] = mapped_column(String(63), default="", server_default="")
    crew_member: Mapped[str] = mapped_column(String(63), default="", server_default="")

    __table_args__ = (
        Index("ix_runs_owner_create_time", "owner", "create_time"),
        Index("ix_runs_status_provider", "status", "provider"),
        Index("ix_runs_session_status", "session_id", "status"),
        # The caller's active runs, counted on every CreateRun, and an agent's, counted at admission when
        # the agent has a concurrency limit (migration 0017).
        Index("ix_runs_owner_status", "owner", "status"),
        Index("ix_runs_agent_status", "agent_id", "status"),
    )


class CrewRow(ResourceRow, Base):
    """A crew: members (agents with roles), a process, optional fixed tasks and limits, as proto JSON."""

    __tablename__ = "crews"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    members: Mapped[list[Any]] = mapped_column(default=list)
    process: Mapped[int] = mapped_column(Integer, default=1)
    manager_id: Mapped[str] = mapped_column(String(63), default="")
    tasks: Mapped[list[Any]] = mapped_column(default=list)
    limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_crews_owner_create_time", "owner", "create_time"),)


class RunEventRow(Base):
    """One event of a run's log: the serialized runwire.v1.RunEvent, numbered by seq within the run."""

    __tablename__ = "run_events"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(63))
    seq: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_run_events_run_seq"),)


class RunControlRow(Base):
    """A control request for a run, recorded so that its owner applies it wherever it was made: `cancel`
    (payload: reason), or `answer:{input request id}` (payload: the answer). The first of a key wins."""

    __tablename__ = "run_controls"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    create_time: Mapped[datetime]

    __table_args__ = (UniqueConstraint("run_id", "key", name="uq_run_controls_run_key"),)


class ApiKeyRow(Base):
    """An API key. Only the SHA-256 of its secret is kept; `key_prefix` lets people recognise it."""

    __tablename__ = "api_keys"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    principal: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[int] = mapped_column(Integer)
    tier: Mapped[int] = mapped_column(Integer)
    key_prefix: Mapped[str] = mapped_column(String(12))
    # hex SHA-256 of the whole secret; secrets are 238 random bits, so a fast hash is enough.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expire_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    revoke_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    last_use_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    create_time: Mapped[datetime]
    update_time: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128), default="")
    revoked_by: Mapped[str] = mapped_column(String(128), default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    incarnation: Mapped[str] = incarnation_column()
    # What the key may do beyond its role (runwire.v1.ApiKey.scopes), e.g. ["messaging.send"].
    scopes: Mapped[list[Any]] = mapped_column(default=list)


# -- server messaging -----------------------------------------------------------------


class ServerMessageRow(Base):
    """A notification or request a service sent (MessagingService). Who it reached is in its deliveries."""

    __tablename__ = "server_messages"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(63), unique=True)
    sender: Mapped[str] = mapped_column(String(200))
    kind: Mapped[int] = mapped_column(Integer)
    # "principal", "followers" or "everyone"; `recipient` is the principal id or the resource name.
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(300), default="")
    resource: Mapped[str] = mapped_column(String(300), default="")
    connection_id: Mapped[str] = mapped_column(String(64), default="")
    level: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    create_time: Mapped[datetime]
    expire_time: Mapped[datetime] = mapped_column(index=True)
    # Requests: the serialized runwire.v1.ServerRequestAnswer, who answered and when.
    answer: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    answered_by: Mapped[str] = mapped_column(String(200), default="")
    answer_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)

    __table_args__ = (
        Index("ix_server_messages_sender_create_time", "sender", "create_time"),
        Index("ix_server_messages_recipient_kind_expire_time", "recipient_kind", "expire_time"),
    )


class ServerMessageDeliveryRow(Base):
    """A message's delivery to one principal: created when sent (a principal or followers) or when it first
    reaches the principal (everyone)."""

    __tablename__ = "server_message_deliveries"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(63))
    principal: Mapped[str] = mapped_column(String(200))
    deliver_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    read_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("message_id", "principal", name="uq_server_message_deliveries_message_principal"),
        Index("ix_server_message_deliveries_principal", "principal", "message_id"),
    )


# -- resource events ----------------------------------------------------------------


class ResourceEventRow(Base):
    """One entry of the global resource event log: a serialized runwire.v1.Event (without its cursor).

    `pk` is the log position. AUTOINCREMENT on SQLite so a position is never reused, even after the
    retention sweep has emptied the table; PostgreSQL sequences never reuse values anyway.
    """

    __tablename__ = "resource_events"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(200))
    topic: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(300))
    create_time: Mapped[datetime] = mapped_column(index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_resource_events_principal_pk", "principal", "pk"),
        {"sqlite_autoincrement": True},
    )


class EventSubscriptionRow(Base):
    """A named, durable subscription: the last cursor its owner acknowledged."""

    __tablename__ = "event_subscriptions"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(63))
    # Log position acknowledged (0: nothing yet).
    acked_pk: Mapped[int] = mapped_column(Integer, default=0)
    create_time: Mapped[datetime]
    # Last subscribe or acknowledgement; unused subscriptions are deleted after the subscription TTL.
    use_time: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("owner", "name", name="uq_event_subscriptions_owner_name"),)


# -- files ----------------------------------------------------------------------


class FileRow(ResourceRow, Base):
    """An uploaded file. Its content is a blob keyed by `sha256` in the file store; equal contents share one blob."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[int] = mapped_column(Integer, index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error_reason: Mapped[str] = mapped_column(String(100), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    # At most one of the two: the session or agent whose runs may search the file.
    session_id: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    agent_id: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    text_chars: Mapped[int] = mapped_column(BigInteger, default=0)
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_files_owner_create_time", "owner", "create_time"),)


class FileChunkRow(Base):
    """A slice of a file's extracted text; the slices of a file, in order, are its whole text.

    On SQLite each chunk is also in the FTS5 table `file_chunks_fts` under rowid = pk (see migration 0004).
    """

    __tablename__ = "file_chunks"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_id: Mapped[str] = mapped_column(String(63))
    chunk_index: Mapped[int] = mapped_column(Integer)
    text_offset: Mapped[int] = mapped_column(BigInteger)
    page_number: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("file_id", "chunk_index", name="uq_file_chunks_file_index"),)


class FileChunkEmbeddingRow(Base):
    """The embedding of a file chunk for semantic search: `vector` is float32, little-endian, unit length."""

    __tablename__ = "file_chunk_embeddings"

    file_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(100))
    vector: Mapped[bytes] = mapped_column(LargeBinary)


# -- MCP servers ------------------------------------------------------------------


class McpServerRow(ResourceRow, Base):
    """A registered MCP server. `transport` is {"stdio": {...}} or {"http": {...}} with secrets in clear:
    they are needed to connect, and only reads through the API redact them. The connection columns
    (state .. server_version) are what this process last saw, kept so listings filter on them and
    tools stay listed while the server is away."""

    __tablename__ = "mcp_servers"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    transport: Mapped[dict[str, Any]] = mapped_column(default=dict)
    transport_kind: Mapped[str] = mapped_column(String(10))
    disabled: Mapped[bool] = mapped_column(default=False)
    call_timeout_seconds: Mapped[float] = mapped_column(default=0.0)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[int] = mapped_column(Integer, default=1)
    last_error: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    restart_count: Mapped[int] = mapped_column(Integer, default=0)
    ready_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    tools: Mapped[list[Any]] = mapped_column(default=list)
    tools_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    protocol_version: Mapped[str] = mapped_column(String(40), default="")
    server_version: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (Index("ix_mcp_servers_create_time", "create_time"),)


# -- memory -----------------------------------------------------------------------


class MemoryRow(ResourceRow, Base):
    """A long-term memory of a principal, optionally scoped to one of its agents."""

    __tablename__ = "memories"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    # runwire.v1.Memory.Type: 1 profile, 2 fact, 3 conversation.
    type: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    # Without a foreign key: a memory outlives the agent or session it names.
    agent_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(63), nullable=True)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    client_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    expire_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True, index=True)

    __table_args__ = (
        Index("ix_memories_owner_create_time", "owner", "create_time"),
        Index("ix_memories_owner_agent", "owner", "agent_id"),
    )


# -- secrets ------------------------------------------------------------------


class SecretRow(ResourceRow, Base):
    """A principal's secret value, encrypted with the server's secrets key (AES-256-GCM)."""

    __tablename__ = "secrets"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Fingerprint of the key that encrypted the value: a value under another key cannot be read.
    key_id: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    # The value's ciphertext with its tag; the owner and id are its associated data.
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    value_time: Mapped[datetime]

    __table_args__ = (Index("ix_secrets_owner_create_time", "owner", "create_time"),)


# -- batches ------------------------------------------------------------------


class BatchRow(ResourceRow, LeasedRow, Base):
    """A batch of agent tasks. Options are stored as given; counts are derived from its tasks."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[int] = mapped_column(Integer, index=True)
    input_file: Mapped[str] = mapped_column(String(140), default="")
    max_concurrency: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    task_timeout_seconds: Mapped[float] = mapped_column(default=0.0)
    timeout_seconds: Mapped[float] = mapped_column()
    deadline: Mapped[datetime]
    write_output_file: Mapped[int] = mapped_column(Integer, default=0)
    output_file: Mapped[str] = mapped_column(String(140), default="")
    error_reason: Mapped[str] = mapped_column(String(100), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    start_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    # Bumped by every change of the batch or one of its tasks; tasks record the value of their last change,
    # so a watcher asks for exactly the tasks changed since the version it saw.
    version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_batches_owner_create_time", "owner", "create_time"),)


class BatchTaskRow(Base):
    """One task of a batch: its input, the run of its latest attempt and its result."""

    __tablename__ = "batch_tasks"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String(63), ForeignKey("batches.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    custom_id: Mapped[str] = mapped_column(String(64))
    line_number: Mapped[int] = mapped_column(Integer, default=0)
    agent_id: Mapped[str] = mapped_column(String(63))
    session_id: Mapped[str] = mapped_column(String(63))
    # True when the task runs in a session of its own, created when it first starts.
    own_session: Mapped[int] = mapped_column(Integer, default=0)
    # A task that executes a crew (its run is a crew run); empty for an agent's task.
    crew_id: Mapped[str] = mapped_column(String(63), default="", server_default="")
    input: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(63), default="")
    output: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_reason: Mapped[str] = mapped_column(String(100), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Attempts cut short by a server restart; one is replaced by a new attempt, a second fails the task.
    interruptions: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    start_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(nullable=True)
    update_time: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("batch_id", "index", name="uq_batch_tasks_batch_index"),
        Index("ix_batch_tasks_batch_status", "batch_id", "status"),
        Index("ix_batch_tasks_batch_version", "batch_id", "version"),
        Index("ix_batch_tasks_status", "status"),
    )


# Hot paths build a run's or a message's columns as a record (an ORM instance costs more to build than the
# Core insert it feeds); what reads them takes either.
RunColumns: TypeAlias = RunRow | RunValues
MessageColumns: TypeAlias = MessageRow | MessageValues
