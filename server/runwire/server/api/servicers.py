"""Thin servicers: proto in, domain call, proto out. No rules, no status codes here."""

from __future__ import annotations

from google.protobuf import empty_pb2

from runwire.server.wire import convert
from runwire.server.api.calls import caller
from runwire.server.domain.agents import AgentService
from runwire.server.domain.messages import MessageService
from runwire.server.domain.sessions import SessionDraft, SessionService
from runwire.v1 import agent_pb2, agent_pb2_grpc, message_pb2, message_pb2_grpc, session_pb2, session_pb2_grpc

EMPTY = empty_pb2.Empty()


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, agents: AgentService) -> None:
        self.agents = agents
        self._agent_protos = convert.ProtoMemo(convert.agent_proto)

    async def CreateAgent(self, request: agent_pb2.CreateAgentRequest, context) -> agent_pb2.Agent:  # type: ignore[no-untyped-def]
        row = await self.agents.create(
            caller(),
            convert.agent_fields(request.agent),
            agent_id=request.agent_id,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
        )
        return convert.agent_proto(row)

    async def GetAgent(self, request: agent_pb2.GetAgentRequest, context) -> agent_pb2.Agent:  # type: ignore[no-untyped-def]
        record = await self.agents.get(caller(), request.name)
        return self._agent_protos(record.id, record)

    async def ListAgents(self, request: agent_pb2.ListAgentsRequest, context) -> agent_pb2.ListAgentsResponse:  # type: ignore[no-untyped-def]
        page = await self.agents.list(
            caller(),
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
            order_by=request.order_by,
        )
        return agent_pb2.ListAgentsResponse(
            agents=[convert.agent_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateAgent(self, request: agent_pb2.UpdateAgentRequest, context) -> agent_pb2.Agent:  # type: ignore[no-untyped-def]
        row = await self.agents.update(
            caller(),
            request.agent.name,
            convert.agent_fields(request.agent),
            convert.mask_paths(request.update_mask, request.agent),
            etag=request.agent.etag,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
        )
        return convert.agent_proto(row)

    async def DeleteAgent(self, request: agent_pb2.DeleteAgentRequest, context) -> empty_pb2.Empty:  # type: ignore[no-untyped-def]
        await self.agents.delete(
            caller(),
            request.name,
            etag=request.etag,
            force=request.force,
            allow_missing=request.allow_missing,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return EMPTY


class SessionServicer(session_pb2_grpc.SessionServiceServicer):
    def __init__(self, sessions: SessionService) -> None:
        self.sessions = sessions

    async def CreateSession(self, request: session_pb2.CreateSessionRequest, context) -> session_pb2.Session:  # type: ignore[no-untyped-def]
        row = await self.sessions.create(
            caller(),
            convert.session_fields(request.session),
            session_id=request.session_id,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
        )
        return convert.session_proto(row)

    async def GetSession(self, request: session_pb2.GetSessionRequest, context) -> session_pb2.Session:  # type: ignore[no-untyped-def]
        return convert.session_proto(await self.sessions.get_record(caller(), request.name))

    async def ListSessions(self, request: session_pb2.ListSessionsRequest, context) -> session_pb2.ListSessionsResponse:  # type: ignore[no-untyped-def]
        page = await self.sessions.list(
            caller(),
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
            order_by=request.order_by,
        )
        return session_pb2.ListSessionsResponse(
            sessions=[convert.session_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateSession(self, request: session_pb2.UpdateSessionRequest, context) -> session_pb2.Session:  # type: ignore[no-untyped-def]
        row = await self.sessions.update(
            caller(),
            request.session.name,
            convert.session_fields(request.session),
            convert.mask_paths(request.update_mask, request.session),
            etag=request.session.etag,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
        )
        return convert.session_proto(row)

    async def DeleteSession(self, request: session_pb2.DeleteSessionRequest, context) -> empty_pb2.Empty:  # type: ignore[no-untyped-def]
        await self.sessions.delete(
            caller(),
            request.name,
            etag=request.etag,
            force=request.force,
            allow_missing=request.allow_missing,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return EMPTY

    async def BatchCreateSessions(
        self, request: session_pb2.BatchCreateSessionsRequest, context  # type: ignore[no-untyped-def]
    ) -> session_pb2.BatchCreateSessionsResponse:
        drafts = [
            SessionDraft(convert.session_fields(r.session, f"requests[{i}].session"), r.session_id)
            for i, r in enumerate(request.requests)
        ]
        rows = await self.sessions.batch_create(
            caller(), drafts, request_id=request.request_id, fingerprint=convert.fingerprint(request)
        )
        return session_pb2.BatchCreateSessionsResponse(sessions=[convert.session_proto(r) for r in rows])

    async def BatchDeleteSessions(self, request: session_pb2.BatchDeleteSessionsRequest, context) -> empty_pb2.Empty:  # type: ignore[no-untyped-def]
        await self.sessions.batch_delete(
            caller(),
            list(request.names),
            force=request.force,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return EMPTY


class MessageServicer(message_pb2_grpc.MessageServiceServicer):
    def __init__(self, messages: MessageService) -> None:
        self.messages = messages

    async def CreateMessage(self, request: message_pb2.CreateMessageRequest, context) -> message_pb2.Message:  # type: ignore[no-untyped-def]
        row = await self.messages.create(
            caller(),
            request.parent,
            convert.message_fields(request.message),
            message_id=request.message_id,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
        )
        return convert.message_proto(row)

    async def GetMessage(self, request: message_pb2.GetMessageRequest, context) -> message_pb2.Message:  # type: ignore[no-untyped-def]
        return convert.message_proto(await self.messages.get(caller(), request.name))

    async def ListMessages(self, request: message_pb2.ListMessagesRequest, context) -> message_pb2.ListMessagesResponse:  # type: ignore[no-untyped-def]
        page = await self.messages.list(
            caller(),
            request.parent,
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
            order_by=request.order_by,
        )
        return message_pb2.ListMessagesResponse(
            messages=[convert.message_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateMessage(self, request: message_pb2.UpdateMessageRequest, context) -> message_pb2.Message:  # type: ignore[no-untyped-def]
        row = await self.messages.update(
            caller(),
            request.message.name,
            convert.message_fields(request.message),
            convert.mask_paths(request.update_mask, request.message),
            etag=request.message.etag,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
        )
        return convert.message_proto(row)

    async def DeleteMessage(self, request: message_pb2.DeleteMessageRequest, context) -> empty_pb2.Empty:  # type: ignore[no-untyped-def]
        await self.messages.delete(
            caller(),
            request.name,
            etag=request.etag,
            force=request.force,
            allow_missing=request.allow_missing,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return EMPTY

    async def SearchMessages(self, request: message_pb2.SearchMessagesRequest, context) -> message_pb2.SearchMessagesResponse:  # type: ignore[no-untyped-def]
        hits, token = await self.messages.search(
            caller(), request.parent, request.query, page_size=request.page_size, page_token=request.page_token
        )
        return message_pb2.SearchMessagesResponse(
            results=[message_pb2.MessageSearchResult(message=convert.message_proto(h.message), snippet=h.snippet) for h in hits],
            next_page_token=token,
        )
