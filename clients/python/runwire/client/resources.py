"""Agents, sessions, messages and runs: one method per RPC, the same for both clients.

Each method builds the request from its arguments and sends it. With `Client`
it returns the result; with `AsyncClient` it returns an awaitable (unary
calls) or an async iterable (pagers, run streams). Keyword arguments beyond
those named set fields of the request (`request_id=`, `validate_only=`,
`allow_missing=`...), and `timeout=` / `metadata=` apply to the call itself.
"""

from __future__ import annotations

import uuid
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


class Agents(_Resource):
    stub_class = agent_pb2_grpc.AgentServiceStub

    def create(self, agent: agent_pb2.Agent, **fields: Any) -> Any:
        """CreateAgent; `agent_id=`, `request_id=`, `validate_only=` among the fields."""
        fields, options = _split(fields)
        return self._call("CreateAgent", agent_pb2.CreateAgentRequest(agent=agent, **fields), options)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetAgent", agent_pb2.GetAgentRequest(name=name), options)

    def list(self, **fields: Any) -> Any:
        """A pager over ListAgents; `filter=`, `order_by=`, `page_size=`, `page_token=`."""
        fields, options = _split(fields)
        return self._pages("ListAgents", agent_pb2.ListAgentsRequest(**fields), options)

    def update(self, agent: agent_pb2.Agent, update_mask: Sequence[str] | field_mask_pb2.FieldMask, **fields: Any) -> Any:
        fields, options = _split(fields)
        request = agent_pb2.UpdateAgentRequest(agent=agent, update_mask=_mask(update_mask), **fields)
        return self._call("UpdateAgent", request, options)

    def delete(self, name: str, **fields: Any) -> Any:
        """DeleteAgent; `force=`, `etag=` among the fields."""
        fields, options = _split(fields)
        return self._call("DeleteAgent", agent_pb2.DeleteAgentRequest(name=name, **fields), options)


class Secrets(_Resource):
    """The caller's secrets. Values go in (create, rotate) and never come back."""

    stub_class = secret_pb2_grpc.SecretServiceStub

    def create(self, secret: secret_pb2.Secret, **fields: Any) -> Any:
        """CreateSecret; `secret_id=`, `request_id=`, `validate_only=` among the fields."""
        fields, options = _split(fields)
        return self._call("CreateSecret", secret_pb2.CreateSecretRequest(secret=secret, **fields), options)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetSecret", secret_pb2.GetSecretRequest(name=name), options)

    def list(self, **fields: Any) -> Any:
        """A pager over ListSecrets; `filter=`, `order_by=`, `page_size=`, `page_token=`."""
        fields, options = _split(fields)
        return self._pages("ListSecrets", secret_pb2.ListSecretsRequest(**fields), options)

    def update(self, secret: secret_pb2.Secret, update_mask: Sequence[str] | field_mask_pb2.FieldMask, **fields: Any) -> Any:
        """UpdateSecret; `value` in the mask rotates the value."""
        fields, options = _split(fields)
        request = secret_pb2.UpdateSecretRequest(secret=secret, update_mask=_mask(update_mask), **fields)
        return self._call("UpdateSecret", request, options)

    def delete(self, name: str, **fields: Any) -> Any:
        """DeleteSecret; `etag=`, `allow_missing=` among the fields."""
        fields, options = _split(fields)
        return self._call("DeleteSecret", secret_pb2.DeleteSecretRequest(name=name, **fields), options)


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

    def notify(self, to: str | messaging_pb2.Recipient, text: str, **fields: Any) -> Any:
        """SendNotification; `title=`, `level=`, `priority=`, `data=`, `expire_time=` set the notification,
        `ttl=`, `request_id=` the request."""
        fields, options = _split(fields)
        request_fields = {k: fields.pop(k) for k in ("ttl", "request_id") if k in fields}
        request_fields.setdefault("request_id", str(uuid.uuid4()))
        notification = messaging_pb2.ServerMessage(recipient=recipient(to), text=text, **fields)
        return self._call("SendNotification", messaging_pb2.SendNotificationRequest(notification=notification, **request_fields), options)

    def ask(self, to: str, text: str, *, wait: bool = False, **fields: Any) -> Any:
        """SendRequest to a principal (`principals/{id}`); with `wait=True`, returns once answered or expired."""
        fields, options = _split(fields)
        request_fields = {k: fields.pop(k) for k in ("ttl", "request_id") if k in fields}
        request_fields.setdefault("request_id", str(uuid.uuid4()))
        message = messaging_pb2.ServerMessage(recipient=recipient(to), text=text, **fields)
        return self._call("SendRequest", messaging_pb2.SendRequestRequest(request=message, wait=wait, **request_fields), options)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetServerMessage", messaging_pb2.GetServerMessageRequest(name=name), options)

    def list(self, *, sent: bool = False, **fields: Any) -> Any:
        """A pager over ListServerMessages: the caller's inbox, or what it sent; `filter=`, `page_size=`."""
        fields, options = _split(fields)
        view = messaging_pb2.ListServerMessagesRequest.VIEW_SENT if sent else messaging_pb2.ListServerMessagesRequest.VIEW_INBOX
        return self._pages("ListServerMessages", messaging_pb2.ListServerMessagesRequest(view=view, **fields), options)

    def acknowledge(self, name: str, **fields: Any) -> Any:
        fields, options = _split(fields)
        return self._call("AcknowledgeServerMessage", messaging_pb2.AcknowledgeServerMessageRequest(name=name, **fields), options)

    def connections(self, principal: str = "", **options: Any) -> Any:
        """ListRecipientConnections: the live connections the caller may address."""
        return self._call(
            "ListRecipientConnections", messaging_pb2.ListRecipientConnectionsRequest(principal=principal), options
        )


class Sessions(_Resource):
    stub_class = session_pb2_grpc.SessionServiceStub

    def create(self, session: session_pb2.Session, **fields: Any) -> Any:
        """CreateSession; `session_id=`, `request_id=`, `validate_only=` among the fields."""
        fields, options = _split(fields)
        return self._call("CreateSession", session_pb2.CreateSessionRequest(session=session, **fields), options)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetSession", session_pb2.GetSessionRequest(name=name), options)

    def list(self, **fields: Any) -> Any:
        """A pager over ListSessions; `filter=`, `order_by=`, `page_size=`, `page_token=`."""
        fields, options = _split(fields)
        return self._pages("ListSessions", session_pb2.ListSessionsRequest(**fields), options)

    def update(self, session: session_pb2.Session, update_mask: Sequence[str] | field_mask_pb2.FieldMask, **fields: Any) -> Any:
        fields, options = _split(fields)
        request = session_pb2.UpdateSessionRequest(session=session, update_mask=_mask(update_mask), **fields)
        return self._call("UpdateSession", request, options)

    def delete(self, name: str, **fields: Any) -> Any:
        """DeleteSession; `force=`, `etag=`, `allow_missing=` among the fields."""
        fields, options = _split(fields)
        return self._call("DeleteSession", session_pb2.DeleteSessionRequest(name=name, **fields), options)

    def batch_create(self, requests: Sequence[session_pb2.CreateSessionRequest], **fields: Any) -> Any:
        fields, options = _split(fields)
        request = session_pb2.BatchCreateSessionsRequest(requests=list(requests), **fields)
        return self._call("BatchCreateSessions", request, options)

    def batch_delete(self, names: Sequence[str], **fields: Any) -> Any:
        fields, options = _split(fields)
        return self._call("BatchDeleteSessions", session_pb2.BatchDeleteSessionsRequest(names=list(names), **fields), options)


class Messages(_Resource):
    stub_class = message_pb2_grpc.MessageServiceStub

    def create(self, parent: str, message: message_pb2.Message, **fields: Any) -> Any:
        """CreateMessage in the session `parent`; `message_id=`, `request_id=`, `validate_only=` among the fields."""
        fields, options = _split(fields)
        return self._call("CreateMessage", message_pb2.CreateMessageRequest(parent=parent, message=message, **fields), options)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetMessage", message_pb2.GetMessageRequest(name=name), options)

    def list(self, parent: str, **fields: Any) -> Any:
        """A pager over ListMessages of the session `parent` (`sessions/-` for all); `filter=`, `order_by=`..."""
        fields, options = _split(fields)
        return self._pages("ListMessages", message_pb2.ListMessagesRequest(parent=parent, **fields), options)

    def search(self, parent: str, query: str, **fields: Any) -> Any:
        """A pager over SearchMessages: its items are `SearchResult`s (message and snippet)."""
        fields, options = _split(fields)
        return self._pages("SearchMessages", message_pb2.SearchMessagesRequest(parent=parent, query=query, **fields), options)

    def update(self, message: message_pb2.Message, update_mask: Sequence[str] | field_mask_pb2.FieldMask, **fields: Any) -> Any:
        fields, options = _split(fields)
        request = message_pb2.UpdateMessageRequest(message=message, update_mask=_mask(update_mask), **fields)
        return self._call("UpdateMessage", request, options)

    def delete(self, name: str, **fields: Any) -> Any:
        """DeleteMessage; `force=`, `etag=` among the fields."""
        fields, options = _split(fields)
        return self._call("DeleteMessage", message_pb2.DeleteMessageRequest(name=name, **fields), options)


class Runs(_Resource):
    stub_class = run_pb2_grpc.RunServiceStub

    def execute(self, session: str, input: Any, *, resume: ResumePolicy | None = None, **fields: Any) -> Any:
        """ExecuteAgent as a run stream that resumes after a dropped connection.

        `input` is text or content parts; `options=`, `labels=`, `cancel_on_disconnect=`,
        `request_id=` among the fields. A `request_id` is generated when none is given,
        so that a drop before the first event can repeat the call without starting a second run.
        """
        fields, options = _split(fields)
        fields.setdefault("request_id", str(uuid.uuid4()))
        request = run_pb2.ExecuteAgentRequest(session=session, input=content(input), **fields)
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
        fields, options = _split(fields)
        return self._call("StreamTokens", run_pb2.StreamTokensRequest(session=session, input=content(input), **fields), options)

    def create(self, session: str, input: Any, **fields: Any) -> Any:
        """CreateRun: start a run and return it at once; `options=`, `labels=`, `run_id=`, `request_id=`..."""
        fields, options = _split(fields)
        run_fields = {k: fields.pop(k) for k in ("options", "labels") if k in fields}
        run = run_pb2.Run(session=session, input=content(input), **run_fields)
        return self._call("CreateRun", run_pb2.CreateRunRequest(run=run, **fields), options)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetRun", run_pb2.GetRunRequest(name=name), options)

    def list(self, **fields: Any) -> Any:
        """A pager over ListRuns; `filter=`, `order_by=`, `page_size=`, `page_token=`."""
        fields, options = _split(fields)
        return self._pages("ListRuns", run_pb2.ListRunsRequest(**fields), options)

    def cancel(self, name: str, **fields: Any) -> Any:
        """CancelRun; `reason=`, `etag=`, `request_id=` among the fields."""
        fields, options = _split(fields)
        return self._call("CancelRun", run_pb2.CancelRunRequest(name=name, **fields), options)

    def submit_input(self, name: str, input_request_id: str, **fields: Any) -> Any:
        """SubmitInput: answer with `approval=run_pb2.Approval(...)` or `text=`."""
        fields, options = _split(fields)
        request = run_pb2.SubmitInputRequest(name=name, input_request_id=input_request_id, **fields)
        return self._call("SubmitInput", request, options)
