"""AdminService: server info, open streams and connections, and API keys (create, get, list, revoke)."""

from __future__ import annotations

from typing import Any, Callable

from runwire.server.api.calls import ServicerContext, caller
from runwire.server.api.options import list_query, write_options
from runwire.server.core.clock import utc_now
from runwire.server.core.etags import etag_of
from runwire.server.domain.admin import AdminService, ConnectionView, ServerInfo, StreamView
from runwire.server.domain.api_keys import API_KEY, ApiKeyService, state_of
from runwire.server.store.models import ApiKeyRow
from runwire.server.wire import convert
from runwire.v1 import admin_pb2, admin_pb2_grpc, common_pb2


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, keys: ApiKeyService, on_revoke: Callable[[str], Any], admin: AdminService) -> None:
        self.keys = keys
        # Drops the key from authentication caches and closes its streams (here, and on other replicas).
        self.on_revoke = on_revoke
        self.admin = admin

    async def GetServerInfo(self, request: admin_pb2.GetServerInfoRequest, context: ServicerContext) -> admin_pb2.ServerInfo:
        return server_info_proto(await self.admin.server_info(caller()))

    async def ListStreams(self, request: admin_pb2.ListStreamsRequest, context: ServicerContext) -> admin_pb2.ListStreamsResponse:
        page = self.admin.list_streams(caller(), list_query(request))
        return admin_pb2.ListStreamsResponse(
            streams=[stream_proto(s) for s in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def ListConnections(self, request: admin_pb2.ListConnectionsRequest, context: ServicerContext) -> admin_pb2.ListConnectionsResponse:
        page = self.admin.list_connections(caller(), list_query(request))
        return admin_pb2.ListConnectionsResponse(
            connections=[connection_proto(c) for c in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def CreateApiKey(self, request: admin_pb2.CreateApiKeyRequest, context: ServicerContext) -> admin_pb2.CreateApiKeyResponse:
        key = request.api_key
        created = await self.keys.create(
            caller(),
            {
                "display_name": key.display_name,
                "principal": key.principal,
                "role": key.role,
                "tier": key.tier,
                "scopes": list(key.scopes),
                "expire_time": convert.to_datetime(key.expire_time, "api_key.expire_time")
                if key.HasField("expire_time")
                else None,
            },
            write_options(request),
            api_key_id=request.api_key_id,
        )
        return admin_pb2.CreateApiKeyResponse(api_key=api_key_proto(created.row), secret=created.secret)

    async def GetApiKey(self, request: admin_pb2.GetApiKeyRequest, context: ServicerContext) -> admin_pb2.ApiKey:
        return api_key_proto(await self.keys.get(caller(), request.name))

    async def ListApiKeys(self, request: admin_pb2.ListApiKeysRequest, context: ServicerContext) -> admin_pb2.ListApiKeysResponse:
        page = await self.keys.list(caller(), list_query(request))
        return admin_pb2.ListApiKeysResponse(
            api_keys=[api_key_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def RevokeApiKey(self, request: admin_pb2.RevokeApiKeyRequest, context: ServicerContext) -> admin_pb2.ApiKey:
        row, changed = await self.keys.revoke(caller(), request.name, write_options(request))
        if changed:
            await self.on_revoke(row.id)
        return api_key_proto(row)


def api_key_proto(row: ApiKeyRow) -> admin_pb2.ApiKey:
    """Never the secret: only CreateApiKeyResponse.secret carries it, once."""
    return admin_pb2.ApiKey(
        name=API_KEY.format(row.id),
        display_name=row.display_name,
        principal=row.principal,
        role=admin_pb2.ApiKey.Role.ValueType(row.role),
        tier=common_pb2.Tier.ValueType(row.tier),
        key_prefix=row.key_prefix,
        state=admin_pb2.ApiKey.State.ValueType(state_of(row, utc_now())),
        expire_time=convert.timestamp(row.expire_time),
        revoke_time=convert.timestamp(row.revoke_time),
        last_use_time=convert.timestamp(row.last_use_time),
        create_time=convert.timestamp(row.create_time),
        created_by=row.created_by,
        revoked_by=row.revoked_by,
        scopes=list(row.scopes or ()),
        etag=etag_of("apiKey", row.id, row.revision, row.incarnation),
    )


def server_info_proto(info: ServerInfo) -> admin_pb2.ServerInfo:
    return admin_pb2.ServerInfo(
        version=info.version,
        replica=info.replica,
        process_id=info.process_id,
        start_time=convert.timestamp(info.start_time),
        uptime=convert.duration(info.uptime_seconds),
        workers=info.workers,
        backends=admin_pb2.ServerBackends(
            database=info.backends.database,
            event_bus=info.backends.event_bus,
            rate_limiter=info.backends.rate_limiter,
            file_store=info.backends.file_store,
        ),
        providers=[
            admin_pb2.ProviderInfo(name=p.name, is_default=p.is_default, default_model=p.default_model, base_url=p.base_url)
            for p in info.providers
        ],
        counts=admin_pb2.ServerCounts(**{k: v for k, v in info.counts.items() if k in admin_pb2.ServerCounts.DESCRIPTOR.fields_by_name}),
        config_revision=info.config_revision,
        python_version=info.python_version,
        grpc_version=info.grpc_version,
        protobuf_backend=info.protobuf_backend,
    )


def stream_proto(stream: StreamView) -> admin_pb2.StreamInfo:
    return admin_pb2.StreamInfo(
        id=stream.id,
        method=stream.method,
        principal=stream.principal,
        peer=stream.peer,
        replica=stream.replica,
        follows=stream.follows,
        start_time=convert.timestamp(stream.start_time),
        deadline=convert.timestamp(stream.deadline),
        messages_sent=stream.messages_sent,
        last_send_time=convert.timestamp(stream.last_send_time),
        process_id=stream.process_id,
    )


def connection_proto(connection: ConnectionView) -> admin_pb2.ConnectionInfo:
    return admin_pb2.ConnectionInfo(
        id=connection.id,
        principal=connection.principal,
        peer=connection.peer,
        replica=connection.replica,
        client_name=connection.client_name,
        client_version=connection.client_version,
        user_agent=connection.user_agent,
        accept_input_requests=connection.accept_input_requests,
        connect_time=convert.timestamp(connection.connect_time),
        last_activity_time=convert.timestamp(connection.last_activity_time),
        subscriptions=connection.subscriptions,
        messages_sent=connection.messages_sent,
        messages_received=connection.messages_received,
        process_id=connection.process_id,
    )
