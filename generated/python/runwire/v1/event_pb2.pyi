import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from runwire.v1 import agent_pb2 as _agent_pb2
from runwire.v1 import batch_pb2 as _batch_pb2
from runwire.v1 import crew_pb2 as _crew_pb2
from runwire.v1 import file_pb2 as _file_pb2
from runwire.v1 import mcp_server_pb2 as _mcp_server_pb2
from runwire.v1 import memory_pb2 as _memory_pb2
from runwire.v1 import message_pb2 as _message_pb2
from runwire.v1 import run_pb2 as _run_pb2
from runwire.v1 import session_pb2 as _session_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventTopic(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TOPIC_UNSPECIFIED: _ClassVar[EventTopic]
    EVENT_TOPIC_AGENTS: _ClassVar[EventTopic]
    EVENT_TOPIC_SESSIONS: _ClassVar[EventTopic]
    EVENT_TOPIC_MESSAGES: _ClassVar[EventTopic]
    EVENT_TOPIC_RUNS: _ClassVar[EventTopic]
    EVENT_TOPIC_RUN_EVENTS: _ClassVar[EventTopic]
    EVENT_TOPIC_FILES: _ClassVar[EventTopic]
    EVENT_TOPIC_BATCHES: _ClassVar[EventTopic]
    EVENT_TOPIC_MEMORIES: _ClassVar[EventTopic]
    EVENT_TOPIC_MCP_SERVERS: _ClassVar[EventTopic]
    EVENT_TOPIC_NOTIFICATIONS: _ClassVar[EventTopic]
    EVENT_TOPIC_CREWS: _ClassVar[EventTopic]
EVENT_TOPIC_UNSPECIFIED: EventTopic
EVENT_TOPIC_AGENTS: EventTopic
EVENT_TOPIC_SESSIONS: EventTopic
EVENT_TOPIC_MESSAGES: EventTopic
EVENT_TOPIC_RUNS: EventTopic
EVENT_TOPIC_RUN_EVENTS: EventTopic
EVENT_TOPIC_FILES: EventTopic
EVENT_TOPIC_BATCHES: EventTopic
EVENT_TOPIC_MEMORIES: EventTopic
EVENT_TOPIC_MCP_SERVERS: EventTopic
EVENT_TOPIC_NOTIFICATIONS: EventTopic
EVENT_TOPIC_CREWS: EventTopic

class Event(_message.Message):
    __slots__ = ("cursor", "topic", "type", "resource", "create_time", "principal", "agent", "session", "message", "run", "run_event", "file", "batch", "batch_task", "memory", "mcp_server", "notification", "server_request", "crew")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    RUN_EVENT_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_TASK_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    SERVER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    CREW_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    topic: EventTopic
    type: str
    resource: str
    create_time: _timestamp_pb2.Timestamp
    principal: str
    agent: _agent_pb2.Agent
    session: _session_pb2.Session
    message: _message_pb2.Message
    run: _run_pb2.Run
    run_event: _run_pb2.RunEvent
    file: _file_pb2.File
    batch: _batch_pb2.Batch
    batch_task: _batch_pb2.BatchTask
    memory: _memory_pb2.Memory
    mcp_server: _mcp_server_pb2.McpServer
    notification: Notification
    server_request: ServerRequest
    crew: _crew_pb2.Crew
    def __init__(self, cursor: _Optional[str] = ..., topic: _Optional[_Union[EventTopic, str]] = ..., type: _Optional[str] = ..., resource: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., principal: _Optional[str] = ..., agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., session: _Optional[_Union[_session_pb2.Session, _Mapping]] = ..., message: _Optional[_Union[_message_pb2.Message, _Mapping]] = ..., run: _Optional[_Union[_run_pb2.Run, _Mapping]] = ..., run_event: _Optional[_Union[_run_pb2.RunEvent, _Mapping]] = ..., file: _Optional[_Union[_file_pb2.File, _Mapping]] = ..., batch: _Optional[_Union[_batch_pb2.Batch, _Mapping]] = ..., batch_task: _Optional[_Union[_batch_pb2.BatchTask, _Mapping]] = ..., memory: _Optional[_Union[_memory_pb2.Memory, _Mapping]] = ..., mcp_server: _Optional[_Union[_mcp_server_pb2.McpServer, _Mapping]] = ..., notification: _Optional[_Union[Notification, _Mapping]] = ..., server_request: _Optional[_Union[ServerRequest, _Mapping]] = ..., crew: _Optional[_Union[_crew_pb2.Crew, _Mapping]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("topics", "resources", "types", "cursor", "from_now", "from_beginning_of_retention", "subscription_name", "all_principals")
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    FROM_NOW_FIELD_NUMBER: _ClassVar[int]
    FROM_BEGINNING_OF_RETENTION_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_NAME_FIELD_NUMBER: _ClassVar[int]
    ALL_PRINCIPALS_FIELD_NUMBER: _ClassVar[int]
    topics: _containers.RepeatedScalarFieldContainer[EventTopic]
    resources: _containers.RepeatedScalarFieldContainer[str]
    types: _containers.RepeatedScalarFieldContainer[str]
    cursor: str
    from_now: bool
    from_beginning_of_retention: bool
    subscription_name: str
    all_principals: bool
    def __init__(self, topics: _Optional[_Iterable[_Union[EventTopic, str]]] = ..., resources: _Optional[_Iterable[str]] = ..., types: _Optional[_Iterable[str]] = ..., cursor: _Optional[str] = ..., from_now: _Optional[bool] = ..., from_beginning_of_retention: _Optional[bool] = ..., subscription_name: _Optional[str] = ..., all_principals: _Optional[bool] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("event", "caught_up", "heartbeat")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    event: Event
    caught_up: CaughtUp
    heartbeat: Heartbeat
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ..., caught_up: _Optional[_Union[CaughtUp, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class CaughtUp(_message.Message):
    __slots__ = ("subscription_id", "cursor")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    cursor: str
    def __init__(self, subscription_id: _Optional[str] = ..., cursor: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("cursor", "server_time")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    server_time: _timestamp_pb2.Timestamp
    def __init__(self, cursor: _Optional[str] = ..., server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AcknowledgeEventsRequest(_message.Message):
    __slots__ = ("subscription_name", "cursor", "request_id")
    SUBSCRIPTION_NAME_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    subscription_name: str
    cursor: str
    request_id: str
    def __init__(self, subscription_name: _Optional[str] = ..., cursor: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AcknowledgeEventsResponse(_message.Message):
    __slots__ = ("subscription_name", "cursor")
    SUBSCRIPTION_NAME_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    subscription_name: str
    cursor: str
    def __init__(self, subscription_name: _Optional[str] = ..., cursor: _Optional[str] = ...) -> None: ...

class ConnectRequest(_message.Message):
    __slots__ = ("correlation_id", "hello", "subscribe", "unsubscribe", "ping", "pong", "ack", "response", "notification_ack")
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ACK_FIELD_NUMBER: _ClassVar[int]
    correlation_id: str
    hello: ConnectHello
    subscribe: SubscribeRequest
    unsubscribe: Unsubscribe
    ping: Ping
    pong: Pong
    ack: EventAck
    response: ServerRequestAnswer
    notification_ack: NotificationAck
    def __init__(self, correlation_id: _Optional[str] = ..., hello: _Optional[_Union[ConnectHello, _Mapping]] = ..., subscribe: _Optional[_Union[SubscribeRequest, _Mapping]] = ..., unsubscribe: _Optional[_Union[Unsubscribe, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., ack: _Optional[_Union[EventAck, _Mapping]] = ..., response: _Optional[_Union[ServerRequestAnswer, _Mapping]] = ..., notification_ack: _Optional[_Union[NotificationAck, _Mapping]] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("correlation_id", "connected", "subscribed", "unsubscribed", "event", "caught_up", "pong", "ping", "request", "request_resolved", "notification", "going_away", "error")
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    REQUEST_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    GOING_AWAY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    correlation_id: str
    connected: Connected
    subscribed: Subscribed
    unsubscribed: Unsubscribed
    event: SubscriptionEvent
    caught_up: CaughtUp
    pong: Pong
    ping: Ping
    request: ServerRequest
    request_resolved: RequestResolved
    notification: Notification
    going_away: GoingAway
    error: _status_pb2.Status
    def __init__(self, correlation_id: _Optional[str] = ..., connected: _Optional[_Union[Connected, _Mapping]] = ..., subscribed: _Optional[_Union[Subscribed, _Mapping]] = ..., unsubscribed: _Optional[_Union[Unsubscribed, _Mapping]] = ..., event: _Optional[_Union[SubscriptionEvent, _Mapping]] = ..., caught_up: _Optional[_Union[CaughtUp, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ..., request: _Optional[_Union[ServerRequest, _Mapping]] = ..., request_resolved: _Optional[_Union[RequestResolved, _Mapping]] = ..., notification: _Optional[_Union[Notification, _Mapping]] = ..., going_away: _Optional[_Union[GoingAway, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class ConnectHello(_message.Message):
    __slots__ = ("client_name", "client_version", "accept_input_requests")
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_INPUT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    client_name: str
    client_version: str
    accept_input_requests: bool
    def __init__(self, client_name: _Optional[str] = ..., client_version: _Optional[str] = ..., accept_input_requests: _Optional[bool] = ...) -> None: ...

class Unsubscribe(_message.Message):
    __slots__ = ("subscription_id",)
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    def __init__(self, subscription_id: _Optional[str] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ("nonce",)
    NONCE_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    def __init__(self, nonce: _Optional[str] = ...) -> None: ...

class Pong(_message.Message):
    __slots__ = ("nonce",)
    NONCE_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    def __init__(self, nonce: _Optional[str] = ...) -> None: ...

class EventAck(_message.Message):
    __slots__ = ("subscription_id", "cursor")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    cursor: str
    def __init__(self, subscription_id: _Optional[str] = ..., cursor: _Optional[str] = ...) -> None: ...

class NotificationAck(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ServerRequestAnswer(_message.Message):
    __slots__ = ("server_request_id", "approval", "text", "data", "request_id")
    SERVER_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_request_id: str
    approval: _run_pb2.Approval
    text: str
    data: _struct_pb2.Struct
    request_id: str
    def __init__(self, server_request_id: _Optional[str] = ..., approval: _Optional[_Union[_run_pb2.Approval, _Mapping]] = ..., text: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class Connected(_message.Message):
    __slots__ = ("connection_id", "principal", "heartbeat_interval", "max_subscriptions", "server_time", "server_version")
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    MAX_SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    principal: str
    heartbeat_interval: _duration_pb2.Duration
    max_subscriptions: int
    server_time: _timestamp_pb2.Timestamp
    server_version: str
    def __init__(self, connection_id: _Optional[str] = ..., principal: _Optional[str] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_subscriptions: _Optional[int] = ..., server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., server_version: _Optional[str] = ...) -> None: ...

class Subscribed(_message.Message):
    __slots__ = ("subscription_id", "subscription_name", "start_cursor")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_NAME_FIELD_NUMBER: _ClassVar[int]
    START_CURSOR_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    subscription_name: str
    start_cursor: str
    def __init__(self, subscription_id: _Optional[str] = ..., subscription_name: _Optional[str] = ..., start_cursor: _Optional[str] = ...) -> None: ...

class Unsubscribed(_message.Message):
    __slots__ = ("subscription_id", "last_cursor")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_CURSOR_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    last_cursor: str
    def __init__(self, subscription_id: _Optional[str] = ..., last_cursor: _Optional[str] = ...) -> None: ...

class SubscriptionEvent(_message.Message):
    __slots__ = ("subscription_id", "event")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    event: Event
    def __init__(self, subscription_id: _Optional[str] = ..., event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class ServerRequest(_message.Message):
    __slots__ = ("id", "create_time", "expire_time", "input_request", "message_request")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    INPUT_REQUEST_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_REQUEST_FIELD_NUMBER: _ClassVar[int]
    id: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    input_request: _run_pb2.InputRequest
    message_request: Notification
    def __init__(self, id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., input_request: _Optional[_Union[_run_pb2.InputRequest, _Mapping]] = ..., message_request: _Optional[_Union[Notification, _Mapping]] = ...) -> None: ...

class RequestResolved(_message.Message):
    __slots__ = ("server_request_id", "outcome", "answered_by")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[RequestResolved.Outcome]
        OUTCOME_ANSWERED: _ClassVar[RequestResolved.Outcome]
        OUTCOME_EXPIRED: _ClassVar[RequestResolved.Outcome]
        OUTCOME_WITHDRAWN: _ClassVar[RequestResolved.Outcome]
    OUTCOME_UNSPECIFIED: RequestResolved.Outcome
    OUTCOME_ANSWERED: RequestResolved.Outcome
    OUTCOME_EXPIRED: RequestResolved.Outcome
    OUTCOME_WITHDRAWN: RequestResolved.Outcome
    SERVER_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_BY_FIELD_NUMBER: _ClassVar[int]
    server_request_id: str
    outcome: RequestResolved.Outcome
    answered_by: str
    def __init__(self, server_request_id: _Optional[str] = ..., outcome: _Optional[_Union[RequestResolved.Outcome, str]] = ..., answered_by: _Optional[str] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("level", "text", "resource", "create_time", "name", "title", "priority", "data", "expire_time", "sender")
    class Level(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        LEVEL_UNSPECIFIED: _ClassVar[Notification.Level]
        LEVEL_INFO: _ClassVar[Notification.Level]
        LEVEL_WARNING: _ClassVar[Notification.Level]
        LEVEL_ERROR: _ClassVar[Notification.Level]
    LEVEL_UNSPECIFIED: Notification.Level
    LEVEL_INFO: Notification.Level
    LEVEL_WARNING: Notification.Level
    LEVEL_ERROR: Notification.Level
    class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PRIORITY_UNSPECIFIED: _ClassVar[Notification.Priority]
        PRIORITY_LOW: _ClassVar[Notification.Priority]
        PRIORITY_NORMAL: _ClassVar[Notification.Priority]
        PRIORITY_HIGH: _ClassVar[Notification.Priority]
        PRIORITY_URGENT: _ClassVar[Notification.Priority]
    PRIORITY_UNSPECIFIED: Notification.Priority
    PRIORITY_LOW: Notification.Priority
    PRIORITY_NORMAL: Notification.Priority
    PRIORITY_HIGH: Notification.Priority
    PRIORITY_URGENT: Notification.Priority
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    level: Notification.Level
    text: str
    resource: str
    create_time: _timestamp_pb2.Timestamp
    name: str
    title: str
    priority: Notification.Priority
    data: _struct_pb2.Struct
    expire_time: _timestamp_pb2.Timestamp
    sender: str
    def __init__(self, level: _Optional[_Union[Notification.Level, str]] = ..., text: _Optional[str] = ..., resource: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., name: _Optional[str] = ..., title: _Optional[str] = ..., priority: _Optional[_Union[Notification.Priority, str]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sender: _Optional[str] = ...) -> None: ...

class GoingAway(_message.Message):
    __slots__ = ("reason", "message", "reconnect_after", "positions")
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REASON_UNSPECIFIED: _ClassVar[GoingAway.Reason]
        REASON_SHUTTING_DOWN: _ClassVar[GoingAway.Reason]
        REASON_SLOW_CONSUMER: _ClassVar[GoingAway.Reason]
        REASON_MAX_CONNECTION_AGE: _ClassVar[GoingAway.Reason]
        REASON_HEARTBEAT_TIMEOUT: _ClassVar[GoingAway.Reason]
    REASON_UNSPECIFIED: GoingAway.Reason
    REASON_SHUTTING_DOWN: GoingAway.Reason
    REASON_SLOW_CONSUMER: GoingAway.Reason
    REASON_MAX_CONNECTION_AGE: GoingAway.Reason
    REASON_HEARTBEAT_TIMEOUT: GoingAway.Reason
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RECONNECT_AFTER_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    reason: GoingAway.Reason
    message: str
    reconnect_after: _duration_pb2.Duration
    positions: _containers.RepeatedCompositeFieldContainer[SubscriptionPosition]
    def __init__(self, reason: _Optional[_Union[GoingAway.Reason, str]] = ..., message: _Optional[str] = ..., reconnect_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., positions: _Optional[_Iterable[_Union[SubscriptionPosition, _Mapping]]] = ...) -> None: ...

class SubscriptionPosition(_message.Message):
    __slots__ = ("subscription_id", "subscription_name", "cursor")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_NAME_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    subscription_name: str
    cursor: str
    def __init__(self, subscription_id: _Optional[str] = ..., subscription_name: _Optional[str] = ..., cursor: _Optional[str] = ...) -> None: ...
