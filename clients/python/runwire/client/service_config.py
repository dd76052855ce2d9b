"""The channel's gRPC service config: which calls grpc retries by itself, and how.

A call is safe to retry when it only reads: the methods whose `google.api.http`
rule is a GET (Get*, List*, Search*, StreamRunEvents, ...). The rule is read
from the contracts, so services added later are covered without a list to
keep up to date. grpc retries such a call on UNAVAILABLE, with exponential
backoff, until it has received a response (for a stream: its first message).
Writes are never retried by the channel: a create repeated after a lost
answer is the caller's decision (and `request_id` makes it safe).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from dataclasses import dataclass
from functools import cache

from google.api import annotations_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

CONTRACT_PACKAGE = "runwire.v1"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """grpc's retryPolicy for the safe calls; `max_attempts` counts the first one (grpc caps it at 5)."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    backoff_multiplier: float = 2.0
    retryable_status_codes: tuple[str, ...] = ("UNAVAILABLE",)

    def as_json(self) -> dict[str, object]:
        return {
            "maxAttempts": self.max_attempts,
            "initialBackoff": f"{self.initial_backoff:g}s",
            "maxBackoff": f"{self.max_backoff:g}s",
            "backoffMultiplier": self.backoff_multiplier,
            "retryableStatusCodes": list(self.retryable_status_codes),
        }


@cache
def contract_services() -> tuple[ServiceDescriptor, ...]:
    """Every service of the generated runwire.v1 modules."""
    package = importlib.import_module(CONTRACT_PACKAGE)
    services: list[ServiceDescriptor] = []
    for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.endswith("_pb2")):
        descriptor = importlib.import_module(f"{CONTRACT_PACKAGE}.{module}").DESCRIPTOR
        services.extend(descriptor.services_by_name.values())
    return tuple(sorted(services, key=lambda s: s.full_name))


def is_safe(method: MethodDescriptor) -> bool:
    """True for a method that only reads: its HTTP mapping is a GET."""
    options = method.GetOptions()
    return options.HasExtension(annotations_pb2.http) and bool(options.Extensions[annotations_pb2.http].get)


@cache
def safe_methods() -> tuple[tuple[str, str], ...]:
    """(service, method) of every safe method of the contracts."""
    return tuple((s.full_name, m.name) for s in contract_services() for m in s.methods if is_safe(m))


def service_config(retry: RetryPolicy | None) -> str:
    """The service config JSON: retries for the safe methods, or none when `retry` is None."""
    if retry is None:
        return json.dumps({"methodConfig": []})
    names = [{"service": service, "method": method} for service, method in safe_methods()]
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": retry.as_json()}]})
