"""Assembles a serving process from its settings: database, domain services, servicers, and its start and
graceful shutdown. The gRPC server itself is grpc_server.py; the background loops are loops.py."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable

import grpc

from runwire.server.api.admin_servicer import AdminServicer
from runwire.server.api.auth import Authenticator
from runwire.server.api.batch_servicer import BatchServicer, write_results_file
from runwire.server.api.calls import CallInterceptor, CallPolicy, StreamRegistry
from runwire.server.api.config_servicer import ConfigServicer
from runwire.server.api.crew_servicer import CrewServicer
from runwire.server.api.event_servicer import EventServicer
from runwire.server.api.file_servicer import FileServicer
from runwire.server.api.memory_servicer import MemoryServicer
from runwire.server.api.messaging_servicer import MessagingServicer
from runwire.server.api.ratelimit import MemoryBuckets, RateLimiter, RedisBuckets, StreamSlots
from runwire.server.api.run_servicer import RunServicer
from runwire.server.api.secret_servicer import SecretServicer
from runwire.server.api.servicers import AgentServicer, MessageServicer, SessionServicer
from runwire.server.api.tool_servicers import McpServerServicer, ToolServicer
from runwire.server.background import spawn
from runwire.server.config import Settings
from runwire.server.core import metrics
from runwire.server.core.clock import utc_now
from runwire.server.core.errors import DomainError
from runwire.server.core.paging import PageTokenCodec
from runwire.server.core.principal import Principal
from runwire.server.domain.admin import (
    REPLICA,
    AdminService,
    Backends,
    ConnectionView,
    ProviderView,
    ServerFacts,
    StreamView,
)
from runwire.server.domain.agents import AgentService
from runwire.server.domain.api_keys import ApiKeyService
from runwire.server.domain.batch_executor import BatchExecutor
from runwire.server.domain.batches import BatchService
from runwire.server.domain.common import Idempotency
from runwire.server.domain.connections import ConnectService
from runwire.server.domain.context import DomainContext
from runwire.server.domain.crew_runs import CrewRunTree
from runwire.server.domain.crews import CrewService
from runwire.server.domain.file_search_tool import FileSearch
from runwire.server.domain.files.analysis import FileAnalysisService
from runwire.server.domain.files.processing import FileProcessing
from runwire.server.domain.files.search import FileSearchService
from runwire.server.domain.files.service import FileService
from runwire.server.domain.mcp_servers import McpServerService
from runwire.server.domain.memories import MemoryService
from runwire.server.domain.memory_tool import MemoryTool
from runwire.server.domain.messages import MessageService
from runwire.server.domain.messaging import MessagingService
from runwire.server.domain.ownership import LeaseSettings, Ownership
from runwire.server.domain.resource_events import ResourceEvents
from runwire.server.domain.runs import RunService, load_events, run_finished
from runwire.server.domain.runtime_config import RuntimeConfigService
from runwire.server.domain.secrets import SecretService
from runwire.server.domain.sessions import SessionService
from runwire.server.domain.tools import ToolService
from runwire.server.engine.builtin_provider import BuiltinProvider
from runwire.server.engine.egress import EgressPolicy
from runwire.server.engine.endpoints import ProviderEndpoints
from runwire.server.engine.events import RunEventLog
from runwire.server.engine.mcp import McpManager
from runwire.server.engine.openai_provider import OpenAIProvider
from runwire.server.engine.runner import RunFailure, Runner
from runwire.server.engine.tools import ToolRegistry, builtin_tools
from runwire.server.files.blobs import LocalBlobStore
from runwire.server.grpc_server import GrpcServer
from runwire.server.loops import GaugeRefresher, KeyUseRecorder, Sweeper, follow_revocations
from runwire.server.store import repositories as repo
from runwire.server.store.database import DataDirLock, migrate, sqlite_directory
from runwire.server.store.leases import LeaseTerms, new_process_id
from runwire.server.store.secrets import SecretBox
from runwire.server.store.signals import PostgresSignals, RedisSignals, SignalBus
from runwire.server.store.store import Store
from runwire.v1 import admin_pb2, event_pb2

log = logging.getLogger("runwire.server")

VERSION = "0.1.0"


class RunwireServer:
    def __init__(
        self, settings: Settings, principal_for: Callable[[grpc.aio.ServicerContext], Principal] | None = None
    ) -> None:
        self.settings = settings
        # Who is calling; every call runs as the local principal until authentication is configured.
        self._principal_for = principal_for
        self.port: int | None = None
        self._server: GrpcServer | None = None
        self._store: Store | None = None
        self._background: list[asyncio.Task[None]] = []
        self.services: dict[str, Any] = {}
        self.metrics_server: metrics.MetricsServer | None = None
        self.rate_limiter: RateLimiter | None = None
        self.authenticator: Authenticator | None = None
        self.policy: CallPolicy | None = None
        self._redis: Any = None
        # Token buckets and stream slots outlive changes of the rate-limit settings (ConfigService).
        self._buckets: Any = None
        self._stream_slots: StreamSlots | None = None
        # The secret of a bootstrap admin key generated at this start, if any (shown once on stderr).
        self.generated_admin_key: str | None = None
        # Backends AdminService reports; the event bus and file store are in-process and local by default.
        self.event_bus_backend = "memory"
        self.file_store_backend = "local"
        # This process as the owner of leases on runs and batches: unique per start.
        self.process_id = new_process_id()
        self._data_dir_lock: DataDirLock | None = None
        self.ownership: Ownership | None = None

    async def start(self) -> int:
        settings = self.settings
        self.start_time = utc_now()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database_dir = sqlite_directory(settings.effective_database_url)
        if database_dir is not None:
            # Before anything is touched: a SQLite data dir serves one process group.
            self._data_dir_lock = DataDirLock(database_dir)
            self._data_dir_lock.acquire()
        log.info("process %s starting", self.process_id)
        store = self._store = Store(settings.effective_database_url)
        await migrate(store.engine)
        async with store.write() as db:
            token_key = await repo.server_key(db, "page_token_key")
        self.resource_events = ResourceEvents(store, settings.events)
        await self.resource_events.start()
        ctx = self.ctx = DomainContext(
            store=store,
            limits=settings.limits,
            idempotency=Idempotency(settings.idempotency_window),
            page_tokens=PageTokenCodec(bytes.fromhex(token_key)),
            events=self.resource_events,
            egress=self._egress_policy(settings),
            endpoints=self._provider_endpoints(settings),
        )
        self.agents = AgentService(ctx)
        self.crews = CrewService(ctx)
        self.sessions = SessionService(ctx)
        self.messages = MessageService(ctx)
        self.signals = await self._signal_bus(store)
        self.event_log = RunEventLog(
            store,
            lambda run_id, after, limit: load_events(store, run_id, after, limit),
            lambda run_id: run_finished(store, run_id),
            resource_events=self.resource_events,
            signals=self.signals,
        )
        self.event_log.start()
        self.memories = MemoryService(ctx)
        self.secrets = SecretService(ctx, SecretBox.load(settings.secrets_key, settings.data_dir))
        self.providers = self._providers()
        files = settings.files
        blobs = LocalBlobStore(Path(files.file_storage_dir) if files.file_storage_dir else settings.data_dir / "files")
        processing = FileProcessing(ctx, blobs, files)
        self.files = FileService(ctx, blobs, files, processing)
        self.file_search = FileSearchService(ctx, processing)
        self.file_analysis = FileAnalysisService(ctx, self.files, processing, self.providers, self.secrets)
        await self.files.start()
        self.tools = ToolRegistry([*builtin_tools(), FileSearch(self.file_search), MemoryTool(self.memories)])
        # MCP servers: their tools join the registry; connections come back in the background after start.
        self.mcp_manager = McpManager(
            settings.mcp,
            settings.data_dir / "mcp",
            lambda server_id, status: self.mcp_servers.record_status(server_id, status),
            ctx.egress,
        )
        self.tools.add_source(self.mcp_manager)
        self.mcp_servers = McpServerService(ctx, settings.mcp, self.mcp_manager)
        self.tool_service = ToolService(ctx, self.tools, self.mcp_manager, self._agent_tools)
        self.runner = Runner(store, self.event_log, self.messages, self.providers, self.tools, settings.runs)
        self.runner.profile_memories = self.memories.profile_for
        self.runner.secret_value = self._secret_for_run
        self.runner.endpoints = ctx.endpoints
        lease = LeaseTerms(self.process_id, settings.lease_ttl_seconds)
        executes = settings.role != "api"
        self.runs = RunService(ctx, self.runner, self.event_log, self.messages, self.tools, lease, executes=executes)
        self.runs.use_signals(self.signals)
        self.runner.use_run_tree(CrewRunTree(self.runs, self.runner, self.event_log))
        # A request for a run held elsewhere waits past a takeover of a dead owner's runs.
        self.runs.control_wait_seconds = settings.lease_ttl_seconds + 2 * settings.lease_claim_interval_seconds + 5
        file_service = self.files
        self.batch_executor = BatchExecutor(
            ctx, self.runs, lease, write_output=lambda batch, tasks: write_results_file(file_service, batch, tasks)
        )
        self.batch_executor.use_signals(self.signals)
        self.batches = BatchService(ctx, self.messages, self.batch_executor, self.files)
        self.ownership = Ownership(
            store,
            lease,
            LeaseSettings(
                settings.lease_ttl_seconds,
                settings.lease_heartbeat_seconds,
                settings.lease_claim_interval_seconds,
                settings.queue_poll_seconds,
            ),
            self.runs,
            self.batch_executor,
        )
        if executes:
            await self._first_claims()
        else:
            log.info("role api: this process executes nothing; workers run what it queues")
        # Live Connect streams; AdminService lists them from `self.connections.registry`.
        self.messaging = MessagingService(ctx, settings.events)
        self.connections = ConnectService(self.resource_events, self.runs, settings.events, VERSION, messaging=self.messaging)
        self.api_keys = ApiKeyService(ctx)
        self.policy = await self._call_policy()
        self.config = RuntimeConfigService(ctx, settings, self._apply_settings)
        self.admin = AdminService(ctx, self._facts())
        implemented = {
            "runwire.v1.AgentService": AgentServicer(self.agents),
            "runwire.v1.CrewService": CrewServicer(self.crews),
            "runwire.v1.SessionService": SessionServicer(self.sessions),
            "runwire.v1.MessageService": MessageServicer(self.messages),
            "runwire.v1.RunService": RunServicer(self.runs),
            "runwire.v1.FileService": FileServicer(self.files, self.file_search, self.file_analysis),
            "runwire.v1.BatchService": BatchServicer(self.batches),
            "runwire.v1.AdminService": AdminServicer(self.api_keys, self.revoked, self.admin),
            "runwire.v1.MemoryService": MemoryServicer(self.memories),
            "runwire.v1.SecretService": SecretServicer(self.secrets),
            "runwire.v1.ConfigService": ConfigServicer(self.config),
            "runwire.v1.EventService": EventServicer(self.resource_events, self.connections),
            "runwire.v1.ToolService": ToolServicer(self.tool_service),
            "runwire.v1.McpServerService": McpServerServicer(self.mcp_servers),
            "runwire.v1.MessagingService": MessagingServicer(self.messaging, self._connection_views),
        }

        grpc_server = self._server = GrpcServer(settings, CallInterceptor(self._principal_for, self.policy).wrap, implemented)
        self.services = grpc_server.services
        self.port = grpc_server.bind(settings.address)
        # Before serving: no call may see a registration still READY from the previous process.
        await self._connect_mcp_servers()
        await grpc_server.start()
        self._start_loops()
        if self._redis is not None:
            self.resource_events.use_redis(self._redis, f"{settings.redis_key_prefix}events:committed")
            self.event_bus_backend = "redis"
        backend = store.backend + (" (inline)" if store.inline else "")
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        log.info(
            "runwire %s listening on %s:%d (database %s, data dir %s)",
            VERSION,
            host,
            self.port,
            backend,
            settings.data_dir.resolve(),
        )
        return self.port

    def _start_loops(self) -> None:
        """The background loops of a serving process; stop() ends them."""
        settings = self.settings
        store = self._store
        assert store is not None and self.authenticator is not None
        self.sweeper = Sweeper(store, self.sessions, self.memories, self.messaging, self.resource_events, lambda: self.settings)
        self.key_use = KeyUseRecorder(self.authenticator, self.api_keys, self.ctx.clock)
        self.gauges = GaugeRefresher(store)
        self._background.append(spawn(self.sweeper.run_forever(), name="runwire-sweeper"))
        self._background.append(spawn(self.key_use.run_forever(), name="runwire-key-use"))
        if settings.metrics_port:
            self.metrics_server = metrics.MetricsServer(settings.metrics_host, settings.metrics_port, VERSION)
            self._background.append(spawn(self.gauges.run_forever(), name="runwire-gauges"))
            log.info("metrics on http://%s:%d/metrics", settings.metrics_host, self.metrics_server.port)
        if self._redis is not None:
            revocations = follow_revocations(self._redis, self._revocation_channel, self._forget_key)
            self._background.append(spawn(revocations, name="runwire-revocations"))

    async def _signal_bus(self, store: Store) -> SignalBus:
        """Signals between replicas: through Redis when configured, else LISTEN/NOTIFY on a shared
        PostgreSQL, else in-process (a SQLite data dir has one process group)."""
        settings = self.settings
        bus: SignalBus
        if settings.redis_url:
            import redis.asyncio as redis_asyncio

            if self._redis is None:
                self._redis = redis_asyncio.Redis.from_url(settings.redis_url, socket_connect_timeout=2.0)
            bus = RedisSignals(self._redis, f"{settings.redis_key_prefix}signals")
        elif store.backend == "postgresql":
            bus = PostgresSignals(store)
        else:
            bus = SignalBus()
        await bus.start()
        log.info("signals between processes: %s", bus.name)
        return bus

    async def _first_claims(self) -> None:
        """The first claim pass: work whose lease expired (or that has none, from before leases). On SQLite
        the first server of the process to lock the data dir knows no other is alive: every lease left
        is a dead process's. Then the heartbeats, claims and work queue run on."""
        assert self.ownership is not None
        alone = self._data_dir_lock is not None and self._data_dir_lock.first
        interrupted, resumed, resumed_batches = await self.ownership.claim_once(everyone_else=alone)
        if interrupted:
            log.warning("marked %d run(s) left active by a stopped process as failed (SERVER_RESTARTED)", interrupted)
        if resumed:
            log.info("%d run(s) left waiting for input by a stopped process wait on", resumed)
        if resumed_batches:
            log.info("resumed %d batch(es) left active by a stopped process", resumed_batches)
        self.ownership.start()

    async def _agent_tools(self, caller: Principal, agent: str) -> list[Any]:
        return list((await self.agents.get(caller, agent, "agent")).tools or [])

    async def _connect_mcp_servers(self) -> None:
        try:
            await self.mcp_servers.connect_all()
        except Exception:  # the servers stay registered; RefreshMcpServer reconnects one
            log.exception("reconnecting the registered MCP servers failed")

    async def _call_policy(self) -> CallPolicy:
        """Authentication, rate limits and deadlines for the interceptor, from the settings."""
        settings = self.settings
        auth = settings.auth
        self.authenticator = Authenticator(auth, self.api_keys)
        if auth.insecure:
            warn_insecure()
        else:
            secret = await self.api_keys.ensure_bootstrap(auth.bootstrap_admin_key)
            if secret is not None:
                self.generated_admin_key = secret
                announce_bootstrap_key(secret)
        if settings.redis_url and self._redis is None:
            import redis.asyncio as redis_asyncio

            self._redis = redis_asyncio.Redis.from_url(settings.redis_url, socket_connect_timeout=2.0)
        limits = settings.rate_limits
        self._stream_slots = StreamSlots(limits.max_streams_per_principal)
        if limits.enabled:
            self.rate_limiter = RateLimiter(limits, self._token_buckets())
        return CallPolicy(
            authenticator=self.authenticator,
            insecure=auth.insecure,
            rate_limiter=self.rate_limiter,
            stream_slots=self._stream_slots if limits.enabled else None,
            default_deadline_seconds=settings.default_deadline_seconds,
        )

    def _facts(self) -> ServerFacts:
        from google.protobuf.internal import api_implementation

        return ServerFacts(
            version=VERSION,
            start_time=self.start_time,
            process_id=self.process_id,
            workers=1,
            backends=lambda: Backends(
                database=self._store.backend if self._store is not None else "",
                event_bus=self.event_bus_backend,
                rate_limiter=self._buckets.name if self.rate_limiter is not None and self._buckets is not None else "disabled",
                file_store=self.file_store_backend,
            ),
            providers=self._provider_views,
            config_revision=lambda: self.config.revision,
            streams=self._stream_views,
            connections=self._connection_views,
            grpc_version=grpc.__version__,
            protobuf_backend=api_implementation.Type(),
        )

    def _provider_views(self) -> list[ProviderView]:
        runs = self.settings.runs
        return [
            ProviderView(name="builtin", is_default=True, default_model="", base_url=""),
            ProviderView(name="openai", is_default=False, default_model=runs.openai_model, base_url=runs.openai_base_url),
        ]

    def _open_calls(self) -> list[Any]:
        return list(self.policy.streams.open.values()) if self.policy is not None else []

    def _stream_views(self) -> list[StreamView]:
        return [
            StreamView(
                id=call.stream_id,
                method=call.method,
                principal=call.principal.id,
                peer=call.peer,
                replica=REPLICA,
                follows=call.follows,
                start_time=_utc(call.start_time),
                deadline=_utc(call.deadline) if call.deadline is not None else None,
                messages_sent=call.messages_sent,
                last_send_time=_utc(call.last_send_time) if call.last_send_time is not None else None,
                user_agent=call.user_agent,
                process_id=self.process_id,
            )
            for call in self._open_calls()
        ]

    def _connection_views(self) -> list[ConnectionView]:
        """Open `Connect` streams, from the registry the Connect sessions keep."""
        if getattr(self, "connections", None) is None:
            return []
        cursor = self.resource_events.cursor
        return [
            ConnectionView(
                id=connection.id,
                principal=connection.principal,
                peer=connection.peer,
                replica=REPLICA,
                process_id=self.process_id,
                user_agent=connection.user_agent,
                connect_time=connection.connect_time,
                last_activity_time=connection.last_activity_time,
                messages_sent=connection.messages_sent,
                messages_received=connection.messages_received,
                client_name=connection.client_name,
                client_version=connection.client_version,
                accept_input_requests=connection.accept_input_requests,
                subscriptions=[
                    admin_pb2.ConnectionSubscription(
                        id=subscription.id,
                        subscription_name=subscription.name,
                        topics=[event_pb2.EventTopic.ValueType(t) for t in subscription.topics],
                        resources=subscription.resources,
                        types=subscription.types,
                        last_cursor=cursor(subscription.last_pk) if subscription.last_pk is not None else "",
                        events_sent=subscription.events_sent,
                    )
                    for subscription in list(connection.subscriptions.values())
                ],
            )
            for connection in self.connections.registry.list()
        ]

    def _token_buckets(self) -> Any:
        if self._buckets is None:
            settings = self.settings
            self._buckets = RedisBuckets(settings.redis_url, settings.redis_key_prefix) if settings.redis_url else MemoryBuckets()
        return self._buckets

    def _apply_settings(self, new: Settings) -> None:
        """Make the running server use `new` (ConfigService checked it; restart-only fields are unchanged).

        Calls already admitted finish under the old values; the next call, run or page sees the new ones."""
        self.settings = new
        self.ctx.limits = new.limits
        self.ctx.egress.configure(new.network.egress_allow_private, new.network.egress_allowed_destinations)
        self.ctx.endpoints.configure(new.runs.openai_base_url, new.runs.openai_api_key, new.runs.provider_endpoints)
        self.ctx.idempotency.window = new.idempotency_window
        self.runner.settings = new.runs
        self.files.settings = self.files.processing.settings = new.files
        builtin = self.providers.get("builtin")
        if isinstance(builtin, BuiltinProvider):
            builtin.tokens_per_second = new.runs.builtin_tokens_per_second
        openai = self.providers.get("openai")
        if isinstance(openai, OpenAIProvider):
            openai.configure(base_url=new.runs.openai_base_url, api_key=new.runs.openai_api_key, default_model=new.runs.openai_model)
        if self.authenticator is not None:
            self.authenticator.settings = dataclasses.replace(self.authenticator.settings, allow_anonymous=new.auth.allow_anonymous)
        policy, limits = self.policy, new.rate_limits
        assert policy is not None and self._stream_slots is not None
        self._stream_slots.limit = limits.max_streams_per_principal
        if limits.enabled:
            self.rate_limiter = RateLimiter(limits, self._token_buckets())
            policy.rate_limiter, policy.stream_slots = self.rate_limiter, self._stream_slots
        else:
            self.rate_limiter = None
            policy.rate_limiter, policy.stream_slots = None, None
        log.info("configuration applied (revision %d)", self.config.revision + 1)

    async def revoked(self, key_id: str) -> None:
        """An API key was revoked here: forget it, close its streams, and tell the other replicas."""
        self._forget_key(key_id)
        if self._redis is not None:
            try:
                await self._redis.publish(self._revocation_channel, key_id)
            except Exception as exc:  # the others still drop it when their cache entry ages out
                log.error("could not publish the revocation of apiKeys/%s: %s", key_id, type(exc).__name__)

    def _forget_key(self, key_id: str) -> None:
        if self.authenticator is not None:
            self.authenticator.forget_key(key_id)
        if self.policy is not None:
            closed = self.policy.streams.close_key(key_id)
            if closed:
                log.info("closed %d stream(s) of revoked key apiKeys/%s", closed, key_id)

    @property
    def _revocation_channel(self) -> str:
        return f"{self.settings.redis_key_prefix}apikeys:revoked"

    async def _secret_for_run(self, owner: str, name: str) -> str:
        try:
            return await self.secrets.value_for(owner, name)
        except DomainError as error:
            raise RunFailure(error.reason, error.message) from None

    @staticmethod
    def _provider_endpoints(settings: Settings) -> ProviderEndpoints:
        endpoints = ProviderEndpoints()
        runs = settings.runs
        endpoints.configure(runs.openai_base_url, runs.openai_api_key, runs.provider_endpoints)
        return endpoints

    @staticmethod
    def _egress_policy(settings: Settings) -> EgressPolicy:
        policy = EgressPolicy()
        policy.configure(settings.network.egress_allow_private, settings.network.egress_allowed_destinations)
        return policy

    def _providers(self) -> dict[str, Any]:
        runs = self.settings.runs
        return {
            "builtin": BuiltinProvider(tokens_per_second=runs.builtin_tokens_per_second),
            # Agents may name their own base_url (with their owner's key, under the egress policy); the server's is the default.
            "openai": OpenAIProvider(
                base_url=runs.openai_base_url,
                api_key=runs.openai_api_key,
                default_model=runs.openai_model,
                egress=self.ctx.egress,
                endpoints=self.ctx.endpoints,
            ),
        }

    async def stop(self, grace: float | None = None) -> None:
        """Health goes NOT_SERVING, new calls are refused, in-flight calls get `grace` seconds."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        began = time.monotonic()
        if self._server is not None:
            await self._server.enter_graceful_shutdown()
        streams = self.policy.streams if self.policy is not None else None
        if streams is not None:
            streams.begin_shutdown()
        if getattr(self, "connections", None) is not None:
            # Connect clients learn where to resume before their streams end.
            await self.connections.shutdown()
        stopping = []
        if getattr(self, "batch_executor", None) is not None:
            # No new batch task starts; the running ones end with their runs and resume at the next start.
            self.batch_executor.close()
        if self._server is not None:
            stopping.append(self._server.stop(grace))
        if getattr(self, "runner", None) is not None:
            stopping.append(self._stop_runs_and_streams(grace - (time.monotonic() - began), streams))
        if getattr(self, "files", None) is not None:
            stopping.append(self.files.stop())
        await asyncio.gather(*stopping)
        if getattr(self, "batch_executor", None) is not None:
            await self.batch_executor.wait_closed(timeout=2.0)
        if self.ownership is not None:
            await self.ownership.close()
            # What still waits for a person is taken over by another process at once, not at expiry.
            released = await self.ownership.release_waiting()
            if released:
                log.info("released the leases of %d run(s) waiting for a person", released)
        if getattr(self, "mcp_manager", None) is not None:
            # After the runs: a run's last tool call may still need its server.
            await self.mcp_manager.close()
        if self.metrics_server is not None:
            await asyncio.to_thread(self.metrics_server.close)
            self.metrics_server = None
        if getattr(self, "key_use", None) is not None and self._store is not None:
            try:
                await self.key_use.record()
            except Exception:
                log.exception("recording API key use failed")
        if self._buckets is not None:
            await self._buckets.close()
            self._buckets = None
        if getattr(self, "messaging", None) is not None:
            await self.messaging.flush()
        if getattr(self, "event_log", None) is not None:
            await self.event_log.close()
        if getattr(self, "resource_events", None) is not None:
            await self.resource_events.close()
        if getattr(self, "signals", None) is not None:
            await self.signals.close()
        for provider in getattr(self, "providers", {}).values():
            if hasattr(provider, "aclose"):
                await provider.aclose()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        if self._store is not None:
            await self._store.close()
            self._store = None
        if self._data_dir_lock is not None:
            self._data_dir_lock.release()
            self._data_dir_lock = None
        log.info("runwire stopped")

    async def _stop_runs_and_streams(self, grace: float, streams: StreamRegistry | None) -> None:
        """Within `grace`: runs still active near its end stop (FAILED SHUTTING_DOWN; a run waiting for a
        person waits on for the next start), their streams send their last events, and then every stream
        still open ends UNAVAILABLE SHUTTING_DOWN with where to resume, before grpc cuts off what is left."""
        began = time.monotonic()
        runs_stop, streams_close = shutdown_schedule(max(grace, 0.0))
        runs = asyncio.ensure_future(self.runner.shutdown(runs_stop))
        await asyncio.wait([runs], timeout=streams_close)
        if streams is not None:
            # The streams of runs that ended send their last events and end by themselves meanwhile.
            await streams.wait_none_open(max(streams_close - (time.monotonic() - began), 0.0))
            closed = streams.close_for_shutdown()
            if closed:
                log.info("ended %d stream(s) with SHUTTING_DOWN", closed)
        await runs

    async def wait_for_termination(self) -> None:
        assert self._server is not None
        await self._server.wait_for_termination()


def shutdown_schedule(grace: float) -> tuple[float, float]:
    """Seconds into a shutdown's grace period when active runs stop, and when the server ends the streams
    still open: close enough to its end to leave calls their time, early enough that runs record their end
    and streams send their last events and status before grpc cancels what is left."""
    return grace - min(1.0, grace * 0.25), grace - min(0.5, grace * 0.1)


def _utc(epoch_seconds: float) -> datetime:
    """time.time() seconds as the naive UTC datetime the domain uses."""
    return datetime.fromtimestamp(epoch_seconds, UTC).replace(tzinfo=None)


BANNER = "=" * 78


def announce_bootstrap_key(secret: str) -> None:
    """Shown once, on stderr, never through logging (log pipelines keep lines; this must not be kept)."""
    print(
        f"\n{BANNER}\n"
        "RUNWIRE BOOTSTRAP ADMIN KEY (shown only this once; store it now):\n\n"
        f"    {secret}\n\n"
        "Send it as `x-api-key: <key>` or `authorization: Bearer <key>`, e.g.\n"
        f"    export RUNWIRE_API_KEY={secret}\n"
        "and create keys for people and services with AdminService/CreateApiKey.\n"
        f"{BANNER}\n",
        file=sys.stderr,
        flush=True,
    )


def warn_insecure() -> None:
    message = (
        "AUTHENTICATION IS OFF (--insecure-no-auth / RUNWIRE_INSECURE_NO_AUTH): every caller is the `local` "
        "principal and nothing is checked. For local development only; never expose this server."
    )
    print(f"\n{BANNER}\nWARNING: {message}\n{BANNER}\n", file=sys.stderr, flush=True)
    log.warning(message)


# Allocations between young collections. Python's default, 700, collects every few requests; most
# garbage here is freed by reference counting, so the collector only has cycles to find.
YOUNG_GENERATION_THRESHOLD = 10_000


def settle_garbage_collector() -> None:
    """Freeze what start-up built (modules, tables, compiled statements) out of the collector's scans.

    A full collection otherwise walks some 150,000 long-lived objects, about 100 ms with the loop
    stopped; under 500 streams that cost about a tenth of the server's CPU.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)


async def serve(settings: Settings, ready_fd: int | None = None) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully. `ready_fd` (a worker of `--workers`): a
    pipe to the supervisor, told once this process serves."""
    server = RunwireServer(settings)
    await server.start()
    if ready_fd is not None:
        try:
            os.write(ready_fd, b"1")
        except OSError:  # the supervisor waits only for its first worker
            pass
        os.close(ready_fd)
    settle_garbage_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down (grace %.1fs)", settings.shutdown_grace_seconds)
    await server.stop()
