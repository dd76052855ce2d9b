"""Read-only records of rows, typed, for the paths that read or build rows without the ORM.

Loading or building an ORM instance costs more than the statement on the hot paths (a run starts on every
ExecuteAgent; GetAgent and GetSession are point reads), so those paths read Core rows and build plain
values. These are them: immutable, with the attributes of the model they stand for, so that what reads a
model's attributes (wire/convert.py) takes either. The store's compiled reads build them directly (see
Store.fetch_record); each one's fields are its model's columns in the model's order (tests/unit checks it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, Sequence


class AgentRecord(NamedTuple):
    """An agent's columns by attribute, as on AgentRow."""

    id: str
    display_name: str
    description: str
    instructions: str
    model: dict[str, Any]
    tools: list[Any]
    limits: dict[str, Any]
    state: int
    labels: dict[str, Any]
    pk: int
    owner: str
    create_time: datetime
    update_time: datetime
    revision: int
    incarnation: str


class SessionKey(NamedTuple):
    """A live session's pk and owner: what a message's creation and listing need of it."""

    pk: int
    owner: str


class SessionRecord(NamedTuple):
    """A session's columns by attribute, as on SessionRow (`client_metadata` is the column `metadata`)."""

    id: str
    agent_id: str
    display_name: str
    labels: dict[str, Any]
    client_metadata: dict[str, Any]
    expire_time: datetime | None
    message_count: int
    pk: int
    owner: str
    create_time: datetime
    update_time: datetime
    revision: int
    incarnation: str


class MessageValues(NamedTuple):
    """A message's columns by attribute, as on MessageRow; `pk` is None until the database assigns it."""

    session_id: str
    id: str
    parent_id: str | None
    role: int
    content: Sequence[Any]
    text: str
    run_id: str | None
    labels: dict[str, Any]
    reply_count: int
    pk: int | None
    owner: str
    create_time: datetime
    update_time: datetime
    revision: int
    incarnation: str


class MessageRecord(NamedTuple):
    """A stored message's columns by attribute, as on MessageRow, as a page of ListMessages reads them: with
    the session's message count from the same snapshot."""

    session_id: str
    id: str
    parent_id: str | None
    role: int
    content: list[Any]
    text: str
    run_id: str | None
    labels: dict[str, Any]
    reply_count: int
    pk: int
    owner: str
    create_time: datetime
    update_time: datetime
    revision: int
    incarnation: str
    messages_in_session: int


class MessageVersion(NamedTuple):
    """What tells one version of a stored message from another (see repositories.session_messages_page)."""

    id: str
    pk: int
    revision: int
    incarnation: str
    reply_count: int
    messages_in_session: int


class RunValues(NamedTuple):
    """A run's columns by attribute, as on RunRow; `pk` is None until the database assigns it, and `steps`
    is empty where the run is read without them."""

    id: str
    session_id: str
    agent_id: str
    status: int
    input: list[Any]
    options: dict[str, Any]
    output: dict[str, Any]
    steps: Sequence[Any]
    pending_input: dict[str, Any]
    error_reason: str
    error_message: str
    input_tokens: int
    output_tokens: int
    tool_call_count: int
    start_time: datetime | None
    end_time: datetime | None
    time_to_first_token_ms: float | None
    duration_ms: float | None
    last_seq: int
    labels: dict[str, Any]
    request_id: str
    batch_task: str
    provider: str
    crew_id: str
    crew_spec: dict[str, Any]
    crew_plan: dict[str, Any]
    parent_run_id: str
    root_run_id: str
    depth: int
    crew_task: str
    crew_member: str
    pk: int | None
    owner: str
    create_time: datetime
    update_time: datetime
    revision: int
    incarnation: str
    lease_owner: str
    lease_expires: datetime | None
    fence: int


class RecentMessage(NamedTuple):
    """A message as a model sees it in a run's history."""

    role: int
    content: list[Any]


class LiveSession(NamedTuple):
    """What a run's creation reads of its session."""

    id: str
    owner: str
    agent_id: str


class RunAgent(NamedTuple):
    """What a run's creation reads of its session's agent."""

    id: str
    state: int
    limits: dict[str, Any]
    instructions: str
    model: dict[str, Any]
    tools: list[Any]
