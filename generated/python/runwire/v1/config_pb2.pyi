import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import client_pb2 as _client_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import error_details_pb2 as _error_details_pb2
from runwire.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuntimeConfig(_message.Message):
    __slots__ = ("server", "database", "limits", "providers", "rate_limits", "events", "sessions", "files", "redis", "auth", "network", "source", "revision", "etag", "update_time", "updated_by", "pending_restart_fields")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    REDIS_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    PENDING_RESTART_FIELDS_FIELD_NUMBER: _ClassVar[int]
    server: ServerConfig
    database: DatabaseConfig
    limits: LimitsConfig
    providers: ProvidersConfig
    rate_limits: RateLimitsConfig
    events: EventsConfig
    sessions: SessionsConfig
    files: FilesConfig
    redis: RedisConfig
    auth: AuthConfig
    network: NetworkConfig
    source: str
    revision: int
    etag: str
    update_time: _timestamp_pb2.Timestamp
    updated_by: str
    pending_restart_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, server: _Optional[_Union[ServerConfig, _Mapping]] = ..., database: _Optional[_Union[DatabaseConfig, _Mapping]] = ..., limits: _Optional[_Union[LimitsConfig, _Mapping]] = ..., providers: _Optional[_Union[ProvidersConfig, _Mapping]] = ..., rate_limits: _Optional[_Union[RateLimitsConfig, _Mapping]] = ..., events: _Optional[_Union[EventsConfig, _Mapping]] = ..., sessions: _Optional[_Union[SessionsConfig, _Mapping]] = ..., files: _Optional[_Union[FilesConfig, _Mapping]] = ..., redis: _Optional[_Union[RedisConfig, _Mapping]] = ..., auth: _Optional[_Union[AuthConfig, _Mapping]] = ..., network: _Optional[_Union[NetworkConfig, _Mapping]] = ..., source: _Optional[str] = ..., revision: _Optional[int] = ..., etag: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ..., pending_restart_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class ServerConfig(_message.Message):
    __slots__ = ("host", "port", "workers", "max_receive_message_bytes", "max_send_message_bytes", "max_concurrent_streams", "keepalive", "shutdown_grace", "reflection")
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_RECEIVE_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_SEND_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_STREAMS_FIELD_NUMBER: _ClassVar[int]
    KEEPALIVE_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_GRACE_FIELD_NUMBER: _ClassVar[int]
    REFLECTION_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: int
    workers: int
    max_receive_message_bytes: int
    max_send_message_bytes: int
    max_concurrent_streams: int
    keepalive: KeepaliveConfig
    shutdown_grace: _duration_pb2.Duration
    reflection: bool
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., workers: _Optional[int] = ..., max_receive_message_bytes: _Optional[int] = ..., max_send_message_bytes: _Optional[int] = ..., max_concurrent_streams: _Optional[int] = ..., keepalive: _Optional[_Union[KeepaliveConfig, _Mapping]] = ..., shutdown_grace: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., reflection: _Optional[bool] = ...) -> None: ...

class KeepaliveConfig(_message.Message):
    __slots__ = ("time", "timeout", "permit_without_calls", "min_ping_interval", "max_connection_idle", "max_connection_age", "max_connection_age_grace")
    TIME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    PERMIT_WITHOUT_CALLS_FIELD_NUMBER: _ClassVar[int]
    MIN_PING_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    MAX_CONNECTION_IDLE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONNECTION_AGE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONNECTION_AGE_GRACE_FIELD_NUMBER: _ClassVar[int]
    time: _duration_pb2.Duration
    timeout: _duration_pb2.Duration
    permit_without_calls: bool
    min_ping_interval: _duration_pb2.Duration
    max_connection_idle: _duration_pb2.Duration
    max_connection_age: _duration_pb2.Duration
    max_connection_age_grace: _duration_pb2.Duration
    def __init__(self, time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., permit_without_calls: _Optional[bool] = ..., min_ping_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_connection_idle: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_connection_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_connection_age_grace: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class DatabaseConfig(_message.Message):
    __slots__ = ("url", "pool_size", "busy_timeout", "event_flush_interval", "event_flush_max_events", "lease_ttl", "lease_heartbeat_interval", "lease_claim_interval")
    URL_FIELD_NUMBER: _ClassVar[int]
    POOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    BUSY_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    EVENT_FLUSH_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    EVENT_FLUSH_MAX_EVENTS_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_FIELD_NUMBER: _ClassVar[int]
    LEASE_HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    LEASE_CLAIM_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    url: str
    pool_size: int
    busy_timeout: _duration_pb2.Duration
    event_flush_interval: _duration_pb2.Duration
    event_flush_max_events: int
    lease_ttl: _duration_pb2.Duration
    lease_heartbeat_interval: _duration_pb2.Duration
    lease_claim_interval: _duration_pb2.Duration
    def __init__(self, url: _Optional[str] = ..., pool_size: _Optional[int] = ..., busy_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., event_flush_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., event_flush_max_events: _Optional[int] = ..., lease_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., lease_heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., lease_claim_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class LimitsConfig(_message.Message):
    __slots__ = ("default_page_size", "max_page_size", "max_message_bytes", "max_upload_bytes", "max_batch_tasks", "max_batch_concurrency", "max_sessions_per_owner", "default_run_steps", "max_run_steps", "default_run_duration", "max_run_duration", "default_tool_timeout", "default_input_timeout", "max_concurrent_runs", "max_active_runs_per_owner", "max_streams_per_principal", "max_connections_per_principal", "max_subscriptions_per_connection")
    DEFAULT_PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_UPLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_TASKS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSIONS_PER_OWNER_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RUN_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_RUN_STEPS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RUN_DURATION_FIELD_NUMBER: _ClassVar[int]
    MAX_RUN_DURATION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TOOL_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_INPUT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_RUNS_FIELD_NUMBER: _ClassVar[int]
    MAX_ACTIVE_RUNS_PER_OWNER_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_PER_PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    MAX_CONNECTIONS_PER_PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    MAX_SUBSCRIPTIONS_PER_CONNECTION_FIELD_NUMBER: _ClassVar[int]
    default_page_size: int
    max_page_size: int
    max_message_bytes: int
    max_upload_bytes: int
    max_batch_tasks: int
    max_batch_concurrency: int
    max_sessions_per_owner: int
    default_run_steps: int
    max_run_steps: int
    default_run_duration: _duration_pb2.Duration
    max_run_duration: _duration_pb2.Duration
    default_tool_timeout: _duration_pb2.Duration
    default_input_timeout: _duration_pb2.Duration
    max_concurrent_runs: int
    max_active_runs_per_owner: int
    max_streams_per_principal: int
    max_connections_per_principal: int
    max_subscriptions_per_connection: int
    def __init__(self, default_page_size: _Optional[int] = ..., max_page_size: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_upload_bytes: _Optional[int] = ..., max_batch_tasks: _Optional[int] = ..., max_batch_concurrency: _Optional[int] = ..., max_sessions_per_owner: _Optional[int] = ..., default_run_steps: _Optional[int] = ..., max_run_steps: _Optional[int] = ..., default_run_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_run_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., default_tool_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., default_input_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_concurrent_runs: _Optional[int] = ..., max_active_runs_per_owner: _Optional[int] = ..., max_streams_per_principal: _Optional[int] = ..., max_connections_per_principal: _Optional[int] = ..., max_subscriptions_per_connection: _Optional[int] = ...) -> None: ...

class ProvidersConfig(_message.Message):
    __slots__ = ("default_provider", "builtin", "openai", "retries", "endpoints")
    DEFAULT_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    OPENAI_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    default_provider: str
    builtin: BuiltinProviderConfig
    openai: OpenAiProviderConfig
    retries: RetryConfig
    endpoints: _containers.RepeatedCompositeFieldContainer[ProviderEndpoint]
    def __init__(self, default_provider: _Optional[str] = ..., builtin: _Optional[_Union[BuiltinProviderConfig, _Mapping]] = ..., openai: _Optional[_Union[OpenAiProviderConfig, _Mapping]] = ..., retries: _Optional[_Union[RetryConfig, _Mapping]] = ..., endpoints: _Optional[_Iterable[_Union[ProviderEndpoint, _Mapping]]] = ...) -> None: ...

class ProviderEndpoint(_message.Message):
    __slots__ = ("name", "base_url", "api_key", "allowed_models")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    base_url: str
    api_key: str
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., base_url: _Optional[str] = ..., api_key: _Optional[str] = ..., allowed_models: _Optional[_Iterable[str]] = ...) -> None: ...

class BuiltinProviderConfig(_message.Message):
    __slots__ = ("tokens_per_second",)
    TOKENS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    tokens_per_second: float
    def __init__(self, tokens_per_second: _Optional[float] = ...) -> None: ...

class OpenAiProviderConfig(_message.Message):
    __slots__ = ("base_url", "model", "api_key", "request_timeout")
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    base_url: str
    model: str
    api_key: str
    request_timeout: _duration_pb2.Duration
    def __init__(self, base_url: _Optional[str] = ..., model: _Optional[str] = ..., api_key: _Optional[str] = ..., request_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RetryConfig(_message.Message):
    __slots__ = ("max_attempts", "initial_backoff", "max_backoff", "backoff_multiplier")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    initial_backoff: _duration_pb2.Duration
    max_backoff: _duration_pb2.Duration
    backoff_multiplier: float
    def __init__(self, max_attempts: _Optional[int] = ..., initial_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backoff_multiplier: _Optional[float] = ...) -> None: ...

class RateLimitsConfig(_message.Message):
    __slots__ = ("enabled", "tiers", "overrides")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    tiers: _containers.RepeatedCompositeFieldContainer[RateLimitTier]
    overrides: _containers.RepeatedCompositeFieldContainer[RateLimitOverride]
    def __init__(self, enabled: _Optional[bool] = ..., tiers: _Optional[_Iterable[_Union[RateLimitTier, _Mapping]]] = ..., overrides: _Optional[_Iterable[_Union[RateLimitOverride, _Mapping]]] = ...) -> None: ...

class RateLimitTier(_message.Message):
    __slots__ = ("tier", "buckets")
    TIER_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    tier: _common_pb2.Tier
    buckets: _containers.RepeatedCompositeFieldContainer[RateLimitBucket]
    def __init__(self, tier: _Optional[_Union[_common_pb2.Tier, str]] = ..., buckets: _Optional[_Iterable[_Union[RateLimitBucket, _Mapping]]] = ...) -> None: ...

class RateLimitBucket(_message.Message):
    __slots__ = ("method_class", "requests_per_second", "burst")
    class MethodClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        METHOD_CLASS_UNSPECIFIED: _ClassVar[RateLimitBucket.MethodClass]
        METHOD_CLASS_READ: _ClassVar[RateLimitBucket.MethodClass]
        METHOD_CLASS_WRITE: _ClassVar[RateLimitBucket.MethodClass]
        METHOD_CLASS_RUN: _ClassVar[RateLimitBucket.MethodClass]
        METHOD_CLASS_STREAM: _ClassVar[RateLimitBucket.MethodClass]
        METHOD_CLASS_FILE: _ClassVar[RateLimitBucket.MethodClass]
        METHOD_CLASS_ADMIN: _ClassVar[RateLimitBucket.MethodClass]
    METHOD_CLASS_UNSPECIFIED: RateLimitBucket.MethodClass
    METHOD_CLASS_READ: RateLimitBucket.MethodClass
    METHOD_CLASS_WRITE: RateLimitBucket.MethodClass
    METHOD_CLASS_RUN: RateLimitBucket.MethodClass
    METHOD_CLASS_STREAM: RateLimitBucket.MethodClass
    METHOD_CLASS_FILE: RateLimitBucket.MethodClass
    METHOD_CLASS_ADMIN: RateLimitBucket.MethodClass
    METHOD_CLASS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    method_class: RateLimitBucket.MethodClass
    requests_per_second: float
    burst: int
    def __init__(self, method_class: _Optional[_Union[RateLimitBucket.MethodClass, str]] = ..., requests_per_second: _Optional[float] = ..., burst: _Optional[int] = ...) -> None: ...

class RateLimitOverride(_message.Message):
    __slots__ = ("principal", "method", "method_class", "requests_per_second", "burst")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    METHOD_CLASS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    principal: str
    method: str
    method_class: RateLimitBucket.MethodClass
    requests_per_second: float
    burst: int
    def __init__(self, principal: _Optional[str] = ..., method: _Optional[str] = ..., method_class: _Optional[_Union[RateLimitBucket.MethodClass, str]] = ..., requests_per_second: _Optional[float] = ..., burst: _Optional[int] = ...) -> None: ...

class EventsConfig(_message.Message):
    __slots__ = ("retention", "heartbeat_interval", "max_buffered_events", "subscription_ttl")
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    MAX_BUFFERED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_TTL_FIELD_NUMBER: _ClassVar[int]
    retention: _duration_pb2.Duration
    heartbeat_interval: _duration_pb2.Duration
    max_buffered_events: int
    subscription_ttl: _duration_pb2.Duration
    def __init__(self, retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_buffered_events: _Optional[int] = ..., subscription_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SessionsConfig(_message.Message):
    __slots__ = ("sweeper_interval", "idempotency_window", "default_ttl")
    SWEEPER_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_WINDOW_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TTL_FIELD_NUMBER: _ClassVar[int]
    sweeper_interval: _duration_pb2.Duration
    idempotency_window: _duration_pb2.Duration
    default_ttl: _duration_pb2.Duration
    def __init__(self, sweeper_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., idempotency_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., default_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class FilesConfig(_message.Message):
    __slots__ = ("storage_dir", "extraction_workers", "extraction_timeout", "max_extracted_chars", "chunk_chars")
    STORAGE_DIR_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_WORKERS_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_EXTRACTED_CHARS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_CHARS_FIELD_NUMBER: _ClassVar[int]
    storage_dir: str
    extraction_workers: int
    extraction_timeout: _duration_pb2.Duration
    max_extracted_chars: int
    chunk_chars: int
    def __init__(self, storage_dir: _Optional[str] = ..., extraction_workers: _Optional[int] = ..., extraction_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_extracted_chars: _Optional[int] = ..., chunk_chars: _Optional[int] = ...) -> None: ...

class RedisConfig(_message.Message):
    __slots__ = ("url", "key_prefix")
    URL_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    url: str
    key_prefix: str
    def __init__(self, url: _Optional[str] = ..., key_prefix: _Optional[str] = ...) -> None: ...

class AuthConfig(_message.Message):
    __slots__ = ("allow_anonymous",)
    ALLOW_ANONYMOUS_FIELD_NUMBER: _ClassVar[int]
    allow_anonymous: bool
    def __init__(self, allow_anonymous: _Optional[bool] = ...) -> None: ...

class NetworkConfig(_message.Message):
    __slots__ = ("egress",)
    EGRESS_FIELD_NUMBER: _ClassVar[int]
    egress: EgressConfig
    def __init__(self, egress: _Optional[_Union[EgressConfig, _Mapping]] = ...) -> None: ...

class EgressConfig(_message.Message):
    __slots__ = ("allow_private", "allowed_destinations")
    ALLOW_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_DESTINATIONS_FIELD_NUMBER: _ClassVar[int]
    allow_private: bool
    allowed_destinations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, allow_private: _Optional[bool] = ..., allowed_destinations: _Optional[_Iterable[str]] = ...) -> None: ...

class GetConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateConfigRequest(_message.Message):
    __slots__ = ("config", "update_mask", "validate_only", "request_id")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    config: RuntimeConfig
    update_mask: _field_mask_pb2.FieldMask
    validate_only: bool
    request_id: str
    def __init__(self, config: _Optional[_Union[RuntimeConfig, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., validate_only: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class ValidateConfigRequest(_message.Message):
    __slots__ = ("config", "update_mask")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    config: RuntimeConfig
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, config: _Optional[_Union[RuntimeConfig, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ValidateConfigResponse(_message.Message):
    __slots__ = ("valid", "violations", "config")
    VALID_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    violations: _containers.RepeatedCompositeFieldContainer[_error_details_pb2.BadRequest.FieldViolation]
    config: RuntimeConfig
    def __init__(self, valid: _Optional[bool] = ..., violations: _Optional[_Iterable[_Union[_error_details_pb2.BadRequest.FieldViolation, _Mapping]]] = ..., config: _Optional[_Union[RuntimeConfig, _Mapping]] = ...) -> None: ...

class ReloadConfigRequest(_message.Message):
    __slots__ = ("validate_only", "request_id")
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    validate_only: bool
    request_id: str
    def __init__(self, validate_only: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...
