"""Thin servicers: proto in, domain call, proto out. No rules, no status codes here."""

from __future__ import annotations

from google.protobuf import empty_pb2

from runwire.server.api.calls import ServicerContext, caller
from runwire.server.api.options import list_query, search_query, write_options
from runwire.server.domain.agents import AgentService
from runwire.server.domain.messages import MAX_KEPT_MESSAGES, MessageService
from runwire.server.domain.sessions import SessionDraft, SessionService
from runwire.server.store.repositories import small_message
from runwire.server.wire import convert
from runwire.v1 import agent_pb2, agent_pb2_grpc, message_pb2, message_pb2_grpc, session_pb2, session_pb2_grpc

EMPTY = empty_pb2.Empty()


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, agents: AgentService) -> None:
        self.agents = agents
        self._agent_protos: convert.ProtoMemo[agent_pb2.Agent] = convert.ProtoMemo(convert.agent_proto)

    async def CreateAgent(self, request: agent_pb2.CreateAgentRequest, context: ServicerContext) -> agent_pb2.Agent:
        fields = convert.agent_fields(request.agent)
        row = await self.agents.create(caller(), fields, write_options(request), agent_id=request.agent_id)
        return convert.agent_proto(row)

    async def GetAgent(self, request: agent_pb2.GetAgentRequest, context: ServicerContext) -> agent_pb2.Agent:
        record = await self.agents.get(caller(), request.name)
        return self._agent_protos(record.id, record)

    async def ListAgents(self, request: agent_pb2.ListAgentsRequest, context: ServicerContext) -> agent_pb2.ListAgentsResponse:
        page = await self.agents.list(caller(), list_query(request))
        return agent_pb2.ListAgentsResponse(
            agents=[convert.agent_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateAgent(self, request: agent_pb2.UpdateAgentRequest, context: ServicerContext) -> agent_pb2.Agent:
        agent = request.agent
        options = write_options(request, etag=agent.etag, update_mask=convert.mask_paths(request.update_mask, agent))
        return convert.agent_proto(await self.agents.update(caller(), agent.name, convert.agent_fields(agent), options))

    async def DeleteAgent(self, request: agent_pb2.DeleteAgentRequest, context: ServicerContext) -> empty_pb2.Empty:
        await self.agents.delete(caller(), request.name, write_options(request))
        return EMPTY


class SessionServicer(session_pb2_grpc.SessionServiceServicer):
    def __init__(self, sessions: SessionService) -> None:
        self.sessions = sessions
        self._session_protos: convert.ProtoMemo[session_pb2.Session] = convert.EqualRecordMemo(convert.session_proto)

    async def CreateSession(self, request: session_pb2.CreateSessionRequest, context: ServicerContext) -> session_pb2.Session:
        fields = convert.session_fields(request.session)
        row = await self.sessions.create(caller(), fields, write_options(request), session_id=request.session_id)
        return convert.session_proto(row)

    async def GetSession(self, request: session_pb2.GetSessionRequest, context: ServicerContext) -> session_pb2.Session:
        record = await self.sessions.get_record(caller(), request.name)
        return self._session_protos(record.id, record)

    async def ListSessions(self, request: session_pb2.ListSessionsRequest, context: ServicerContext) -> session_pb2.ListSessionsResponse:
        page = await self.sessions.list(caller(), list_query(request))
        return session_pb2.ListSessionsResponse(
            sessions=[convert.session_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateSession(self, request: session_pb2.UpdateSessionRequest, context: ServicerContext) -> session_pb2.Session:
        session = request.session
        options = write_options(request, etag=session.etag, update_mask=convert.mask_paths(request.update_mask, session))
        return convert.session_proto(await self.sessions.update(caller(), session.name, convert.session_fields(session), options))

    async def DeleteSession(self, request: session_pb2.DeleteSessionRequest, context: ServicerContext) -> empty_pb2.Empty:
        await self.sessions.delete(caller(), request.name, write_options(request))
        return EMPTY

    async def BatchCreateSessions(
        self, request: session_pb2.BatchCreateSessionsRequest, context: ServicerContext
    ) -> session_pb2.BatchCreateSessionsResponse:
        drafts = [
            SessionDraft(convert.session_fields(r.session, f"requests[{i}].session"), r.session_id)
            for i, r in enumerate(request.requests)
        ]
        rows = await self.sessions.batch_create(caller(), drafts, write_options(request))
        return session_pb2.BatchCreateSessionsResponse(sessions=[convert.session_proto(r) for r in rows])

    async def BatchDeleteSessions(self, request: session_pb2.BatchDeleteSessionsRequest, context: ServicerContext) -> empty_pb2.Empty:
        await self.sessions.batch_delete(caller(), list(request.names), write_options(request))
        return EMPTY


class MessageServicer(message_pb2_grpc.MessageServiceServicer):
    def __init__(self, messages: MessageService) -> None:
        self.messages = messages
        # A listed message comes back as the same record object while its row does not change (MessageService).
        self._listed_protos: convert.ProtoMemo[message_pb2.Message] = convert.ProtoMemo(convert.message_proto, limit=MAX_KEPT_MESSAGES, keep=small_message)
        # The same page of the same record objects (and token and total) answers the response made last time.
        self._listed_pages: convert.PageMemo[message_pb2.ListMessagesResponse] = convert.PageMemo()

    async def CreateMessage(self, request: message_pb2.CreateMessageRequest, context: ServicerContext) -> message_pb2.Message:
        fields = convert.message_fields(request.message)
        row = await self.messages.create(caller(), request.parent, fields, write_options(request), message_id=request.message_id)
        return convert.message_proto(row)

    async def GetMessage(self, request: message_pb2.GetMessageRequest, context: ServicerContext) -> message_pb2.Message:
        return convert.message_proto(await self.messages.get(caller(), request.name))

    async def ListMessages(self, request: message_pb2.ListMessagesRequest, context: ServicerContext) -> message_pb2.ListMessagesResponse:
        page = await self.messages.list(caller(), request.parent, list_query(request))
        items, token, total = page.items, page.next_page_token, page.total_size
        key = (request.parent, request.page_token)
        response = self._listed_pages.get(key, items, token, total)
        if response is None:
            response = message_pb2.ListMessagesResponse(
                messages=[self._listed_protos((r.session_id, r.id), r) for r in items], next_page_token=token, total_size=total
            )
            if all(small_message(r) for r in items):  # the records worth keeping, as _listed_protos
                self._listed_pages.put(key, items, token, total, response)
        return response

    async def UpdateMessage(self, request: message_pb2.UpdateMessageRequest, context: ServicerContext) -> message_pb2.Message:
        message = request.message
        options = write_options(request, etag=message.etag, update_mask=convert.mask_paths(request.update_mask, message))
        return convert.message_proto(await self.messages.update(caller(), message.name, convert.message_fields(message), options))

    async def DeleteMessage(self, request: message_pb2.DeleteMessageRequest, context: ServicerContext) -> empty_pb2.Empty:
        await self.messages.delete(caller(), request.name, write_options(request))
        return EMPTY

    async def SearchMessages(self, request: message_pb2.SearchMessagesRequest, context: ServicerContext) -> message_pb2.SearchMessagesResponse:
        hits, token = await self.messages.search(caller(), request.parent, search_query(request))
        return message_pb2.SearchMessagesResponse(
            results=[message_pb2.MessageSearchResult(message=convert.message_proto(h.message), snippet=h.snippet) for h in hits],
            next_page_token=token,
        )
