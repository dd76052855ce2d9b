import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import client_pb2 as _client_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from runwire.v1 import common_pb2 as _common_pb2
from runwire.v1 import event_pb2 as _event_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "replica", "start_time", "uptime", "workers", "backends", "providers", "counts", "config_revision", "python_version", "grpc_version", "protobuf_backend", "process_id")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    UPTIME_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_REVISION_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    GRPC_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOBUF_BACKEND_FIELD_NUMBER: _ClassVar[int]
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    version: str
    replica: str
    start_time: _timestamp_pb2.Timestamp
    uptime: _duration_pb2.Duration
    workers: int
    backends: ServerBackends
    providers: _containers.RepeatedCompositeFieldContainer[ProviderInfo]
    counts: ServerCounts
    config_revision: int
    python_version: str
    grpc_version: str
    protobuf_backend: str
    process_id: str
    def __init__(self, version: _Optional[str] = ..., replica: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., uptime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., workers: _Optional[int] = ..., backends: _Optional[_Union[ServerBackends, _Mapping]] = ..., providers: _Optional[_Iterable[_Union[ProviderInfo, _Mapping]]] = ..., counts: _Optional[_Union[ServerCounts, _Mapping]] = ..., config_revision: _Optional[int] = ..., python_version: _Optional[str] = ..., grpc_version: _Optional[str] = ..., protobuf_backend: _Optional[str] = ..., process_id: _Optional[str] = ...) -> None: ...

class ServerBackends(_message.Message):
    __slots__ = ("database", "event_bus", "rate_limiter", "file_store")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    EVENT_BUS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITER_FIELD_NUMBER: _ClassVar[int]
    FILE_STORE_FIELD_NUMBER: _ClassVar[int]
    database: str
    event_bus: str
    rate_limiter: str
    file_store: str
    def __init__(self, database: _Optional[str] = ..., event_bus: _Optional[str] = ..., rate_limiter: _Optional[str] = ..., file_store: _Optional[str] = ...) -> None: ...

class ProviderInfo(_message.Message):
    __slots__ = ("name", "is_default", "default_model", "base_url")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    name: str
    is_default: bool
    default_model: str
    base_url: str
    def __init__(self, name: _Optional[str] = ..., is_default: _Optional[bool] = ..., default_model: _Optional[str] = ..., base_url: _Optional[str] = ...) -> None: ...

class ServerCounts(_message.Message):
    __slots__ = ("agents", "sessions", "runs_queued", "runs_running", "runs_requires_input", "batches_active", "files", "mcp_servers", "mcp_servers_ready", "connections", "streams", "active_api_keys")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    RUNS_QUEUED_FIELD_NUMBER: _ClassVar[int]
    RUNS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    RUNS_REQUIRES_INPUT_FIELD_NUMBER: _ClassVar[int]
    BATCHES_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    MCP_SERVERS_FIELD_NUMBER: _ClassVar[int]
    MCP_SERVERS_READY_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_API_KEYS_FIELD_NUMBER: _ClassVar[int]
    agents: int
    sessions: int
    runs_queued: int
    runs_running: int
    runs_requires_input: int
    batches_active: int
    files: int
    mcp_servers: int
    mcp_servers_ready: int
    connections: int
    streams: int
    active_api_keys: int
    def __init__(self, agents: _Optional[int] = ..., sessions: _Optional[int] = ..., runs_queued: _Optional[int] = ..., runs_running: _Optional[int] = ..., runs_requires_input: _Optional[int] = ..., batches_active: _Optional[int] = ..., files: _Optional[int] = ..., mcp_servers: _Optional[int] = ..., mcp_servers_ready: _Optional[int] = ..., connections: _Optional[int] = ..., streams: _Optional[int] = ..., active_api_keys: _Optional[int] = ...) -> None: ...

class ListConnectionsRequest(_message.Message):
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

class ListConnectionsResponse(_message.Message):
    __slots__ = ("connections", "next_page_token", "total_size")
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    connections: _containers.RepeatedCompositeFieldContainer[ConnectionInfo]
    next_page_token: str
    total_size: int
    def __init__(self, connections: _Optional[_Iterable[_Union[ConnectionInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ConnectionInfo(_message.Message):
    __slots__ = ("id", "principal", "peer", "replica", "client_name", "client_version", "user_agent", "accept_input_requests", "connect_time", "last_activity_time", "subscriptions", "messages_sent", "messages_received", "process_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_INPUT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CONNECT_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_TIME_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_SENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    principal: str
    peer: str
    replica: str
    client_name: str
    client_version: str
    user_agent: str
    accept_input_requests: bool
    connect_time: _timestamp_pb2.Timestamp
    last_activity_time: _timestamp_pb2.Timestamp
    subscriptions: _containers.RepeatedCompositeFieldContainer[ConnectionSubscription]
    messages_sent: int
    messages_received: int
    process_id: str
    def __init__(self, id: _Optional[str] = ..., principal: _Optional[str] = ..., peer: _Optional[str] = ..., replica: _Optional[str] = ..., client_name: _Optional[str] = ..., client_version: _Optional[str] = ..., user_agent: _Optional[str] = ..., accept_input_requests: _Optional[bool] = ..., connect_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_activity_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subscriptions: _Optional[_Iterable[_Union[ConnectionSubscription, _Mapping]]] = ..., messages_sent: _Optional[int] = ..., messages_received: _Optional[int] = ..., process_id: _Optional[str] = ...) -> None: ...

class ConnectionSubscription(_message.Message):
    __slots__ = ("id", "subscription_name", "topics", "resources", "types", "last_cursor", "events_sent")
    ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_NAME_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    LAST_CURSOR_FIELD_NUMBER: _ClassVar[int]
    EVENTS_SENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    subscription_name: str
    topics: _containers.RepeatedScalarFieldContainer[_event_pb2.EventTopic]
    resources: _containers.RepeatedScalarFieldContainer[str]
    types: _containers.RepeatedScalarFieldContainer[str]
    last_cursor: str
    events_sent: int
    def __init__(self, id: _Optional[str] = ..., subscription_name: _Optional[str] = ..., topics: _Optional[_Iterable[_Union[_event_pb2.EventTopic, str]]] = ..., resources: _Optional[_Iterable[str]] = ..., types: _Optional[_Iterable[str]] = ..., last_cursor: _Optional[str] = ..., events_sent: _Optional[int] = ...) -> None: ...

class ListStreamsRequest(_message.Message):
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

class ListStreamsResponse(_message.Message):
    __slots__ = ("streams", "next_page_token", "total_size")
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    streams: _containers.RepeatedCompositeFieldContainer[StreamInfo]
    next_page_token: str
    total_size: int
    def __init__(self, streams: _Optional[_Iterable[_Union[StreamInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class StreamInfo(_message.Message):
    __slots__ = ("id", "method", "principal", "peer", "replica", "follows", "start_time", "deadline", "messages_sent", "last_send_time", "process_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    FOLLOWS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_SENT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    method: str
    principal: str
    peer: str
    replica: str
    follows: str
    start_time: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    messages_sent: int
    last_send_time: _timestamp_pb2.Timestamp
    process_id: str
    def __init__(self, id: _Optional[str] = ..., method: _Optional[str] = ..., principal: _Optional[str] = ..., peer: _Optional[str] = ..., replica: _Optional[str] = ..., follows: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., messages_sent: _Optional[int] = ..., last_send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., process_id: _Optional[str] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("name", "display_name", "principal", "role", "tier", "key_prefix", "state", "expire_time", "revoke_time", "last_use_time", "create_time", "created_by", "revoked_by", "etag", "scopes")
    class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ROLE_UNSPECIFIED: _ClassVar[ApiKey.Role]
        ROLE_ADMIN: _ClassVar[ApiKey.Role]
        ROLE_USER: _ClassVar[ApiKey.Role]
    ROLE_UNSPECIFIED: ApiKey.Role
    ROLE_ADMIN: ApiKey.Role
    ROLE_USER: ApiKey.Role
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[ApiKey.State]
        STATE_ACTIVE: _ClassVar[ApiKey.State]
        STATE_EXPIRED: _ClassVar[ApiKey.State]
        STATE_REVOKED: _ClassVar[ApiKey.State]
    STATE_UNSPECIFIED: ApiKey.State
    STATE_ACTIVE: ApiKey.State
    STATE_EXPIRED: ApiKey.State
    STATE_REVOKED: ApiKey.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_USE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    REVOKED_BY_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    principal: str
    role: ApiKey.Role
    tier: _common_pb2.Tier
    key_prefix: str
    state: ApiKey.State
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    last_use_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    created_by: str
    revoked_by: str
    etag: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., principal: _Optional[str] = ..., role: _Optional[_Union[ApiKey.Role, str]] = ..., tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., key_prefix: _Optional[str] = ..., state: _Optional[_Union[ApiKey.State, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_use_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., revoked_by: _Optional[str] = ..., etag: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("api_key", "api_key_id", "request_id", "validate_only")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    api_key_id: str
    request_id: str
    validate_only: bool
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ..., api_key_id: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("api_key", "secret")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    secret: str
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
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

class ListApiKeysResponse(_message.Message):
    __slots__ = ("api_keys", "next_page_token", "total_size")
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    api_keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    next_page_token: str
    total_size: int
    def __init__(self, api_keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetApiKeyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("name", "etag", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...
