import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import client_pb2 as _client_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from runwire.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Crew(_message.Message):
    __slots__ = ("name", "display_name", "description", "members", "process", "manager", "tasks", "limits", "labels", "owner", "create_time", "update_time", "etag")
    class Process(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PROCESS_UNSPECIFIED: _ClassVar[Crew.Process]
        PROCESS_SEQUENTIAL: _ClassVar[Crew.Process]
        PROCESS_PARALLEL: _ClassVar[Crew.Process]
        PROCESS_HIERARCHICAL: _ClassVar[Crew.Process]
    PROCESS_UNSPECIFIED: Crew.Process
    PROCESS_SEQUENTIAL: Crew.Process
    PROCESS_PARALLEL: Crew.Process
    PROCESS_HIERARCHICAL: Crew.Process
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    MANAGER_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    description: str
    members: _containers.RepeatedCompositeFieldContainer[CrewMember]
    process: Crew.Process
    manager: str
    tasks: _containers.RepeatedCompositeFieldContainer[CrewTask]
    limits: CrewLimits
    labels: _containers.ScalarMap[str, str]
    owner: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., members: _Optional[_Iterable[_Union[CrewMember, _Mapping]]] = ..., process: _Optional[_Union[Crew.Process, str]] = ..., manager: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[CrewTask, _Mapping]]] = ..., limits: _Optional[_Union[CrewLimits, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class CrewMember(_message.Message):
    __slots__ = ("id", "agent", "role", "goal")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent: str
    role: str
    goal: str
    def __init__(self, id: _Optional[str] = ..., agent: _Optional[str] = ..., role: _Optional[str] = ..., goal: _Optional[str] = ...) -> None: ...

class CrewTask(_message.Message):
    __slots__ = ("id", "description", "expected_output", "member", "context", "output_schema")
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    id: str
    description: str
    expected_output: str
    member: str
    context: _containers.RepeatedScalarFieldContainer[str]
    output_schema: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., description: _Optional[str] = ..., expected_output: _Optional[str] = ..., member: _Optional[str] = ..., context: _Optional[_Iterable[str]] = ..., output_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CrewLimits(_message.Message):
    __slots__ = ("max_depth", "max_child_runs", "max_total_tokens", "max_duration", "max_parallel_tasks", "max_replans")
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    MAX_CHILD_RUNS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_FIELD_NUMBER: _ClassVar[int]
    MAX_PARALLEL_TASKS_FIELD_NUMBER: _ClassVar[int]
    MAX_REPLANS_FIELD_NUMBER: _ClassVar[int]
    max_depth: int
    max_child_runs: int
    max_total_tokens: int
    max_duration: _duration_pb2.Duration
    max_parallel_tasks: int
    max_replans: int
    def __init__(self, max_depth: _Optional[int] = ..., max_child_runs: _Optional[int] = ..., max_total_tokens: _Optional[int] = ..., max_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_parallel_tasks: _Optional[int] = ..., max_replans: _Optional[int] = ...) -> None: ...

class CrewPlan(_message.Message):
    __slots__ = ("revision", "tasks", "source")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    revision: int
    tasks: _containers.RepeatedCompositeFieldContainer[CrewPlanTask]
    source: str
    def __init__(self, revision: _Optional[int] = ..., tasks: _Optional[_Iterable[_Union[CrewPlanTask, _Mapping]]] = ..., source: _Optional[str] = ...) -> None: ...

class CrewPlanTask(_message.Message):
    __slots__ = ("id", "description", "expected_output", "member", "agent", "context", "state", "child_run", "output", "error")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[CrewPlanTask.State]
        STATE_PENDING: _ClassVar[CrewPlanTask.State]
        STATE_RUNNING: _ClassVar[CrewPlanTask.State]
        STATE_SUCCEEDED: _ClassVar[CrewPlanTask.State]
        STATE_FAILED: _ClassVar[CrewPlanTask.State]
        STATE_CANCELLED: _ClassVar[CrewPlanTask.State]
    STATE_UNSPECIFIED: CrewPlanTask.State
    STATE_PENDING: CrewPlanTask.State
    STATE_RUNNING: CrewPlanTask.State
    STATE_SUCCEEDED: CrewPlanTask.State
    STATE_FAILED: CrewPlanTask.State
    STATE_CANCELLED: CrewPlanTask.State
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHILD_RUN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    description: str
    expected_output: str
    member: str
    agent: str
    context: _containers.RepeatedScalarFieldContainer[str]
    state: CrewPlanTask.State
    child_run: str
    output: str
    error: _common_pb2.Failure
    def __init__(self, id: _Optional[str] = ..., description: _Optional[str] = ..., expected_output: _Optional[str] = ..., member: _Optional[str] = ..., agent: _Optional[str] = ..., context: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[CrewPlanTask.State, str]] = ..., child_run: _Optional[str] = ..., output: _Optional[str] = ..., error: _Optional[_Union[_common_pb2.Failure, _Mapping]] = ...) -> None: ...

class CreateCrewRequest(_message.Message):
    __slots__ = ("crew", "crew_id", "request_id", "validate_only")
    CREW_FIELD_NUMBER: _ClassVar[int]
    CREW_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    crew: Crew
    crew_id: str
    request_id: str
    validate_only: bool
    def __init__(self, crew: _Optional[_Union[Crew, _Mapping]] = ..., crew_id: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class GetCrewRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListCrewsRequest(_message.Message):
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

class ListCrewsResponse(_message.Message):
    __slots__ = ("crews", "next_page_token", "total_size")
    CREWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    crews: _containers.RepeatedCompositeFieldContainer[Crew]
    next_page_token: str
    total_size: int
    def __init__(self, crews: _Optional[_Iterable[_Union[Crew, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateCrewRequest(_message.Message):
    __slots__ = ("crew", "update_mask", "request_id", "validate_only")
    CREW_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    crew: Crew
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    validate_only: bool
    def __init__(self, crew: _Optional[_Union[Crew, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class DeleteCrewRequest(_message.Message):
    __slots__ = ("name", "etag", "request_id", "allow_missing")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    request_id: str
    allow_missing: bool
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ..., allow_missing: _Optional[bool] = ...) -> None: ...
