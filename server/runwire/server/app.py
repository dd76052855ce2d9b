"""Assembles the server: database, domain services, servicers, health, reflection, sweeper, shutdown."""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import signal
from dataclasses import dataclass
from typing import Any, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import runwire.v1
from runwire.server.api.calls import CallInterceptor
from runwire.server.api.run_servicer import RunServicer
from runwire.server.api.servicers import AgentServicer, MessageServicer, SessionServicer
from runwire.server.config import Settings
from runwire.server.domain.agents import AgentService
from runwire.server.domain.common import Idempotency
from runwire.server.domain.context import DomainContext
from runwire.server.domain.messages import MessageService
from runwire.server.domain.paging import PageTokenCodec
from runwire.server.domain.principal import Principal
from runwire.server.domain.runs import RunService, load_events, run_finished
from runwire.server.domain.sessions import SessionService
from runwire.server.engine.builtin_provider import BuiltinProvider
from runwire.server.engine.events import RunEventLog
from runwire.server.engine.openai_provider import OpenAIProvider
from runwire.server.engine.runner import Runner
from runwire.server.engine.tools import ToolRegistry, builtin_tools
from runwire.server.store import repositories as repo
from runwire.server.store.database import migrate
from runwire.server.store.store import Store

log = logging.getLogger("runwire.server")

VERSION = "0.1.0"


@dataclass(frozen=True)
class ServiceSpec:
    full_name: str
    add_to_server: Any
    default_servicer: type


def contract_services() -> list[ServiceSpec]:
    """Every service declared in protos/runwire/v1, found through the generated modules."""
    specs: list[ServiceSpec] = []
    for module_info in sorted(pkgutil.iter_modules(runwire.v1.__path__), key=lambda m: m.name):
        if not module_info.name.endswith("_pb2"):
            continue
        messages = importlib.import_module(f"runwire.v1.{module_info.name}")
        stubs = importlib.import_module(f"runwire.v1.{module_info.name}_grpc")
        for service in messages.DESCRIPTOR.services_by_name.values():
            specs.append(
                ServiceSpec(
                    full_name=service.full_name,
                    add_to_server=getattr(stubs, f"add_{service.name}Servicer_to_server"),
                    default_servicer=getattr(stubs, f"{service.name}Servicer"),
                )
            )
    return specs


class RunwireServer:
    def __init__(
        self, settings: Settings, principal_for: Callable[[grpc.aio.ServicerContext], Principal] | None = None
    ) -> None:
        self.settings = settings
        # Who is calling; every call runs as the local principal until authentication is configured.
        self._principal_for = principal_for
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None
        self._store: Store | None = None
        self._background: list[asyncio.Task[None]] = []
        self.services: dict[str, Any] = {}

    async def start(self) -> int:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = self._store = Store(settings.effective_database_url)
        await migrate(store.engine)
        async with store.write() as db:
            token_key = await repo.server_key(db, "page_token_key")
        ctx = DomainContext(
            store=store,
            limits=settings.limits,
            idempotency=Idempotency(settings.idempotency_window),
            page_tokens=PageTokenCodec(bytes.fromhex(token_key)),
        )
        self.agents = AgentService(ctx)
        self.sessions = SessionService(ctx)
        self.messages = MessageService(ctx)
        self.event_log = RunEventLog(
            store,
            lambda run_id, after, limit: load_events(store, run_id, after, limit),
            lambda run_id: run_finished(store, run_id),
        )
        self.event_log.start()
        self.tools = ToolRegistry(builtin_tools())
        self.providers = self._providers()
        self.runner = Runner(store, self.event_log, self.messages, self.providers, self.tools, settings.runs)
        self.runs = RunService(ctx, self.runner, self.event_log, self.messages, self.tools)
        interrupted = await self.runs.fail_interrupted_runs()
        if interrupted:
            log.warning("marked %d run(s) left active by a previous process as failed (SERVER_RESTARTED)", interrupted)
        implemented = {
            "runwire.v1.AgentService": AgentServicer(self.agents),
            "runwire.v1.SessionService": SessionServicer(self.sessions),
            "runwire.v1.MessageService": MessageServicer(self.messages),
            "runwire.v1.RunService": RunServicer(self.runs),
        }

        server = self._server = grpc.aio.server(
            interceptors=[CallInterceptor(self._principal_for)],
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", settings.max_receive_message_bytes),
                ("grpc.max_send_message_length", settings.max_send_message_bytes),
                ("grpc.keepalive_time_ms", 60_000),
                ("grpc.keepalive_timeout_ms", 20_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
            ],
        )
        service_names = [reflection.SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        for spec in contract_services():
            # Services whose issue is not done yet answer UNIMPLEMENTED, but are listed and reflected.
            spec.add_to_server(implemented.get(spec.full_name) or spec.default_servicer(), server)
            service_names.append(spec.full_name)
            self.services[spec.full_name] = implemented.get(spec.full_name)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(service_names, server)

        self.port = server.add_insecure_port(settings.address)
        if self.port == 0:
            raise OSError(f"cannot listen on {settings.address}")
        await server.start()
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        for spec_name, servicer in self.services.items():
            status = health_pb2.HealthCheckResponse.SERVING if servicer else health_pb2.HealthCheckResponse.NOT_SERVING
            await self._health.set(spec_name, status)
        self._background.append(asyncio.create_task(self._sweep_forever(), name="runwire-sweeper"))
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

    def _providers(self) -> dict[str, Any]:
        runs = self.settings.runs
        return {
            "builtin": BuiltinProvider(tokens_per_second=runs.builtin_tokens_per_second),
            # Agents may name their own base_url; the server's is the default.
            "openai": OpenAIProvider(base_url=runs.openai_base_url, api_key=runs.openai_api_key, default_model=runs.openai_model),
        }

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            try:
                await self.sweep_once()
            except Exception:  # a failed sweep is retried on the next tick
                log.exception("sweep failed")

    async def sweep_once(self) -> None:
        removed = await self.sessions.sweep_expired()
        assert self._store is not None
        async with self._store.write() as db:
            cutoff = self.sessions.ctx.clock() - self.settings.idempotency_window
            await repo.delete_idempotency_records_before(db, cutoff)
        if removed:
            log.info("sweeper deleted %d expired session(s)", removed)

    async def stop(self, grace: float | None = None) -> None:
        """Health goes NOT_SERVING, new calls are refused, in-flight calls get `grace` seconds."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        stopping = []
        if self._server is not None:
            stopping.append(self._server.stop(grace))
        if getattr(self, "runner", None) is not None:
            # Runs get the same grace; those still active then end FAILED with SHUTTING_DOWN.
            stopping.append(self.runner.shutdown(grace))
        await asyncio.gather(*stopping)
        if getattr(self, "event_log", None) is not None:
            await self.event_log.close()
        for provider in getattr(self, "providers", {}).values():
            if hasattr(provider, "aclose"):
                await provider.aclose()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        if self._store is not None:
            await self._store.close()
            self._store = None
        log.info("runwire stopped")

    async def wait_for_termination(self) -> None:
        assert self._server is not None
        await self._server.wait_for_termination()


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    server = RunwireServer(settings)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down (grace %.1fs)", settings.shutdown_grace_seconds)
    await server.stop()
