"""Agents, sessions, messages and runs: one method per RPC, the same for both clients.

Each method builds the request from its arguments and sends it. With `Client`
it returns the result; with `AsyncClient` it returns an awaitable (unary
calls) or an async iterable (pagers, run streams). Keyword arguments beyond
those named set fields of the request (`request_id=`, `validate_only=`,
`allow_missing=`...), and `timeout=` / `metadata=` apply to the call itself.
"""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import TYPE_CHECKING, Any, Sequence

from google.protobuf import field_mask_pb2

from runwire.client.calls import DEFAULT, Service
from runwire.client.run_stream import ResumePolicy, _Progress
from runwire.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    message_pb2,
    message_pb2_grpc,
    messaging_pb2,
    messaging_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    secret_pb2,
    secret_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)

if TYPE_CHECKING:
    from runwire.client.client import BaseClient

_CALL_OPTIONS = ("timeout", "metadata", "wait_for_ready", "compression")


def _split(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request fields, call options) of a method's keyword arguments."""
    options = {k: fields.pop(k) for k in _CALL_OPTIONS if k in fields}
    return fields, options


def _mask(paths: Sequence[str] | field_mask_pb2.FieldMask) -> field_mask_pb2.FieldMask:
    return paths if isinstance(paths, field_mask_pb2.FieldMask) else field_mask_pb2.FieldMask(paths=list(paths))


def content(input: str | common_pb2.ContentPart | Sequence[common_pb2.ContentPart]) -> list[common_pb2.ContentPart]:
    """Text or content parts as the list of parts a request takes."""
    if isinstance(input, str):
        return [common_pb2.ContentPart(text=input)]
    if isinstance(input, common_pb2.ContentPart):
        return [input]
    return list(input)


class _Resource:
    stub_class: type
    # The generated module of the service's request messages (`agent_pb2`).
    messages: ModuleType

    def __init__(self, client: BaseClient) -> None:
        self._client = client
        self.stub: Service = client.service(self.stub_class)

    def __getattr__(self, name: str) -> Any:
        """The service's RPCs by their own names too (`client.agents.ListAgents(request)`), with the client's defaults."""
        if name.startswith("_") or name == "stub":
            raise AttributeError(name)
        return getattr(self.stub, name)

    def _call(self, method: str, request: Any, options: dict[str, Any]) -> Any:
        return getattr(self.stub, method)(request, **options)

    def _pages(self, method: str, request: Any, options: dict[str, Any]) -> Any:
        return self._client.pager(getattr(self.stub, method), request, **options)

    def _request(self, method: str, fields: dict[str, Any]) -> Any:
        return getattr(self.messages, f"{method}Request")(**fields)

    def _send(self, method: str, fields: dict[str, Any], **named: Any) -> Any:
        """Call `method` with its request built from `named` and the request fields among `fields`; the rest of
        `fields` (timeout=, metadata=...) are options of the call."""
        fields, options = _split(fields)
        return self._call(method, self._request(method, {**named, **fields}), options)

    def _send_paged(self, method: str, fields: dict[str, Any], **named: Any) -> Any:
        """A pager over `method`, its request built as `_send` builds it."""
        fields, options = _split(fields)
        return self._pages(method, self._request(method, {**named, **fields}), options)


class _StandardMethods(_Resource):
    """Create, Get, List, Update and Delete of one resource type, named after it: `singular` is `Agent` for
    CreateAgent, GetAgent..., `plural` is `Agents` for ListAgents. The resource may be given by position or
    by its field's name (`create(agent)` or `create(agent=agent)`)."""

    singular: str
    plural: str

    @property
    def _field(self) -> str:
        """`McpServer` -> `mcp_server`: the field of the requests holding the resource."""
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in self.singular).lstrip("_")

    def _resource(self, resource: Any) -> dict[str, Any]:
        return {} if resource is None else {self._field: resource}

    def create(self, resource: Any = None, /, **fields: Any) -> Any:
        """Create{singular}; `{field}_id=`, `request_id=`, `validate_only=` among the fields."""
        return self._send(f"Create{self.singular}", fields, **self._resource(resource))

    def get(self, name: str, **options: Any) -> Any:
        method = f"Get{self.singular}"
        return self._call(method, self._request(method, {"name": name}), options)

    def list(self, **fields: Any) -> Any:
        """A pager over List{plural}; `filter=`, `order_by=`, `page_size=`, `page_token=`."""
        return self._send_paged(f"List{self.plural}", fields)

    def update(
        self, resource: Any = None, update_mask: Sequence[str] | field_mask_pb2.FieldMask | None = None, /, **fields: Any
    ) -> Any:
        """Update{singular}: the fields named by `update_mask` (paths, or a FieldMask)."""
        mask = fields.pop("update_mask", update_mask)
        named = self._resource(resource)
        if mask is not None:
            named["update_mask"] = _mask(mask)
        return self._send(f"Update{self.singular}", fields, **named)

    def delete(self, name: str, **fields: Any) -> Any:
        """Delete{singular}; `etag=`, and where the service has them `force=`, `allow_missing=`."""
        return self._send(f"Delete{self.singular}", fields, name=name)


class Agents(_StandardMethods):
    stub_class = agent_pb2_grpc.AgentServiceStub
    messages = agent_pb2
    singular, plural = "Agent", "Agents"


class Secrets(_StandardMethods):
    """The caller's secrets. Values go in (create, update with `value` in the mask) and never come back."""

    stub_class = secret_pb2_grpc.SecretServiceStub
    messages = secret_pb2
    singular, plural = "Secret", "Secrets"


def recipient(to: str | messaging_pb2.Recipient) -> messaging_pb2.Recipient:
    """`principals/{id}` for a principal, `*` for everyone, a session, run or batch name for its followers."""
    if isinstance(to, messaging_pb2.Recipient):
        return to
    if to == "*":
        return messaging_pb2.Recipient(everyone=True)
    if to.startswith("principals/"):
        return messaging_pb2.Recipient(principal=to)
    return messaging_pb2.Recipient(followers_of=to)


class Messaging(_Resource):
    """Notifications and requests to users (MessagingService); sending needs an admin or the
    `messaging.send` scope."""

    stub_class = messaging_pb2_grpc.MessagingServiceStub
    messages = messaging_pb2

    def notify(self, to: str | messaging_pb2.Recipient, text: str, **fields: Any) -> Any:
        """SendNotification; `title=`, `level=`, `priority=`, `data=`, `expire_time=` set the notification,
        `ttl=`, `request_id=` the request."""
        return self._send_message("SendNotification", "notification", to, text, fields)

    def ask(self, to: str, text: str, *, wait: bool = False, **fields: Any) -> Any:
        """SendRequest to a principal (`principals/{id}`); with `wait=True`, returns once answered or expired."""
        return self._send_message("SendRequest", "request", to, text, fields, wait=wait)

    def _send_message(
        self, method: str, field: str, to: str | messaging_pb2.Recipient, text: str, fields: dict[str, Any], **named: Any
    ) -> Any:
        """`ttl=` and `request_id=` (generated when left out) are fields of the request, the other fields of
        the ServerMessage it carries in `field`."""
        request_fields = {k: fields.pop(k) for k in ("ttl", "request_id", *_CALL_OPTIONS) if k in fields}
        request_fields.setdefault("request_id", str(uuid.uuid4()))
        message = messaging_pb2.ServerMessage(recipient=recipient(to), text=text, **fields)
        return self._send(method, request_fields, **{field: message}, **named)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetServerMessage", self._request("GetServerMessage", {"name": name}), options)

    def list(self, *, sent: bool = False, **fields: Any) -> Any:
        """A pager over ListServerMessages: the caller's inbox, or what it sent; `filter=`, `page_size=`."""
        view = messaging_pb2.ListServerMessagesRequest.VIEW_SENT if sent else messaging_pb2.ListServerMessagesRequest.VIEW_INBOX
        return self._send_paged("ListServerMessages", fields, view=view)

    def acknowledge(self, name: str, **fields: Any) -> Any:
        return self._send("AcknowledgeServerMessage", fields, name=name)

    def connections(self, principal: str = "", **options: Any) -> Any:
        """ListRecipientConnections: the live connections the caller may address."""
        return self._call("ListRecipientConnections", self._request("ListRecipientConnections", {"principal": principal}), options)


class Sessions(_StandardMethods):
    stub_class = session_pb2_grpc.SessionServiceStub
    messages = session_pb2
    singular, plural = "Session", "Sessions"

    def batch_create(self, requests: Sequence[session_pb2.CreateSessionRequest], **fields: Any) -> Any:
        return self._send("BatchCreateSessions", fields, requests=list(requests))

    def batch_delete(self, names: Sequence[str], **fields: Any) -> Any:
        return self._send("BatchDeleteSessions", fields, names=list(names))


class Messages(_StandardMethods):
    stub_class = message_pb2_grpc.MessageServiceStub
    messages = message_pb2
    singular, plural = "Message", "Messages"

    def create(self, parent: str, message: message_pb2.Message, **fields: Any) -> Any:  # type: ignore[override]
        """CreateMessage in the session `parent`; `message_id=`, `request_id=`, `validate_only=` among the fields."""
        return self._send("CreateMessage", fields, parent=parent, message=message)

    def list(self, parent: str, **fields: Any) -> Any:  # type: ignore[override]
        """A pager over ListMessages of the session `parent` (`sessions/-` for all); `filter=`, `order_by=`..."""
        return self._send_paged("ListMessages", fields, parent=parent)

    def search(self, parent: str, query: str, **fields: Any) -> Any:
        """A pager over SearchMessages: its items are `SearchResult`s (message and snippet)."""
        return self._send_paged("SearchMessages", fields, parent=parent, query=query)


class Runs(_Resource):
    stub_class = run_pb2_grpc.RunServiceStub
    messages = run_pb2

    def execute(self, session: str, input: Any, *, resume: ResumePolicy | None = None, **fields: Any) -> Any:
        """ExecuteAgent as a run stream that resumes after a dropped connection.

        `input` is text or content parts; `options=`, `labels=`, `cancel_on_disconnect=`,
        `request_id=` among the fields. A `request_id` is generated when none is given,
        so that a drop before the first event can repeat the call without starting a second run.
        """
        return self._execute({"session": session}, input, resume, fields)

    def _execute(self, target: dict[str, Any], input: Any, resume: ResumePolicy | None, fields: dict[str, Any]) -> Any:
        """ExecuteAgent on `target` (`session=` or `crew=`) as a resuming run stream."""
        fields, options = _split(fields)
        fields.setdefault("request_id", str(uuid.uuid4()))
        request = run_pb2.ExecuteAgentRequest(**target, input=content(input), **fields)
        timeout = self._client.defaults.deadline(options.pop("timeout", DEFAULT), streaming=True)

        def open_call(progress: _Progress) -> Any:
            return self.stub.ExecuteAgent(request, timeout=progress.remaining(), **options)

        def resume_call(progress: _Progress) -> Any:
            if not progress.run:
                return open_call(progress)
            follow = run_pb2.StreamRunEventsRequest(run=progress.run, after_seq=progress.last_seq)
            return self.stub.StreamRunEvents(follow, timeout=progress.remaining(), **options)

        return self._client.run_stream(open_call, resume_call, _Progress("", 0, timeout, resume or self._client.resume))

    def stream(self, run: str, after_seq: int = 0, *, resume: ResumePolicy | None = None, **options: Any) -> Any:
        """StreamRunEvents from `after_seq` as a run stream that resumes after a dropped connection."""
        timeout = self._client.defaults.deadline(options.pop("timeout", DEFAULT), streaming=True)

        def follow(progress: _Progress) -> Any:
            request = run_pb2.StreamRunEventsRequest(run=progress.run, after_seq=progress.last_seq)
            return self.stub.StreamRunEvents(request, timeout=progress.remaining(), **options)

        return self._client.run_stream(follow, follow, _Progress(run, after_seq, timeout, resume or self._client.resume))

    def stream_tokens(self, session: str, input: Any, **fields: Any) -> Any:
        """StreamTokens: the text of a new run only, as a plain response stream (not resumed)."""
        return self._send("StreamTokens", fields, session=session, input=content(input))

    def create(self, session: str, input: Any, **fields: Any) -> Any:
        """CreateRun: start a run and return it at once; `options=`, `labels=`, `run_id=`, `request_id=`..."""
        run_fields = {k: fields.pop(k) for k in ("options", "labels") if k in fields}
        return self._send("CreateRun", fields, run=run_pb2.Run(session=session, input=content(input), **run_fields))

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetRun", self._request("GetRun", {"name": name}), options)

    def list(self, **fields: Any) -> Any:
        """A pager over ListRuns; `filter=`, `order_by=`, `page_size=`, `page_token=`."""
        return self._send_paged("ListRuns", fields)

    def cancel(self, name: str, **fields: Any) -> Any:
        """CancelRun; `reason=`, `etag=`, `request_id=` among the fields."""
        return self._send("CancelRun", fields, name=name)

    def submit_input(self, name: str, input_request_id: str, **fields: Any) -> Any:
        """SubmitInput: answer with `approval=run_pb2.Approval(...)` or `text=`."""
        return self._send("SubmitInput", fields, name=name, input_request_id=input_request_id)
