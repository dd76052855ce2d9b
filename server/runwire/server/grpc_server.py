"""The gRPC server of a process: every contract service on one port through one generic handler, health
per service, reflection, transport options, and its part of a graceful shutdown."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable, Mapping, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

import runwire.v1
from runwire.server.config import Settings

# What every method's handler is wrapped in when it is registered: the call interceptor's `wrap`.
HandlerWrapper = Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]


class GenericHandlersOnly:
    """The grpc server as the generated `add_*_to_server` functions see it: every method is served through
    one generic handler (a dict of every method), none as a "registered" method.

    For registered methods, grpc.aio keeps one pending request per method and, for every call that
    arrives, waits on all of them at once (asyncio.wait over ~90 futures here): a cost per call that grows
    with the number of methods. Calls to generic handlers share one pending request.
    """

    def __init__(self, server: grpc.aio.Server, wrap: HandlerWrapper) -> None:
        self._server = server
        self._wrap = wrap
        self._methods: dict[str, grpc.RpcMethodHandler] = {}
        server.add_generic_rpc_handlers((_MethodTable(self._methods),))  # first: asked before the others

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        for name, handler in handlers.items():
            method = f"/{service}/{name}"
            self._methods[method] = self._wrap(method, handler)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class _MethodTable(grpc.GenericRpcHandler):
    def __init__(self, methods: dict[str, grpc.RpcMethodHandler]) -> None:
        self._methods = methods

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._methods.get(handler_call_details.method)


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


class GrpcServer:
    """The grpc.aio server: each contract service (its servicer, or the generated default that answers
    UNIMPLEMENTED), standard health per service and server reflection."""

    def __init__(self, settings: Settings, wrap: HandlerWrapper, implemented: Mapping[str, Any]) -> None:
        # No grpc interceptors: `wrap` goes around each handler once, as it is registered.
        server = self._server = grpc.aio.server(options=transport_options(settings))
        # Each contract service this process serves, with its servicer (None: not implemented).
        self.services: dict[str, Any] = {}
        service_names = [reflection.SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        handlers = GenericHandlersOnly(server, wrap)
        # A worker-only process serves health (and reflection) only: no API.
        for spec in contract_services() if settings.role != "worker" else []:
            # Services whose issue is not done yet answer UNIMPLEMENTED, but are listed and reflected.
            spec.add_to_server(implemented.get(spec.full_name) or spec.default_servicer(), handlers)
            service_names.append(spec.full_name)
            self.services[spec.full_name] = implemented.get(spec.full_name)
        self._health = health.aio.HealthServicer()
        # `handlers` stands in for the server (the generated add_* functions only add handlers through it).
        health_pb2_grpc.add_HealthServicer_to_server(self._health, cast(grpc.aio.Server, handlers))
        # What reflection.enable_server_reflection() adds for a grpc.aio server, through `handlers`.
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflection.aio.ReflectionServicer(service_names), handlers)

    def bind(self, address: str) -> int:
        """Listen on `address`; the port. OSError when the address cannot be bound."""
        try:
            port = self._server.add_insecure_port(address)
        except RuntimeError:  # grpc's way of saying the bind failed
            port = 0
        if port == 0:
            raise OSError(f"cannot listen on {address}: the port is in use or the address is not this machine's")
        return port

    async def start(self) -> None:
        """Serve, and report every service's health: SERVING, or NOT_SERVING where it is not implemented."""
        await self._server.start()
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        for spec_name, servicer in self.services.items():
            status = health_pb2.HealthCheckResponse.SERVING if servicer else health_pb2.HealthCheckResponse.NOT_SERVING
            await self._health.set(spec_name, status)

    async def enter_graceful_shutdown(self) -> None:
        """Health goes NOT_SERVING for every service and stays so."""
        await self._health.enter_graceful_shutdown()

    async def stop(self, grace: float | None) -> None:
        """New calls are refused; calls in flight get `grace` seconds."""
        await self._server.stop(grace)

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()


def transport_options(settings: Settings) -> list[tuple[str, Any]]:
    """gRPC channel arguments: message and metadata sizes, HTTP/2 streams, keepalive and connection age."""
    ms = lambda seconds: int(seconds * 1000)  # noqa: E731
    options: list[tuple[str, Any]] = [
        # Workers of `--workers` share the port; a single process refuses a port already in use.
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        ("grpc.max_receive_message_length", settings.max_receive_message_bytes),
        ("grpc.max_send_message_length", settings.max_send_message_bytes),
        ("grpc.max_metadata_size", settings.max_metadata_bytes),
        ("grpc.absolute_max_metadata_size", settings.max_metadata_bytes),
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        ("grpc.keepalive_time_ms", ms(settings.keepalive_time_seconds)),
        ("grpc.keepalive_timeout_ms", ms(settings.keepalive_timeout_seconds)),
        ("grpc.http2.min_ping_interval_without_data_ms", ms(settings.keepalive_min_ping_interval_seconds)),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", ms(settings.keepalive_min_ping_interval_seconds)),
        ("grpc.keepalive_permit_without_calls", int(settings.keepalive_permit_without_calls)),
    ]
    if settings.max_connection_idle_seconds:
        options.append(("grpc.max_connection_idle_ms", ms(settings.max_connection_idle_seconds)))
    if settings.max_connection_age_seconds:
        options.append(("grpc.max_connection_age_ms", ms(settings.max_connection_age_seconds)))
        options.append(("grpc.max_connection_age_grace_ms", ms(settings.max_connection_age_grace_seconds)))
    return options
