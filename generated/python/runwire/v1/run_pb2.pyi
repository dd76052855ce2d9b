import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import client_pb2 as _client_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from runwire.v1 import common_pb2 as _common_pb2
from runwire.v1 import crew_pb2 as _crew_pb2
from runwire.v1 import message_pb2 as _message_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Run(_message.Message):
    __slots__ = ("name", "session", "agent", "status", "input", "options", "output", "steps", "pending_input", "usage", "create_time", "start_time", "end_time", "time_to_first_token", "duration", "error", "last_seq", "labels", "owner", "etag", "request_id", "update_time", "batch_task", "crew", "parent_run", "root_run", "depth", "crew_task", "crew_member", "crew_plan")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Run.Status]
        STATUS_QUEUED: _ClassVar[Run.Status]
        STATUS_RUNNING: _ClassVar[Run.Status]
        STATUS_REQUIRES_INPUT: _ClassVar[Run.Status]
        STATUS_SUCCEEDED: _ClassVar[Run.Status]
        STATUS_FAILED: _ClassVar[Run.Status]
        STATUS_CANCELLED: _ClassVar[Run.Status]
        STATUS_TIMED_OUT: _ClassVar[Run.Status]
    STATUS_UNSPECIFIED: Run.Status
    STATUS_QUEUED: Run.Status
    STATUS_RUNNING: Run.Status
    STATUS_REQUIRES_INPUT: Run.Status
    STATUS_SUCCEEDED: Run.Status
    STATUS_FAILED: Run.Status
    STATUS_CANCELLED: Run.Status
    STATUS_TIMED_OUT: Run.Status
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    PENDING_INPUT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    BATCH_TASK_FIELD_NUMBER: _ClassVar[int]
    CREW_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_FIELD_NUMBER: _ClassVar[int]
    ROOT_RUN_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    CREW_TASK_FIELD_NUMBER: _ClassVar[int]
    CREW_MEMBER_FIELD_NUMBER: _ClassVar[int]
    CREW_PLAN_FIELD_NUMBER: _ClassVar[int]
    name: str
    session: str
    agent: str
    status: Run.Status
    input: _containers.RepeatedCompositeFieldContainer[_common_pb2.ContentPart]
    options: RunOptions
    output: RunOutput
    steps: _containers.RepeatedCompositeFieldContainer[RunStep]
    pending_input: InputRequest
    usage: _common_pb2.Usage
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    time_to_first_token: _duration_pb2.Duration
    duration: _duration_pb2.Duration
    error: _common_pb2.Failure
    last_seq: int
    labels: _containers.ScalarMap[str, str]
    owner: str
    etag: str
    request_id: str
    update_time: _timestamp_pb2.Timestamp
    batch_task: str
    crew: str
    parent_run: str
    root_run: str
    depth: int
    crew_task: str
    crew_member: str
    crew_plan: _crew_pb2.CrewPlan
    def __init__(self, name: _Optional[str] = ..., session: _Optional[str] = ..., agent: _Optional[str] = ..., status: _Optional[_Union[Run.Status, str]] = ..., input: _Optional[_Iterable[_Union[_common_pb2.ContentPart, _Mapping]]] = ..., options: _Optional[_Union[RunOptions, _Mapping]] = ..., output: _Optional[_Union[RunOutput, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[RunStep, _Mapping]]] = ..., pending_input: _Optional[_Union[InputRequest, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., time_to_first_token: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.Failure, _Mapping]] = ..., last_seq: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., batch_task: _Optional[str] = ..., crew: _Optional[str] = ..., parent_run: _Optional[str] = ..., root_run: _Optional[str] = ..., depth: _Optional[int] = ..., crew_task: _Optional[str] = ..., crew_member: _Optional[str] = ..., crew_plan: _Optional[_Union[_crew_pb2.CrewPlan, _Mapping]] = ...) -> None: ...

class RunOptions(_message.Message):
    __slots__ = ("max_steps", "max_duration", "input_timeout", "additional_instructions")
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_FIELD_NUMBER: _ClassVar[int]
    INPUT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    max_steps: int
    max_duration: _duration_pb2.Duration
    input_timeout: _duration_pb2.Duration
    additional_instructions: str
    def __init__(self, max_steps: _Optional[int] = ..., max_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., input_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., additional_instructions: _Optional[str] = ...) -> None: ...

class RunOutput(_message.Message):
    __slots__ = ("text", "parts", "message")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    text: str
    parts: _containers.RepeatedCompositeFieldContainer[_common_pb2.ContentPart]
    message: str
    def __init__(self, text: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[_common_pb2.ContentPart, _Mapping]]] = ..., message: _Optional[str] = ...) -> None: ...

class RunStep(_message.Message):
    __slots__ = ("index", "model_call", "tool_calls", "usage", "start_time", "end_time", "duration")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MODEL_CALL_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    index: int
    model_call: ModelCall
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolExecution]
    usage: _common_pb2.Usage
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    def __init__(self, index: _Optional[int] = ..., model_call: _Optional[_Union[ModelCall, _Mapping]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolExecution, _Mapping]]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ModelCall(_message.Message):
    __slots__ = ("provider", "model", "finish_reason", "text", "message", "time_to_first_token", "duration", "attempts")
    class FinishReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FINISH_REASON_UNSPECIFIED: _ClassVar[ModelCall.FinishReason]
        FINISH_REASON_STOP: _ClassVar[ModelCall.FinishReason]
        FINISH_REASON_TOOL_CALLS: _ClassVar[ModelCall.FinishReason]
        FINISH_REASON_LENGTH: _ClassVar[ModelCall.FinishReason]
        FINISH_REASON_CONTENT_FILTER: _ClassVar[ModelCall.FinishReason]
        FINISH_REASON_INTERRUPTED: _ClassVar[ModelCall.FinishReason]
    FINISH_REASON_UNSPECIFIED: ModelCall.FinishReason
    FINISH_REASON_STOP: ModelCall.FinishReason
    FINISH_REASON_TOOL_CALLS: ModelCall.FinishReason
    FINISH_REASON_LENGTH: ModelCall.FinishReason
    FINISH_REASON_CONTENT_FILTER: ModelCall.FinishReason
    FINISH_REASON_INTERRUPTED: ModelCall.FinishReason
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    finish_reason: ModelCall.FinishReason
    text: str
    message: str
    time_to_first_token: _duration_pb2.Duration
    duration: _duration_pb2.Duration
    attempts: int
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., finish_reason: _Optional[_Union[ModelCall.FinishReason, str]] = ..., text: _Optional[str] = ..., message: _Optional[str] = ..., time_to_first_token: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., attempts: _Optional[int] = ...) -> None: ...

class ToolExecution(_message.Message):
    __slots__ = ("call", "result", "state", "required_approval", "original_arguments", "decided_by", "start_time", "end_time", "duration")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[ToolExecution.State]
        STATE_AWAITING_APPROVAL: _ClassVar[ToolExecution.State]
        STATE_RUNNING: _ClassVar[ToolExecution.State]
        STATE_SUCCEEDED: _ClassVar[ToolExecution.State]
        STATE_FAILED: _ClassVar[ToolExecution.State]
        STATE_DENIED: _ClassVar[ToolExecution.State]
        STATE_CANCELLED: _ClassVar[ToolExecution.State]
        STATE_TIMED_OUT: _ClassVar[ToolExecution.State]
    STATE_UNSPECIFIED: ToolExecution.State
    STATE_AWAITING_APPROVAL: ToolExecution.State
    STATE_RUNNING: ToolExecution.State
    STATE_SUCCEEDED: ToolExecution.State
    STATE_FAILED: ToolExecution.State
    STATE_DENIED: ToolExecution.State
    STATE_CANCELLED: ToolExecution.State
    STATE_TIMED_OUT: ToolExecution.State
    CALL_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    call: _common_pb2.ToolCall
    result: _common_pb2.ToolResult
    state: ToolExecution.State
    required_approval: bool
    original_arguments: _struct_pb2.Struct
    decided_by: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    def __init__(self, call: _Optional[_Union[_common_pb2.ToolCall, _Mapping]] = ..., result: _Optional[_Union[_common_pb2.ToolResult, _Mapping]] = ..., state: _Optional[_Union[ToolExecution.State, str]] = ..., required_approval: _Optional[bool] = ..., original_arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., decided_by: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class InputRequest(_message.Message):
    __slots__ = ("id", "run", "kind", "tool_call", "prompt", "create_time", "expire_time")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[InputRequest.Kind]
        KIND_APPROVAL: _ClassVar[InputRequest.Kind]
        KIND_QUESTION: _ClassVar[InputRequest.Kind]
    KIND_UNSPECIFIED: InputRequest.Kind
    KIND_APPROVAL: InputRequest.Kind
    KIND_QUESTION: InputRequest.Kind
    ID_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    run: str
    kind: InputRequest.Kind
    tool_call: _common_pb2.ToolCall
    prompt: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., run: _Optional[str] = ..., kind: _Optional[_Union[InputRequest.Kind, str]] = ..., tool_call: _Optional[_Union[_common_pb2.ToolCall, _Mapping]] = ..., prompt: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Approval(_message.Message):
    __slots__ = ("decision", "edited_arguments", "reason")
    class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DECISION_UNSPECIFIED: _ClassVar[Approval.Decision]
        DECISION_APPROVE: _ClassVar[Approval.Decision]
        DECISION_DENY: _ClassVar[Approval.Decision]
    DECISION_UNSPECIFIED: Approval.Decision
    DECISION_APPROVE: Approval.Decision
    DECISION_DENY: Approval.Decision
    DECISION_FIELD_NUMBER: _ClassVar[int]
    EDITED_ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    decision: Approval.Decision
    edited_arguments: _struct_pb2.Struct
    reason: str
    def __init__(self, decision: _Optional[_Union[Approval.Decision, str]] = ..., edited_arguments: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ExecuteAgentRequest(_message.Message):
    __slots__ = ("session", "input", "options", "cancel_on_disconnect", "request_id", "labels", "crew")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SESSION_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ON_DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CREW_FIELD_NUMBER: _ClassVar[int]
    session: str
    input: _containers.RepeatedCompositeFieldContainer[_common_pb2.ContentPart]
    options: RunOptions
    cancel_on_disconnect: bool
    request_id: str
    labels: _containers.ScalarMap[str, str]
    crew: str
    def __init__(self, session: _Optional[str] = ..., input: _Optional[_Iterable[_Union[_common_pb2.ContentPart, _Mapping]]] = ..., options: _Optional[_Union[RunOptions, _Mapping]] = ..., cancel_on_disconnect: _Optional[bool] = ..., request_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., crew: _Optional[str] = ...) -> None: ...

class StreamTokensRequest(_message.Message):
    __slots__ = ("session", "input", "options", "cancel_on_disconnect", "request_id", "labels", "crew")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SESSION_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ON_DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CREW_FIELD_NUMBER: _ClassVar[int]
    session: str
    input: _containers.RepeatedCompositeFieldContainer[_common_pb2.ContentPart]
    options: RunOptions
    cancel_on_disconnect: bool
    request_id: str
    labels: _containers.ScalarMap[str, str]
    crew: str
    def __init__(self, session: _Optional[str] = ..., input: _Optional[_Iterable[_Union[_common_pb2.ContentPart, _Mapping]]] = ..., options: _Optional[_Union[RunOptions, _Mapping]] = ..., cancel_on_disconnect: _Optional[bool] = ..., request_id: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., crew: _Optional[str] = ...) -> None: ...

class StreamTokensResponse(_message.Message):
    __slots__ = ("text", "seq", "final")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    text: str
    seq: int
    final: bool
    def __init__(self, text: _Optional[str] = ..., seq: _Optional[int] = ..., final: _Optional[bool] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ("run", "run_id", "request_id", "validate_only")
    RUN_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    run: Run
    run_id: str
    request_id: str
    validate_only: bool
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ..., run_id: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class StreamRunEventsRequest(_message.Message):
    __slots__ = ("run", "after_seq")
    RUN_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    run: str
    after_seq: int
    def __init__(self, run: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("name", "reason", "etag", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    etag: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "order_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_page_token", "total_size", "metrics")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    next_page_token: str
    total_size: int
    metrics: RunMetrics
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ..., metrics: _Optional[_Union[RunMetrics, _Mapping]] = ...) -> None: ...

class RunMetrics(_message.Message):
    __slots__ = ("run_count", "queued_count", "running_count", "requires_input_count", "succeeded_count", "failed_count", "cancelled_count", "timed_out_count", "usage", "duration_p50", "duration_p95", "time_to_first_token_p50", "time_to_first_token_p95", "tool_call_count")
    RUN_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUEUED_COUNT_FIELD_NUMBER: _ClassVar[int]
    RUNNING_COUNT_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_INPUT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_COUNT_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_COUNT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    DURATION_P50_FIELD_NUMBER: _ClassVar[int]
    DURATION_P95_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_P50_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_P95_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_COUNT_FIELD_NUMBER: _ClassVar[int]
    run_count: int
    queued_count: int
    running_count: int
    requires_input_count: int
    succeeded_count: int
    failed_count: int
    cancelled_count: int
    timed_out_count: int
    usage: _common_pb2.Usage
    duration_p50: _duration_pb2.Duration
    duration_p95: _duration_pb2.Duration
    time_to_first_token_p50: _duration_pb2.Duration
    time_to_first_token_p95: _duration_pb2.Duration
    tool_call_count: int
    def __init__(self, run_count: _Optional[int] = ..., queued_count: _Optional[int] = ..., running_count: _Optional[int] = ..., requires_input_count: _Optional[int] = ..., succeeded_count: _Optional[int] = ..., failed_count: _Optional[int] = ..., cancelled_count: _Optional[int] = ..., timed_out_count: _Optional[int] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., duration_p50: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., duration_p95: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., time_to_first_token_p50: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., time_to_first_token_p95: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., tool_call_count: _Optional[int] = ...) -> None: ...

class SubmitInputRequest(_message.Message):
    __slots__ = ("name", "input_request_id", "approval", "text", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    input_request_id: str
    approval: Approval
    text: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., input_request_id: _Optional[str] = ..., approval: _Optional[_Union[Approval, _Mapping]] = ..., text: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("run", "seq", "create_time", "run_created", "run_started", "text_delta", "message_created", "tool_call_started", "tool_call_completed", "input_required", "input_received", "step_completed", "usage_updated", "run_completed", "run_failed", "run_cancelled", "run_timed_out", "crew_plan_updated", "child_run_event", "run_handed_over")
    RUN_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RUN_CREATED_FIELD_NUMBER: _ClassVar[int]
    RUN_STARTED_FIELD_NUMBER: _ClassVar[int]
    TEXT_DELTA_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_CREATED_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_STARTED_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    INPUT_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    INPUT_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    STEP_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    USAGE_UPDATED_FIELD_NUMBER: _ClassVar[int]
    RUN_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    RUN_FAILED_FIELD_NUMBER: _ClassVar[int]
    RUN_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    RUN_TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    CREW_PLAN_UPDATED_FIELD_NUMBER: _ClassVar[int]
    CHILD_RUN_EVENT_FIELD_NUMBER: _ClassVar[int]
    RUN_HANDED_OVER_FIELD_NUMBER: _ClassVar[int]
    run: str
    seq: int
    create_time: _timestamp_pb2.Timestamp
    run_created: RunCreated
    run_started: RunStarted
    text_delta: TextDelta
    message_created: MessageCreated
    tool_call_started: ToolCallStarted
    tool_call_completed: ToolCallCompleted
    input_required: InputRequired
    input_received: InputReceived
    step_completed: StepCompleted
    usage_updated: UsageUpdated
    run_completed: RunCompleted
    run_failed: RunFailed
    run_cancelled: RunCancelled
    run_timed_out: RunTimedOut
    crew_plan_updated: CrewPlanUpdated
    child_run_event: ChildRunEvent
    run_handed_over: RunHandedOver
    def __init__(self, run: _Optional[str] = ..., seq: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., run_created: _Optional[_Union[RunCreated, _Mapping]] = ..., run_started: _Optional[_Union[RunStarted, _Mapping]] = ..., text_delta: _Optional[_Union[TextDelta, _Mapping]] = ..., message_created: _Optional[_Union[MessageCreated, _Mapping]] = ..., tool_call_started: _Optional[_Union[ToolCallStarted, _Mapping]] = ..., tool_call_completed: _Optional[_Union[ToolCallCompleted, _Mapping]] = ..., input_required: _Optional[_Union[InputRequired, _Mapping]] = ..., input_received: _Optional[_Union[InputReceived, _Mapping]] = ..., step_completed: _Optional[_Union[StepCompleted, _Mapping]] = ..., usage_updated: _Optional[_Union[UsageUpdated, _Mapping]] = ..., run_completed: _Optional[_Union[RunCompleted, _Mapping]] = ..., run_failed: _Optional[_Union[RunFailed, _Mapping]] = ..., run_cancelled: _Optional[_Union[RunCancelled, _Mapping]] = ..., run_timed_out: _Optional[_Union[RunTimedOut, _Mapping]] = ..., crew_plan_updated: _Optional[_Union[CrewPlanUpdated, _Mapping]] = ..., child_run_event: _Optional[_Union[ChildRunEvent, _Mapping]] = ..., run_handed_over: _Optional[_Union[RunHandedOver, _Mapping]] = ...) -> None: ...

class RunCreated(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class RunStarted(_message.Message):
    __slots__ = ("provider", "model", "queue_duration")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DURATION_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    queue_duration: _duration_pb2.Duration
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., queue_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class TextDelta(_message.Message):
    __slots__ = ("text", "step_index")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    text: str
    step_index: int
    def __init__(self, text: _Optional[str] = ..., step_index: _Optional[int] = ...) -> None: ...

class MessageCreated(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: _message_pb2.Message
    def __init__(self, message: _Optional[_Union[_message_pb2.Message, _Mapping]] = ...) -> None: ...

class ToolCallStarted(_message.Message):
    __slots__ = ("tool_call", "step_index")
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    tool_call: _common_pb2.ToolCall
    step_index: int
    def __init__(self, tool_call: _Optional[_Union[_common_pb2.ToolCall, _Mapping]] = ..., step_index: _Optional[int] = ...) -> None: ...

class ToolCallCompleted(_message.Message):
    __slots__ = ("result", "tool", "state", "duration", "step_index")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    result: _common_pb2.ToolResult
    tool: str
    state: ToolExecution.State
    duration: _duration_pb2.Duration
    step_index: int
    def __init__(self, result: _Optional[_Union[_common_pb2.ToolResult, _Mapping]] = ..., tool: _Optional[str] = ..., state: _Optional[_Union[ToolExecution.State, str]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., step_index: _Optional[int] = ...) -> None: ...

class InputRequired(_message.Message):
    __slots__ = ("input_request",)
    INPUT_REQUEST_FIELD_NUMBER: _ClassVar[int]
    input_request: InputRequest
    def __init__(self, input_request: _Optional[_Union[InputRequest, _Mapping]] = ...) -> None: ...

class InputReceived(_message.Message):
    __slots__ = ("input_request_id", "approval", "text", "answered_by")
    INPUT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_BY_FIELD_NUMBER: _ClassVar[int]
    input_request_id: str
    approval: Approval
    text: str
    answered_by: str
    def __init__(self, input_request_id: _Optional[str] = ..., approval: _Optional[_Union[Approval, _Mapping]] = ..., text: _Optional[str] = ..., answered_by: _Optional[str] = ...) -> None: ...

class StepCompleted(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: RunStep
    def __init__(self, step: _Optional[_Union[RunStep, _Mapping]] = ...) -> None: ...

class UsageUpdated(_message.Message):
    __slots__ = ("usage",)
    USAGE_FIELD_NUMBER: _ClassVar[int]
    usage: _common_pb2.Usage
    def __init__(self, usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ...) -> None: ...

class RunCompleted(_message.Message):
    __slots__ = ("output", "usage", "duration", "time_to_first_token")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    output: RunOutput
    usage: _common_pb2.Usage
    duration: _duration_pb2.Duration
    time_to_first_token: _duration_pb2.Duration
    def __init__(self, output: _Optional[_Union[RunOutput, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., time_to_first_token: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RunFailed(_message.Message):
    __slots__ = ("error",)
    ERROR_FIELD_NUMBER: _ClassVar[int]
    error: _common_pb2.Failure
    def __init__(self, error: _Optional[_Union[_common_pb2.Failure, _Mapping]] = ...) -> None: ...

class RunCancelled(_message.Message):
    __slots__ = ("reason", "cancelled_by")
    REASON_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_FIELD_NUMBER: _ClassVar[int]
    reason: str
    cancelled_by: str
    def __init__(self, reason: _Optional[str] = ..., cancelled_by: _Optional[str] = ...) -> None: ...

class RunTimedOut(_message.Message):
    __slots__ = ("max_duration",)
    MAX_DURATION_FIELD_NUMBER: _ClassVar[int]
    max_duration: _duration_pb2.Duration
    def __init__(self, max_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CrewPlanUpdated(_message.Message):
    __slots__ = ("plan", "reason")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    plan: _crew_pb2.CrewPlan
    reason: str
    def __init__(self, plan: _Optional[_Union[_crew_pb2.CrewPlan, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ChildRunEvent(_message.Message):
    __slots__ = ("run", "parent_run", "depth", "crew_member", "crew_task", "agent", "event")
    RUN_FIELD_NUMBER: _ClassVar[int]
    PARENT_RUN_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    CREW_MEMBER_FIELD_NUMBER: _ClassVar[int]
    CREW_TASK_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    run: str
    parent_run: str
    depth: int
    crew_member: str
    crew_task: str
    agent: str
    event: RunEvent
    def __init__(self, run: _Optional[str] = ..., parent_run: _Optional[str] = ..., depth: _Optional[int] = ..., crew_member: _Optional[str] = ..., crew_task: _Optional[str] = ..., agent: _Optional[str] = ..., event: _Optional[_Union[RunEvent, _Mapping]] = ...) -> None: ...

class RunHandedOver(_message.Message):
    __slots__ = ("agent", "child_run", "message")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    CHILD_RUN_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    agent: str
    child_run: str
    message: str
    def __init__(self, agent: _Optional[str] = ..., child_run: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
