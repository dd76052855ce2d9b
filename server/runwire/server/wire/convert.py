"""Proto <-> domain mapping for agents, sessions and messages. Domain field names are the proto field names."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar, overload

from google.protobuf import duration_pb2, json_format, struct_pb2, timestamp_pb2
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message as ProtoMessage

from runwire.server.core import names
from runwire.server.core.errors import InvalidArgument
from runwire.server.core.etags import etag_of
from runwire.server.store.models import (
    AgentRow,
    BatchTaskRow,
    CrewRow,
    FileRow,
    MemoryRow,
    MessageColumns,
    RunColumns,
    SecretRow,
    SessionRow,
)
from runwire.server.store.records import AgentRecord, SessionRecord
from runwire.server.wire import json_values
from runwire.server.wire.timestamps import set_timestamp
from runwire.v1 import (
    agent_pb2,
    batch_pb2,
    common_pb2,
    crew_pb2,
    file_pb2,
    memory_pb2,
    message_pb2,
    run_pb2,
    secret_pb2,
    session_pb2,
)

OUTPUT_ONLY_OR_IDENTITY = frozenset(
    {"name", "etag", "owner", "create_time", "update_time", "message_count", "text", "reply_count", "run"}
)
# IMMUTABLE fields may be sent back unchanged; the domain refuses a changed value.
IMMUTABLE = frozenset({"agent", "role", "parent_message"})


def fingerprint(request: ProtoMessage) -> str:
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


def mask_paths(mask: FieldMask, resource: ProtoMessage) -> list[str]:
    """AIP-134: an empty mask means every field set in the resource."""
    if mask.paths:
        return list(mask.paths)
    return [f.name for f, _ in resource.ListFields() if f.name not in OUTPUT_ONLY_OR_IDENTITY | IMMUTABLE]


# -- scalars ---------------------------------------------------------------


@overload
def timestamp(value: datetime) -> timestamp_pb2.Timestamp: ...
@overload
def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None: ...
def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    set_timestamp(ts, value)
    return ts


def to_datetime(ts: timestamp_pb2.Timestamp, field: str) -> datetime:
    try:
        return ts.ToDatetime(tzinfo=UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise InvalidArgument.field(field, "is not a valid timestamp") from None


def seconds(d: duration_pb2.Duration) -> float:
    return d.seconds + d.nanos / 1e9


def duration(value: float | None) -> duration_pb2.Duration | None:
    if not value:
        return None
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round(value * 1e9)))
    return d


# The ranges protobuf defines for its time types (google/protobuf/duration.proto, timestamp.proto); the JSON
# mapping refuses values outside them, so a request carrying one must be refused before it is converted.
MAX_DURATION_SECONDS = 315_576_000_000
TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)


def time_violations(message: ProtoMessage, prefix: str) -> list[tuple[str, str]]:
    """(field path, problem) for every Duration and Timestamp in `message`, recursively, outside protobuf's range."""
    violations: list[tuple[str, str]] = []
    _time_violations(message, prefix, violations)
    return violations


def _time_violations(message: ProtoMessage, path: str, violations: list[tuple[str, str]]) -> None:
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        field_path = f"{path}{field.name}"
        if field.is_repeated:
            if field.message_type.GetOptions().map_entry:
                if field.message_type.fields_by_name["value"].message_type is not None:
                    for key, item in value.items():
                        _check_time(item, f"{field_path}[{key!r}]", violations)
            else:
                for index, item in enumerate(value):
                    _check_time(item, f"{field_path}[{index}]", violations)
        else:
            _check_time(value, field_path, violations)


def _check_time(message: ProtoMessage, path: str, violations: list[tuple[str, str]]) -> None:
    kind = message.DESCRIPTOR.full_name
    if kind == "google.protobuf.Duration":
        seconds, nanos = message.seconds, message.nanos  # type: ignore[attr-defined]
        if abs(seconds) > MAX_DURATION_SECONDS or abs(nanos) > 999_999_999 or seconds * nanos < 0:
            violations.append((path, f"is not a valid duration; durations are at most {MAX_DURATION_SECONDS} seconds either way"))
    elif kind == "google.protobuf.Timestamp":
        seconds, nanos = message.seconds, message.nanos  # type: ignore[attr-defined]
        if not TIMESTAMP_SECONDS[0] <= seconds <= TIMESTAMP_SECONDS[1] or not 0 <= nanos <= 999_999_999:
            violations.append((path, "is not a valid timestamp; timestamps are from year 1 to year 9999"))
    elif not kind.startswith("google.protobuf."):
        _time_violations(message, f"{path}.", violations)


def struct_to_dict(value: struct_pb2.Struct, field: str) -> dict[str, Any]:
    """A caller's Struct as JSON (integral numbers as ints); a value JSON cannot carry is INVALID_ARGUMENT on `field`."""
    try:
        return json_values.from_struct(value)
    except json_values.JsonValueError as exc:
        raise InvalidArgument.field(f"{field}.{exc.path}" if exc.path else field, exc.problem) from None


def dict_to_struct(value: Mapping[str, Any] | None) -> struct_pb2.Struct:
    return json_values.to_struct(value)


# -- agents ----------------------------------------------------------------


def agent_fields(agent: agent_pb2.Agent) -> dict[str, Any]:
    model, limits = agent.model, agent.limits
    return {
        "display_name": agent.display_name,
        "description": agent.description,
        "instructions": agent.instructions,
        "model": {
            "provider": model.provider,
            "model": model.model,
            "temperature": model.temperature if model.HasField("temperature") else None,
            "max_output_tokens": model.max_output_tokens if model.HasField("max_output_tokens") else None,
            "base_url": model.base_url,
            "api_key_secret": model.api_key_secret,
            "endpoint": model.endpoint,
            "options": struct_to_dict(model.options, "agent.model.options"),
        },
        "tools": [agent_tool_fields(t) for t in agent.tools],
        "limits": {
            "max_steps": limits.max_steps,
            "max_run_duration": seconds(limits.max_run_duration),
            "max_concurrent_runs": limits.max_concurrent_runs,
            "tool_timeout": seconds(limits.tool_timeout),
            "input_timeout": seconds(limits.input_timeout),
        },
        "state": agent.state,
        "labels": dict(agent.labels),
    }


def agent_tool_fields(tool: agent_pb2.AgentTool) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": tool.name, "mcp_server": tool.mcp_server, "requires_approval": tool.requires_approval}
    if tool.agent:
        # Another agent as a tool: stored only with what it needs, so built-in tool entries stay as they were.
        fields["agent"] = tool.agent
        fields["delegation"] = tool.delegation or agent_pb2.AgentTool.DELEGATION_TOOL
    return fields


# -- crews -----------------------------------------------------------------


def crew_fields(crew: crew_pb2.Crew) -> dict[str, Any]:
    limits = crew.limits
    return {
        "display_name": crew.display_name,
        "description": crew.description,
        "members": [{"id": m.id, "agent": m.agent, "role": m.role, "goal": m.goal} for m in crew.members],
        "process": crew.process,
        "manager": crew.manager,
        "tasks": [
            {
                "id": t.id,
                "description": t.description,
                "expected_output": t.expected_output,
                "member": t.member,
                "context": list(t.context),
                "output_schema": struct_to_dict(t.output_schema, f"crew.tasks[{i}].output_schema"),
            }
            for i, t in enumerate(crew.tasks)
        ],
        "limits": {
            "max_depth": limits.max_depth,
            "max_child_runs": limits.max_child_runs,
            "max_total_tokens": limits.max_total_tokens,
            "max_duration": seconds(limits.max_duration),
            "max_parallel_tasks": limits.max_parallel_tasks,
            "max_replans": limits.max_replans,
        },
        "labels": dict(crew.labels),
    }


def crew_proto(row: CrewRow) -> crew_pb2.Crew:
    limits = row.limits or {}
    return crew_pb2.Crew(
        name=names.CREW.format(row.id),
        display_name=row.display_name,
        description=row.description or "",
        members=[crew_pb2.CrewMember(**m) for m in row.members or []],
        process=crew_pb2.Crew.Process.ValueType(row.process),
        manager=names.AGENT.format(row.manager_id) if row.manager_id else "",
        tasks=[
            crew_pb2.CrewTask(
                id=t["id"],
                description=t.get("description") or "",
                expected_output=t.get("expected_output") or "",
                member=t.get("member") or "",
                context=t.get("context") or [],
                output_schema=dict_to_struct(t["output_schema"]) if t.get("output_schema") else None,
            )
            for t in row.tasks or []
        ],
        limits=crew_pb2.CrewLimits(
            max_depth=int(limits.get("max_depth") or 0),
            max_child_runs=int(limits.get("max_child_runs") or 0),
            max_total_tokens=int(limits.get("max_total_tokens") or 0),
            max_duration=duration(limits.get("max_duration")),
            max_parallel_tasks=int(limits.get("max_parallel_tasks") or 0),
            max_replans=int(limits.get("max_replans") or 0),
        ),
        labels=row.labels or {},
        owner=row.owner,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=etag_of("crew", row.id, row.revision, row.incarnation),
    )


_Proto = TypeVar("_Proto", bound=ProtoMessage)


class ProtoMemo(Generic[_Proto]):
    """The message made from a read-only record, made again only when another record object comes: with
    domain/versioned.py, the same object comes back for as long as the row's version does not change.
    Callers hand the message to grpc to send and never change it."""

    def __init__(self, make: Callable[[Any], _Proto], limit: int = 4096, keep: Callable[[Any], bool] | None = None) -> None:
        self._make = make
        self._limit = limit
        self._keep = keep  # which records' messages are worth keeping; all when None
        self._made: dict[Any, tuple[Any, _Proto]] = {}

    def __call__(self, key: Any, record: Any) -> _Proto:
        entry = self._made.get(key)
        if entry is not None and entry[0] is record:
            return entry[1]
        message = self._make(record)
        if self._keep is not None and not self._keep(record):
            return message
        if key not in self._made and len(self._made) >= self._limit:
            self._made.clear()
        self._made[key] = (record, message)
        return message


class PageMemo(Generic[_Proto]):
    """The list response made from a page of read-only records, made again only when the page holds other
    record objects (with domain/versioned.py, the same objects come back while no row of the page changes),
    or another next-page token or total. Callers hand the response to grpc to send and never change it."""

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._made: dict[Any, tuple[Sequence[Any], str, int, _Proto]] = {}

    def get(self, key: Any, items: Sequence[Any], next_page_token: str, total_size: int) -> _Proto | None:
        entry = self._made.get(key)
        if (
            entry is None
            or entry[1] != next_page_token
            or entry[2] != total_size
            or len(entry[0]) != len(items)
            or any(kept is not item for kept, item in zip(entry[0], items, strict=True))
        ):
            return None
        return entry[3]

    def put(self, key: Any, items: Sequence[Any], next_page_token: str, total_size: int, response: _Proto) -> None:
        if key not in self._made and len(self._made) >= self._limit:
            self._made.clear()
        self._made[key] = (tuple(items), next_page_token, total_size, response)


class EqualRecordMemo(ProtoMemo[_Proto]):
    """A ProtoMemo for records read afresh on every call: the message is made again only when the record's
    values differ from the last one's (every column is compared, so it is exact)."""

    def __call__(self, key: Any, record: Any) -> _Proto:
        entry = self._made.get(key)
        if entry is not None and entry[0] == record:
            return entry[1]
        return super().__call__(key, record)


def agent_proto(row: AgentRow | AgentRecord) -> agent_pb2.Agent:
    model, limits = row.model or {}, row.limits or {}
    return agent_pb2.Agent(
        name=names.AGENT.format(row.id),
        display_name=row.display_name,
        description=row.description,
        instructions=row.instructions,
        model=agent_pb2.ModelConfig(
            provider=model.get("provider") or "builtin",
            model=model.get("model") or "",
            temperature=model.get("temperature"),
            max_output_tokens=model.get("max_output_tokens"),
            base_url=model.get("base_url") or "",
            api_key_secret=model.get("api_key_secret") or "",
            endpoint=model.get("endpoint") or "",
            options=dict_to_struct(model["options"]) if model.get("options") else None,
        ),
        tools=[
            agent_pb2.AgentTool(
                name=t.get("name", ""),
                mcp_server=t.get("mcp_server", ""),
                requires_approval=bool(t.get("requires_approval")),
                agent=t.get("agent", ""),
                delegation=agent_pb2.AgentTool.Delegation.ValueType(t.get("delegation") or 0),
            )
            for t in row.tools or []
        ],
        limits=agent_pb2.AgentLimits(
            max_steps=limits.get("max_steps") or 0,
            max_run_duration=duration(limits.get("max_run_duration")),
            max_concurrent_runs=limits.get("max_concurrent_runs") or 0,
            tool_timeout=duration(limits.get("tool_timeout")),
            input_timeout=duration(limits.get("input_timeout")),
        ),
        state=agent_pb2.Agent.State.ValueType(row.state),
        labels=row.labels or {},
        owner=row.owner,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=etag_of("agent", row.id, row.revision, row.incarnation),
    )


# -- sessions --------------------------------------------------------------


def session_fields(session: session_pb2.Session, field: str = "session") -> dict[str, Any]:
    which = session.WhichOneof("expiration")
    return {
        "agent": session.agent,
        "display_name": session.display_name,
        "labels": dict(session.labels),
        "metadata": struct_to_dict(session.metadata, f"{field}.metadata"),
        "expire_time": to_datetime(session.expire_time, f"{field}.expire_time") if which == "expire_time" else None,
        "ttl": timedelta(seconds=seconds(session.ttl)) if which == "ttl" else None,
    }


def session_proto(row: SessionRow | SessionRecord) -> session_pb2.Session:
    return session_pb2.Session(
        name=names.SESSION.format(row.id),
        agent=names.AGENT.format(row.agent_id),
        display_name=row.display_name,
        labels=row.labels or {},
        metadata=dict_to_struct(row.client_metadata),
        expire_time=timestamp(row.expire_time),
        message_count=row.message_count,
        owner=row.owner,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=etag_of("session", row.id, row.revision, row.incarnation),
    )


# -- messages --------------------------------------------------------------


def part_to_dict(part: common_pb2.ContentPart, field: str = "content") -> dict[str, Any]:
    """A content part in domain form; `field` names it in errors (`message.content[2]`)."""
    kind = part.WhichOneof("kind")
    if kind is None:
        return {}
    if kind in ("text", "file"):
        return {kind: getattr(part, kind)}
    if kind == "data":
        return {"data": struct_to_dict(part.data, f"{field}.data")}
    if kind == "tool_call":
        call = part.tool_call
        return {
            "tool_call": {
                "id": call.id, "tool": call.tool, "arguments": struct_to_dict(call.arguments, f"{field}.tool_call.arguments")
            }
        }
    result = part.tool_result
    return {
        "tool_result": {
            "tool_call_id": result.tool_call_id,
            "output": struct_to_dict(result.output, f"{field}.tool_result.output"),
            "is_error": result.is_error,
        }
    }


def part_proto(part: Mapping[str, Any]) -> common_pb2.ContentPart:
    if "text" in part:
        return common_pb2.ContentPart(text=part["text"])
    if "file" in part:
        return common_pb2.ContentPart(file=part["file"])
    if "data" in part:
        return common_pb2.ContentPart(data=dict_to_struct(part["data"]))
    if "tool_call" in part:
        call = part["tool_call"]
        return common_pb2.ContentPart(
            tool_call=common_pb2.ToolCall(
                id=call.get("id", ""), tool=call.get("tool", ""), arguments=dict_to_struct(call.get("arguments"))
            )
        )
    result = part.get("tool_result") or {}
    return common_pb2.ContentPart(
        tool_result=common_pb2.ToolResult(
            tool_call_id=result.get("tool_call_id", ""),
            output=dict_to_struct(result.get("output")),
            is_error=bool(result.get("is_error")),
        )
    )


def message_fields(message: message_pb2.Message) -> dict[str, Any]:
    return {
        "role": message.role,
        "content": [part_to_dict(p, f"message.content[{i}]") for i, p in enumerate(message.content)],
        "parent_message": message.parent_message,
        "labels": dict(message.labels),
    }


# The message record last made into a message, and that message: CreateMessage makes its new record into
# a message twice in a row (its resource event, then the answer), and the second time costs nothing.
_last_message: tuple[Any, message_pb2.Message] | None = None


def message_proto(row: MessageColumns) -> message_pb2.Message:
    """The message of `row`. Callers hand it on (to grpc, into an event) and never change it: a record
    (immutable) made into a message again right after gets the same one."""
    global _last_message
    last = _last_message
    if last is not None and last[0] is row:
        return last[1]
    message = _make_message_proto(row)
    if isinstance(row, tuple):  # records only: an ORM row can change between two calls
        _last_message = (row, message)
    return message


def _make_message_proto(row: MessageColumns) -> message_pb2.Message:
    return message_pb2.Message(
        name=names.MESSAGE.format(row.session_id, row.id),
        role=message_pb2.Message.Role.ValueType(row.role),
        content=[part_proto(p) for p in row.content or []],
        parent_message=names.MESSAGE.format(row.session_id, row.parent_id) if row.parent_id else "",
        run=f"runs/{row.run_id}" if row.run_id else "",
        labels=row.labels or {},
        text=row.text,
        reply_count=row.reply_count,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=etag_of("message", f"{row.session_id}/{row.id}", row.revision, row.incarnation),
    )



# -- runs ------------------------------------------------------------------


def run_options_fields(options: run_pb2.RunOptions) -> dict[str, Any]:
    return {
        "max_steps": options.max_steps,
        "max_duration": seconds(options.max_duration),
        "input_timeout": seconds(options.input_timeout),
        "additional_instructions": options.additional_instructions,
    }


def run_proto(row: RunColumns) -> run_pb2.Run:
    options = row.options or {}
    run = run_pb2.Run(
        name=f"runs/{row.id}",
        session=names.SESSION.format(row.session_id) if row.session_id else "",
        agent=names.AGENT.format(row.agent_id) if row.agent_id else "",
        status=run_pb2.Run.Status.ValueType(row.status),
        input=[part_proto(p) for p in row.input or []],
        options=run_pb2.RunOptions(
            max_steps=options.get("max_steps") or 0,
            max_duration=duration(options.get("max_duration")),
            input_timeout=duration(options.get("input_timeout")),
            additional_instructions=options.get("additional_instructions") or "",
        ),
        usage=common_pb2.Usage(
            input_tokens=row.input_tokens or 0,
            output_tokens=row.output_tokens or 0,
            total_tokens=(row.input_tokens or 0) + (row.output_tokens or 0),
        ),
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        start_time=timestamp(row.start_time),
        end_time=timestamp(row.end_time),
        time_to_first_token=duration(row.time_to_first_token_ms / 1000 if row.time_to_first_token_ms is not None else None),
        duration=duration(row.duration_ms / 1000 if row.duration_ms is not None else None),
        last_seq=row.last_seq or 0,
        labels=row.labels or {},
        owner=row.owner,
        request_id=row.request_id or "",
        batch_task=row.batch_task or "",
        etag=etag_of("run", row.id, row.revision or 1, row.incarnation),
        crew=names.CREW.format(row.crew_id) if getattr(row, "crew_id", "") else "",
        parent_run=f"runs/{row.parent_run_id}" if getattr(row, "parent_run_id", "") else "",
        root_run=f"runs/{getattr(row, 'root_run_id', '') or row.id}",
        depth=getattr(row, "depth", 0) or 0,
        crew_task=getattr(row, "crew_task", "") or "",
        crew_member=getattr(row, "crew_member", "") or "",
    )
    crew_plan = getattr(row, "crew_plan", None)
    if crew_plan:
        json_format.ParseDict(crew_plan, run.crew_plan, ignore_unknown_fields=True)
    if row.output:
        set_run_output(run.output, row.output)
    for step in row.steps or []:
        json_format.ParseDict(step, run.steps.add())
    if row.pending_input:
        json_format.ParseDict(row.pending_input, run.pending_input)
    if row.error_reason:
        run.error.reason, run.error.message = row.error_reason, row.error_message or ""
    return run


def set_run_output(target: run_pb2.RunOutput, stored: Mapping[str, Any], *, ignore_unknown_fields: bool = False) -> None:
    """The stored output (RunOutput as JSON) into `target`. The common shape, text parts only, is set
    directly: every run.* and batch_task.updated resource event and GetRun converts it, and json_format
    costs ten times more."""
    parts = stored.get("parts") or []
    if stored.keys() <= _RUN_OUTPUT_KEYS and all(part.keys() == {"text"} for part in parts):
        target.text = stored.get("text", "")
        target.message = stored.get("message", "")
        target.parts.extend(common_pb2.ContentPart(text=part["text"]) for part in parts)
        return
    json_format.ParseDict(dict(stored), target, ignore_unknown_fields=ignore_unknown_fields)


_RUN_OUTPUT_KEYS = frozenset({"text", "parts", "message"})


def run_metrics_proto(metrics: Any) -> run_pb2.RunMetrics:
    counts = metrics.counts
    return run_pb2.RunMetrics(
        run_count=sum(counts.values()),
        queued_count=counts.get(run_pb2.Run.STATUS_QUEUED, 0),
        running_count=counts.get(run_pb2.Run.STATUS_RUNNING, 0),
        requires_input_count=counts.get(run_pb2.Run.STATUS_REQUIRES_INPUT, 0),
        succeeded_count=counts.get(run_pb2.Run.STATUS_SUCCEEDED, 0),
        failed_count=counts.get(run_pb2.Run.STATUS_FAILED, 0),
        cancelled_count=counts.get(run_pb2.Run.STATUS_CANCELLED, 0),
        timed_out_count=counts.get(run_pb2.Run.STATUS_TIMED_OUT, 0),
        usage=common_pb2.Usage(
            input_tokens=metrics.input_tokens,
            output_tokens=metrics.output_tokens,
            total_tokens=metrics.input_tokens + metrics.output_tokens,
        ),
        duration_p50=_ms(metrics.duration_p50_ms),
        duration_p95=_ms(metrics.duration_p95_ms),
        time_to_first_token_p50=_ms(metrics.ttft_p50_ms),
        time_to_first_token_p95=_ms(metrics.ttft_p95_ms),
        tool_call_count=metrics.tool_calls,
    )


def _ms(value: float | None) -> duration_pb2.Duration | None:
    return duration(value / 1000) if value is not None else None


def file_proto(row: FileRow) -> file_pb2.File:
    message = file_pb2.File(
        name=f"files/{row.id}",
        display_name=row.display_name,
        filename=row.filename,
        content_type=row.content_type,
        purpose=file_pb2.File.Purpose.ValueType(row.purpose),
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        state=file_pb2.File.State.ValueType(row.state),
        progress=row.progress,
        text_chars=row.text_chars,
        page_count=row.page_count,
        chunk_count=row.chunk_count,
        labels=dict(row.labels),
        owner=row.owner,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        etag=etag_of("file", row.id, row.revision, row.incarnation),
    )
    if row.error_reason:
        message.error.CopyFrom(common_pb2.Failure(reason=row.error_reason, message=row.error_message))
    if row.session_id:
        message.session = f"sessions/{row.session_id}"
    elif row.agent_id:
        message.agent = f"agents/{row.agent_id}"
    return message


def memory_proto(row: MemoryRow) -> memory_pb2.Memory:
    return memory_pb2.Memory(
        name=f"memories/{row.id}",
        type=memory_pb2.Memory.Type.ValueType(row.type),
        content=row.content,
        agent=names.AGENT.format(row.agent_id) if row.agent_id else "",
        session=names.SESSION.format(row.session_id) if row.session_id else "",
        labels=row.labels or {},
        metadata=dict_to_struct(row.client_metadata),
        owner=row.owner,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        expire_time=timestamp(row.expire_time),
        etag=etag_of("memory", row.id, row.revision, row.incarnation),
    )


def secret_proto(row: SecretRow) -> secret_pb2.Secret:
    """A secret as the API shows it: never its value."""
    return secret_pb2.Secret(
        name=f"secrets/{row.id}",
        display_name=row.display_name,
        labels=row.labels or {},
        owner=row.owner,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
        value_time=timestamp(row.value_time),
        etag=etag_of("secret", row.id, row.revision, row.incarnation),
    )


def batch_proto(view: Any) -> batch_pb2.Batch:
    """A batch from a domain BatchView (its row and task counts)."""
    row, counts = view.row, view.counts
    batch = batch_pb2.Batch(
        name=f"batches/{row.id}",
        display_name=row.display_name,
        state=row.state,
        input_file=row.input_file,
        options=batch_pb2.BatchOptions(
            max_concurrency=row.max_concurrency,
            timeout=duration(row.timeout_seconds),
            task_timeout=duration(row.task_timeout_seconds),
            max_attempts=row.max_attempts,
            write_output_file=bool(row.write_output_file),
        ),
        counts=batch_pb2.BatchCounts(
            total=counts.total,
            queued=counts.of(batch_pb2.BatchTask.STATUS_QUEUED),
            running=counts.of(batch_pb2.BatchTask.STATUS_RUNNING),
            requires_input=counts.of(batch_pb2.BatchTask.STATUS_REQUIRES_INPUT),
            succeeded=counts.of(batch_pb2.BatchTask.STATUS_SUCCEEDED),
            failed=counts.of(batch_pb2.BatchTask.STATUS_FAILED),
            cancelled=counts.of(batch_pb2.BatchTask.STATUS_CANCELLED),
            timed_out=counts.of(batch_pb2.BatchTask.STATUS_TIMED_OUT),
        ),
        output_file=row.output_file,
        usage=common_pb2.Usage(
            input_tokens=counts.input_tokens,
            output_tokens=counts.output_tokens,
            total_tokens=counts.input_tokens + counts.output_tokens,
        ),
        create_time=timestamp(row.create_time),
        start_time=timestamp(row.start_time),
        end_time=timestamp(row.end_time),
        update_time=timestamp(row.update_time),
        labels=row.labels or {},
        owner=row.owner,
        etag=etag_of("batch", row.id, row.revision or 1, row.incarnation),
    )
    if row.error_reason:
        batch.error.reason, batch.error.message = row.error_reason, row.error_message
    return batch


def task_proto(row: BatchTaskRow) -> batch_pb2.BatchTask:
    task = batch_pb2.BatchTask(
        name=f"batches/{row.batch_id}/tasks/{row.index}",
        custom_id=row.custom_id,
        index=row.index,
        line_number=row.line_number,
        agent=f"agents/{row.agent_id}" if row.agent_id else "",
        session=f"sessions/{row.session_id}" if row.session_id and (row.run_id or not row.own_session) else "",
        crew=names.CREW.format(row.crew_id) if row.crew_id else "",
        status=batch_pb2.BatchTask.Status.ValueType(row.status),
        run=f"runs/{row.run_id}" if row.run_id else "",
        attempts=row.attempts,
        usage=common_pb2.Usage(
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            total_tokens=row.input_tokens + row.output_tokens,
        ),
        start_time=timestamp(row.start_time),
        end_time=timestamp(row.end_time),
        update_time=timestamp(row.update_time),
    )
    if row.output:
        set_run_output(task.output, row.output, ignore_unknown_fields=True)
    if row.error_reason:
        task.error.reason, task.error.message = row.error_reason, row.error_message
    if row.duration_ms is not None:
        task.duration.FromNanoseconds(int(row.duration_ms * 1e6))
    elif row.start_time is not None:
        # A task in progress: its duration is the time elapsed so far.
        started = timestamp(row.start_time)
        assert started is not None
        task.duration.FromNanoseconds(max(time.time_ns() - started.ToNanoseconds(), 0))
    return task
