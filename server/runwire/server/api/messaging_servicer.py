"""MessagingService: proto <-> domain for notifications and requests services send to users."""

from __future__ import annotations

from typing import Callable

from runwire.server.api.admin_servicer import connection_proto
from runwire.server.api.calls import ServicerContext, caller, current_call
from runwire.server.api.options import list_query, write_options
from runwire.server.core.errors import InvalidArgument
from runwire.server.domain.admin import ConnectionView
from runwire.server.domain.messaging import (
    KIND_NOTIFICATION,
    KIND_REQUEST,
    SERVER_MESSAGE,
    MessagingService,
    may_send,
    message_proto,
    parse_principal,
)
from runwire.server.wire import convert
from runwire.v1 import messaging_pb2, messaging_pb2_grpc

MAX_CONNECTIONS_LISTED = 1000
# The wait ends this long before the call's deadline, so the answer says which request is still pending.
DEADLINE_MARGIN_SECONDS = 0.1


def _wait_seconds() -> float | None:
    remaining = current_call().time_remaining()
    return None if remaining is None else max(remaining - DEADLINE_MARGIN_SECONDS, 0.0)


class MessagingServicer(messaging_pb2_grpc.MessagingServiceServicer):
    def __init__(self, messaging: MessagingService, connections: Callable[[], list[ConnectionView]]) -> None:
        self.messaging = messaging
        self.connections = connections

    async def SendNotification(self, request: messaging_pb2.SendNotificationRequest, context: ServicerContext) -> messaging_pb2.ServerMessage:
        view = await self.messaging.send(
            caller(),
            KIND_NOTIFICATION,
            request.notification,
            ttl_seconds=convert.seconds(request.ttl) if request.HasField("ttl") else None,
            options=write_options(request),
            field="notification",
        )
        return message_proto(view)

    async def SendRequest(self, request: messaging_pb2.SendRequestRequest, context: ServicerContext) -> messaging_pb2.ServerMessage:
        principal = caller()
        view = await self.messaging.send(
            principal,
            KIND_REQUEST,
            request.request,
            ttl_seconds=convert.seconds(request.ttl) if request.HasField("ttl") else None,
            options=write_options(request),
            field="request",
        )
        if request.wait:
            view = await self.messaging.wait_for_answer(principal, SERVER_MESSAGE.format(view.row.id), _wait_seconds())
        return message_proto(view)

    async def GetServerMessage(self, request: messaging_pb2.GetServerMessageRequest, context: ServicerContext) -> messaging_pb2.ServerMessage:
        return message_proto(await self.messaging.get(caller(), request.name))

    async def ListServerMessages(self, request: messaging_pb2.ListServerMessagesRequest, context: ServicerContext) -> messaging_pb2.ListServerMessagesResponse:
        View = messaging_pb2.ListServerMessagesRequest.View
        if request.view not in View.values():
            raise InvalidArgument.field("view", f"unknown view {request.view}")
        page = await self.messaging.list(caller(), list_query(request), sent=request.view == View.VIEW_SENT)
        return messaging_pb2.ListServerMessagesResponse(
            server_messages=[message_proto(v) for v in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def AcknowledgeServerMessage(self, request: messaging_pb2.AcknowledgeServerMessageRequest, context: ServicerContext) -> messaging_pb2.ServerMessage:
        return message_proto(await self.messaging.acknowledge(caller(), request.name, write_options(request)))

    async def ListRecipientConnections(
        self, request: messaging_pb2.ListRecipientConnectionsRequest, context: ServicerContext
    ) -> messaging_pb2.ListRecipientConnectionsResponse:
        principal = caller()
        wanted = None
        if request.principal:
            wanted = parse_principal(request.principal)
            if wanted is None:
                raise InvalidArgument.field("principal", "must be `principals/{principal}`")
        # Senders may address every connection; anyone else sees only its own.
        if not may_send(principal):
            wanted = principal.id if wanted in (None, principal.id) else ""
        shown = [c for c in self.connections() if wanted is None or c.principal == wanted][:MAX_CONNECTIONS_LISTED]
        return messaging_pb2.ListRecipientConnectionsResponse(connections=[connection_proto(c) for c in shown])
