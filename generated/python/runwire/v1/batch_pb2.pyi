import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import client_pb2 as _client_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from runwire.v1 import common_pb2 as _common_pb2
from runwire.v1 import run_pb2 as _run_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Batch(_message.Message):
    __slots__ = ("name", "display_name", "state", "inline_tasks", "input_file", "options", "counts", "output_file", "error", "usage", "create_time", "start_time", "end_time", "update_time", "labels", "owner", "etag")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Batch.State]
        STATE_QUEUED: _ClassVar[Batch.State]
        STATE_RUNNING: _ClassVar[Batch.State]
        STATE_CANCELLING: _ClassVar[Batch.State]
        STATE_SUCCEEDED: _ClassVar[Batch.State]
        STATE_PARTIALLY_SUCCEEDED: _ClassVar[Batch.State]
        STATE_FAILED: _ClassVar[Batch.State]
        STATE_CANCELLED: _ClassVar[Batch.State]
        STATE_TIMED_OUT: _ClassVar[Batch.State]
    STATE_UNSPECIFIED: Batch.State
    STATE_QUEUED: Batch.State
    STATE_RUNNING: Batch.State
    STATE_CANCELLING: Batch.State
    STATE_SUCCEEDED: Batch.State
    STATE_PARTIALLY_SUCCEEDED: Batch.State
    STATE_FAILED: Batch.State
    STATE_CANCELLED: Batch.State
    STATE_TIMED_OUT: Batch.State
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INLINE_TASKS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FILE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    state: Batch.State
    inline_tasks: BatchInlineTasks
    input_file: str
    options: BatchOptions
    counts: BatchCounts
    output_file: str
    error: _common_pb2.Failure
    usage: _common_pb2.Usage
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    labels: _containers.ScalarMap[str, str]
    owner: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., state: _Optional[_Union[Batch.State, str]] = ..., inline_tasks: _Optional[_Union[BatchInlineTasks, _Mapping]] = ..., input_file: _Optional[str] = ..., options: _Optional[_Union[BatchOptions, _Mapping]] = ..., counts: _Optional[_Union[BatchCounts, _Mapping]] = ..., output_file: _Optional[str] = ..., error: _Optional[_Union[_common_pb2.Failure, _Mapping]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class BatchInlineTasks(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[BatchTaskInput]
    def __init__(self, tasks: _Optional[_Iterable[_Union[BatchTaskInput, _Mapping]]] = ...) -> None: ...

class BatchTaskInput(_message.Message):
    __slots__ = ("custom_id", "agent", "session", "text", "input", "crew")
    CUSTOM_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    CREW_FIELD_NUMBER: _ClassVar[int]
    custom_id: str
    agent: str
    session: str
    text: str
    input: _containers.RepeatedCompositeFieldContainer[_common_pb2.ContentPart]
    crew: str
    def __init__(self, custom_id: _Optional[str] = ..., agent: _Optional[str] = ..., session: _Optional[str] = ..., text: _Optional[str] = ..., input: _Optional[_Iterable[_Union[_common_pb2.ContentPart, _Mapping]]] = ..., crew: _Optional[str] = ...) -> None: ...

class BatchOptions(_message.Message):
    __slots__ = ("max_concurrency", "timeout", "task_timeout", "max_attempts", "write_output_file")
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    TASK_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    WRITE_OUTPUT_FILE_FIELD_NUMBER: _ClassVar[int]
    max_concurrency: int
    timeout: _duration_pb2.Duration
    task_timeout: _duration_pb2.Duration
    max_attempts: int
    write_output_file: bool
    def __init__(self, max_concurrency: _Optional[int] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., task_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_attempts: _Optional[int] = ..., write_output_file: _Optional[bool] = ...) -> None: ...

class BatchCounts(_message.Message):
    __slots__ = ("total", "queued", "running", "requires_input", "succeeded", "failed", "cancelled", "timed_out")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_INPUT_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    total: int
    queued: int
    running: int
    requires_input: int
    succeeded: int
    failed: int
    cancelled: int
    timed_out: int
    def __init__(self, total: _Optional[int] = ..., queued: _Optional[int] = ..., running: _Optional[int] = ..., requires_input: _Optional[int] = ..., succeeded: _Optional[int] = ..., failed: _Optional[int] = ..., cancelled: _Optional[int] = ..., timed_out: _Optional[int] = ...) -> None: ...

class BatchTask(_message.Message):
    __slots__ = ("name", "custom_id", "index", "line_number", "agent", "session", "status", "run", "output", "error", "attempts", "usage", "start_time", "end_time", "duration", "update_time", "crew")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[BatchTask.Status]
        STATUS_QUEUED: _ClassVar[BatchTask.Status]
        STATUS_RUNNING: _ClassVar[BatchTask.Status]
        STATUS_REQUIRES_INPUT: _ClassVar[BatchTask.Status]
        STATUS_SUCCEEDED: _ClassVar[BatchTask.Status]
        STATUS_FAILED: _ClassVar[BatchTask.Status]
        STATUS_CANCELLED: _ClassVar[BatchTask.Status]
        STATUS_TIMED_OUT: _ClassVar[BatchTask.Status]
    STATUS_UNSPECIFIED: BatchTask.Status
    STATUS_QUEUED: BatchTask.Status
    STATUS_RUNNING: BatchTask.Status
    STATUS_REQUIRES_INPUT: BatchTask.Status
    STATUS_SUCCEEDED: BatchTask.Status
    STATUS_FAILED: BatchTask.Status
    STATUS_CANCELLED: BatchTask.Status
    STATUS_TIMED_OUT: BatchTask.Status
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LINE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREW_FIELD_NUMBER: _ClassVar[int]
    name: str
    custom_id: str
    index: int
    line_number: int
    agent: str
    session: str
    status: BatchTask.Status
    run: str
    output: _run_pb2.RunOutput
    error: _common_pb2.Failure
    attempts: int
    usage: _common_pb2.Usage
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    update_time: _timestamp_pb2.Timestamp
    crew: str
    def __init__(self, name: _Optional[str] = ..., custom_id: _Optional[str] = ..., index: _Optional[int] = ..., line_number: _Optional[int] = ..., agent: _Optional[str] = ..., session: _Optional[str] = ..., status: _Optional[_Union[BatchTask.Status, str]] = ..., run: _Optional[str] = ..., output: _Optional[_Union[_run_pb2.RunOutput, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.Failure, _Mapping]] = ..., attempts: _Optional[int] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., crew: _Optional[str] = ...) -> None: ...

class CreateBatchRequest(_message.Message):
    __slots__ = ("batch", "batch_id", "request_id", "validate_only")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    batch_id: str
    request_id: str
    validate_only: bool
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., batch_id: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class GetBatchRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListBatchesRequest(_message.Message):
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

class ListBatchesResponse(_message.Message):
    __slots__ = ("batches", "next_page_token", "total_size")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    batches: _containers.RepeatedCompositeFieldContainer[Batch]
    next_page_token: str
    total_size: int
    def __init__(self, batches: _Optional[_Iterable[_Union[Batch, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class CancelBatchRequest(_message.Message):
    __slots__ = ("name", "etag", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListBatchTasksRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "filter", "order_by")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListBatchTasksResponse(_message.Message):
    __slots__ = ("tasks", "next_page_token", "total_size")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[BatchTask]
    next_page_token: str
    total_size: int
    def __init__(self, tasks: _Optional[_Iterable[_Union[BatchTask, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetBatchTaskRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchBatchRequest(_message.Message):
    __slots__ = ("name", "include_tasks", "min_interval")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TASKS_FIELD_NUMBER: _ClassVar[int]
    MIN_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    include_tasks: bool
    min_interval: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., include_tasks: _Optional[bool] = ..., min_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WatchBatchResponse(_message.Message):
    __slots__ = ("batch", "changed_tasks")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    CHANGED_TASKS_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    changed_tasks: _containers.RepeatedCompositeFieldContainer[BatchTask]
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., changed_tasks: _Optional[_Iterable[_Union[BatchTask, _Mapping]]] = ...) -> None: ...
