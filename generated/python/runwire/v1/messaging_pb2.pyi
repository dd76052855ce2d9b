import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from runwire.v1 import admin_pb2 as _admin_pb2
from runwire.v1 import event_pb2 as _event_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Recipient(_message.Message):
    __slots__ = ("principal", "followers_of", "everyone")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    FOLLOWERS_OF_FIELD_NUMBER: _ClassVar[int]
    EVERYONE_FIELD_NUMBER: _ClassVar[int]
    principal: str
    followers_of: str
    everyone: bool
    def __init__(self, principal: _Optional[str] = ..., followers_of: _Optional[str] = ..., everyone: _Optional[bool] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("name", "kind", "recipient", "level", "priority", "title", "text", "data", "expire_time", "sender", "create_time", "resource", "connection", "state", "deliveries", "answer", "answered_by", "answer_time")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ServerMessage.Kind]
        KIND_NOTIFICATION: _ClassVar[ServerMessage.Kind]
        KIND_REQUEST: _ClassVar[ServerMessage.Kind]
    KIND_UNSPECIFIED: ServerMessage.Kind
    KIND_NOTIFICATION: ServerMessage.Kind
    KIND_REQUEST: ServerMessage.Kind
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[ServerMessage.State]
        STATE_QUEUED: _ClassVar[ServerMessage.State]
        STATE_DELIVERED: _ClassVar[ServerMessage.State]
        STATE_READ: _ClassVar[ServerMessage.State]
        STATE_ANSWERED: _ClassVar[ServerMessage.State]
        STATE_EXPIRED: _ClassVar[ServerMessage.State]
    STATE_UNSPECIFIED: ServerMessage.State
    STATE_QUEUED: ServerMessage.State
    STATE_DELIVERED: ServerMessage.State
    STATE_READ: ServerMessage.State
    STATE_ANSWERED: ServerMessage.State
    STATE_EXPIRED: ServerMessage.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_BY_FIELD_NUMBER: _ClassVar[int]
    ANSWER_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ServerMessage.Kind
    recipient: Recipient
    level: _event_pb2.Notification.Level
    priority: _event_pb2.Notification.Priority
    title: str
    text: str
    data: _struct_pb2.Struct
    expire_time: _timestamp_pb2.Timestamp
    sender: str
    create_time: _timestamp_pb2.Timestamp
    resource: str
    connection: str
    state: ServerMessage.State
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    answer: _event_pb2.ServerRequestAnswer
    answered_by: str
    answer_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ServerMessage.Kind, str]] = ..., recipient: _Optional[_Union[Recipient, _Mapping]] = ..., level: _Optional[_Union[_event_pb2.Notification.Level, str]] = ..., priority: _Optional[_Union[_event_pb2.Notification.Priority, str]] = ..., title: _Optional[str] = ..., text: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sender: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resource: _Optional[str] = ..., connection: _Optional[str] = ..., state: _Optional[_Union[ServerMessage.State, str]] = ..., deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ..., answer: _Optional[_Union[_event_pb2.ServerRequestAnswer, _Mapping]] = ..., answered_by: _Optional[str] = ..., answer_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("principal", "state", "deliver_time", "read_time")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DELIVER_TIME_FIELD_NUMBER: _ClassVar[int]
    READ_TIME_FIELD_NUMBER: _ClassVar[int]
    principal: str
    state: ServerMessage.State
    deliver_time: _timestamp_pb2.Timestamp
    read_time: _timestamp_pb2.Timestamp
    def __init__(self, principal: _Optional[str] = ..., state: _Optional[_Union[ServerMessage.State, str]] = ..., deliver_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., read_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SendNotificationRequest(_message.Message):
    __slots__ = ("notification", "ttl", "request_id")
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    notification: ServerMessage
    ttl: _duration_pb2.Duration
    request_id: str
    def __init__(self, notification: _Optional[_Union[ServerMessage, _Mapping]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SendRequestRequest(_message.Message):
    __slots__ = ("request", "ttl", "wait", "request_id")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request: ServerMessage
    ttl: _duration_pb2.Duration
    wait: bool
    request_id: str
    def __init__(self, request: _Optional[_Union[ServerMessage, _Mapping]] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., wait: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetServerMessageRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListServerMessagesRequest(_message.Message):
    __slots__ = ("view", "page_size", "page_token", "filter")
    class View(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        VIEW_UNSPECIFIED: _ClassVar[ListServerMessagesRequest.View]
        VIEW_INBOX: _ClassVar[ListServerMessagesRequest.View]
        VIEW_SENT: _ClassVar[ListServerMessagesRequest.View]
    VIEW_UNSPECIFIED: ListServerMessagesRequest.View
    VIEW_INBOX: ListServerMessagesRequest.View
    VIEW_SENT: ListServerMessagesRequest.View
    VIEW_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    view: ListServerMessagesRequest.View
    page_size: int
    page_token: str
    filter: str
    def __init__(self, view: _Optional[_Union[ListServerMessagesRequest.View, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class ListServerMessagesResponse(_message.Message):
    __slots__ = ("server_messages", "next_page_token", "total_size")
    SERVER_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    server_messages: _containers.RepeatedCompositeFieldContainer[ServerMessage]
    next_page_token: str
    total_size: int
    def __init__(self, server_messages: _Optional[_Iterable[_Union[ServerMessage, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class AcknowledgeServerMessageRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListRecipientConnectionsRequest(_message.Message):
    __slots__ = ("principal",)
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    principal: str
    def __init__(self, principal: _Optional[str] = ...) -> None: ...

class ListRecipientConnectionsResponse(_message.Message):
    __slots__ = ("connections",)
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    connections: _containers.RepeatedCompositeFieldContainer[_admin_pb2.ConnectionInfo]
    def __init__(self, connections: _Optional[_Iterable[_Union[_admin_pb2.ConnectionInfo, _Mapping]]] = ...) -> None: ...
