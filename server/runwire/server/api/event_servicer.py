"""EventService: thin mapping of Subscribe, Connect and AcknowledgeEvents onto the domain."""

from __future__ import annotations

from typing import AsyncIterator

from runwire.server.api.calls import ServicerContext, caller, current_call, send_headers
from runwire.server.api.errors import status_proto
from runwire.server.domain.common import Idempotency
from runwire.server.domain.connections import ConnectService
from runwire.server.domain.resource_events import ResourceEvents, build_filter
from runwire.v1 import event_pb2, event_pb2_grpc


class EventServicer(event_pb2_grpc.EventServiceServicer):
    def __init__(self, events: ResourceEvents, connections: ConnectService) -> None:
        self.events = events
        self.connections = connections

    async def Subscribe(self, request: event_pb2.SubscribeRequest, context: ServicerContext) -> AsyncIterator[event_pb2.SubscribeResponse]:
        principal = caller()
        flt = build_filter(
            principal,
            topics=list(request.topics),
            resources=list(request.resources),
            types=list(request.types),
            all_principals=request.all_principals,
        )
        start = request.WhichOneof("start")
        after = await self.events.start_position(
            principal,
            cursor=request.cursor if start == "cursor" else "",
            from_now=start == "from_now",
            from_beginning=start == "from_beginning_of_retention",
            subscription_name=request.subscription_name,
        )
        start_cursor = self.events.cursor(after)
        current_call().resume_point = lambda last: {"cursor": _cursor_of(last) or start_cursor}
        # Headers now, so a client knows the stream is open even when nothing has happened yet.
        await send_headers(context)
        async for item in self.events.follow(flt, after, heartbeat=self.events.settings.event_heartbeat_seconds):
            if item.kind == "event":
                assert item.event is not None
                yield event_pb2.SubscribeResponse(event=item.event.event)
            elif item.kind == "caught_up":
                yield event_pb2.SubscribeResponse(caught_up=event_pb2.CaughtUp(cursor=self.events.cursor(item.pk)))
            else:
                heartbeat = event_pb2.Heartbeat(cursor=self.events.cursor(item.pk))
                heartbeat.server_time.GetCurrentTime()
                yield event_pb2.SubscribeResponse(heartbeat=heartbeat)

    async def Connect(
        self, request_iterator: AsyncIterator[event_pb2.ConnectRequest], context: ServicerContext
    ) -> AsyncIterator[event_pb2.ConnectResponse]:
        call = current_call()
        metadata = dict(context.invocation_metadata() or ())
        connection = self.connections.open(
            caller(),
            peer=context.peer() or "",
            user_agent=str(metadata.get("user-agent", "")),
            error_status=lambda error: status_proto(error, call.request_id, call.language),
        )
        # Its going_away message holds each subscription's cursor; the status says why the stream ended.
        call.resume_point = lambda last: {"connection": connection.info.id}
        await send_headers(context)
        async for message in connection.run(request_iterator):
            yield message

    async def AcknowledgeEvents(self, request: event_pb2.AcknowledgeEventsRequest, context: ServicerContext) -> event_pb2.AcknowledgeEventsResponse:
        Idempotency.validate(request.request_id)
        acked = await self.events.acknowledge(caller(), request.subscription_name, request.cursor)
        return event_pb2.AcknowledgeEventsResponse(
            subscription_name=request.subscription_name, cursor=self.events.cursor(acked)
        )


def _cursor_of(response: event_pb2.SubscribeResponse | None) -> str:
    """The log position a Subscribe message carries: an event's cursor, or a caught-up or heartbeat mark."""
    if response is None:
        return ""
    kind = response.WhichOneof("message")
    if kind == "event":
        return response.event.cursor
    return getattr(response, kind).cursor if kind else ""
