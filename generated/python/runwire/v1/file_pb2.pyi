import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import client_pb2 as _client_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from runwire.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class File(_message.Message):
    __slots__ = ("name", "display_name", "filename", "content_type", "purpose", "size_bytes", "sha256", "state", "progress", "error", "session", "agent", "text_chars", "page_count", "chunk_count", "labels", "owner", "create_time", "update_time", "etag")
    class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PURPOSE_UNSPECIFIED: _ClassVar[File.Purpose]
        PURPOSE_ASSISTANTS: _ClassVar[File.Purpose]
        PURPOSE_BATCH_INPUT: _ClassVar[File.Purpose]
        PURPOSE_BATCH_OUTPUT: _ClassVar[File.Purpose]
    PURPOSE_UNSPECIFIED: File.Purpose
    PURPOSE_ASSISTANTS: File.Purpose
    PURPOSE_BATCH_INPUT: File.Purpose
    PURPOSE_BATCH_OUTPUT: File.Purpose
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[File.State]
        STATE_PENDING: _ClassVar[File.State]
        STATE_PROCESSING: _ClassVar[File.State]
        STATE_COMPLETED: _ClassVar[File.State]
        STATE_FAILED: _ClassVar[File.State]
    STATE_UNSPECIFIED: File.State
    STATE_PENDING: File.State
    STATE_PROCESSING: File.State
    STATE_COMPLETED: File.State
    STATE_FAILED: File.State
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TEXT_CHARS_FIELD_NUMBER: _ClassVar[int]
    PAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    filename: str
    content_type: str
    purpose: File.Purpose
    size_bytes: int
    sha256: str
    state: File.State
    progress: float
    error: _common_pb2.Failure
    session: str
    agent: str
    text_chars: int
    page_count: int
    chunk_count: int
    labels: _containers.ScalarMap[str, str]
    owner: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., purpose: _Optional[_Union[File.Purpose, str]] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., state: _Optional[_Union[File.State, str]] = ..., progress: _Optional[float] = ..., error: _Optional[_Union[_common_pb2.Failure, _Mapping]] = ..., session: _Optional[str] = ..., agent: _Optional[str] = ..., text_chars: _Optional[int] = ..., page_count: _Optional[int] = ..., chunk_count: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ..., owner: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class UploadFileRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: UploadFileMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[UploadFileMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadFileMetadata(_message.Message):
    __slots__ = ("filename", "display_name", "content_type", "purpose", "size_bytes", "sha256", "session", "agent", "labels", "file_id", "request_id")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    filename: str
    display_name: str
    content_type: str
    purpose: File.Purpose
    size_bytes: int
    sha256: str
    session: str
    agent: str
    labels: _containers.ScalarMap[str, str]
    file_id: str
    request_id: str
    def __init__(self, filename: _Optional[str] = ..., display_name: _Optional[str] = ..., content_type: _Optional[str] = ..., purpose: _Optional[_Union[File.Purpose, str]] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., session: _Optional[str] = ..., agent: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., file_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DownloadFileRequest(_message.Message):
    __slots__ = ("name", "offset", "limit")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    offset: int
    limit: int
    def __init__(self, name: _Optional[str] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class DownloadFileResponse(_message.Message):
    __slots__ = ("file", "chunk")
    FILE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    file: File
    chunk: bytes
    def __init__(self, file: _Optional[_Union[File, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class GetFileRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListFilesRequest(_message.Message):
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

class ListFilesResponse(_message.Message):
    __slots__ = ("files", "next_page_token", "total_size")
    FILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[File]
    next_page_token: str
    total_size: int
    def __init__(self, files: _Optional[_Iterable[_Union[File, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteFileRequest(_message.Message):
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

class WatchFileRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetFileTextRequest(_message.Message):
    __slots__ = ("name", "offset", "max_chars")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    MAX_CHARS_FIELD_NUMBER: _ClassVar[int]
    name: str
    offset: int
    max_chars: int
    def __init__(self, name: _Optional[str] = ..., offset: _Optional[int] = ..., max_chars: _Optional[int] = ...) -> None: ...

class GetFileTextResponse(_message.Message):
    __slots__ = ("text", "offset", "next_offset", "total_chars")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHARS_FIELD_NUMBER: _ClassVar[int]
    text: str
    offset: int
    next_offset: int
    total_chars: int
    def __init__(self, text: _Optional[str] = ..., offset: _Optional[int] = ..., next_offset: _Optional[int] = ..., total_chars: _Optional[int] = ...) -> None: ...

class AnalyzeFileRequest(_message.Message):
    __slots__ = ("name", "mode", "agent", "instructions", "max_chars", "request_id")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[AnalyzeFileRequest.Mode]
        MODE_EXTRACT_TEXT: _ClassVar[AnalyzeFileRequest.Mode]
        MODE_SUMMARIZE: _ClassVar[AnalyzeFileRequest.Mode]
    MODE_UNSPECIFIED: AnalyzeFileRequest.Mode
    MODE_EXTRACT_TEXT: AnalyzeFileRequest.Mode
    MODE_SUMMARIZE: AnalyzeFileRequest.Mode
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHARS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    mode: AnalyzeFileRequest.Mode
    agent: str
    instructions: str
    max_chars: int
    request_id: str
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[_Union[AnalyzeFileRequest.Mode, str]] = ..., agent: _Optional[str] = ..., instructions: _Optional[str] = ..., max_chars: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class AnalyzeFileResponse(_message.Message):
    __slots__ = ("file", "mode", "text", "truncated", "usage", "duration")
    FILE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    file: File
    mode: AnalyzeFileRequest.Mode
    text: str
    truncated: bool
    usage: _common_pb2.Usage
    duration: _duration_pb2.Duration
    def __init__(self, file: _Optional[_Union[File, _Mapping]] = ..., mode: _Optional[_Union[AnalyzeFileRequest.Mode, str]] = ..., text: _Optional[str] = ..., truncated: _Optional[bool] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SearchFilesRequest(_message.Message):
    __slots__ = ("query", "session", "agent", "filter", "page_size", "page_token", "mode")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[SearchFilesRequest.Mode]
        MODE_FULL_TEXT: _ClassVar[SearchFilesRequest.Mode]
        MODE_SEMANTIC: _ClassVar[SearchFilesRequest.Mode]
    MODE_UNSPECIFIED: SearchFilesRequest.Mode
    MODE_FULL_TEXT: SearchFilesRequest.Mode
    MODE_SEMANTIC: SearchFilesRequest.Mode
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    query: str
    session: str
    agent: str
    filter: str
    page_size: int
    page_token: str
    mode: SearchFilesRequest.Mode
    def __init__(self, query: _Optional[str] = ..., session: _Optional[str] = ..., agent: _Optional[str] = ..., filter: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., mode: _Optional[_Union[SearchFilesRequest.Mode, str]] = ...) -> None: ...

class SearchFilesResponse(_message.Message):
    __slots__ = ("results", "next_page_token")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[FileSearchResult]
    next_page_token: str
    def __init__(self, results: _Optional[_Iterable[_Union[FileSearchResult, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class FileSearchResult(_message.Message):
    __slots__ = ("file", "filename", "chunk_index", "snippet", "score", "text_offset", "text_chars", "page_number")
    FILE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    TEXT_CHARS_FIELD_NUMBER: _ClassVar[int]
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    file: str
    filename: str
    chunk_index: int
    snippet: str
    score: float
    text_offset: int
    text_chars: int
    page_number: int
    def __init__(self, file: _Optional[str] = ..., filename: _Optional[str] = ..., chunk_index: _Optional[int] = ..., snippet: _Optional[str] = ..., score: _Optional[float] = ..., text_offset: _Optional[int] = ..., text_chars: _Optional[int] = ..., page_number: _Optional[int] = ...) -> None: ...
