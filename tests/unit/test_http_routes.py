"""The google.api.http routes of the protos, as the REST/JSON gateway matches them.

The gateway tries the routes of a service last-declared first, and a `*`
segment also matches `id:verb`. So `GET /v1/{name=runs/*}` declared after
`GET /v1/{run=runs/*}:streamEvents` would swallow the custom method: a custom
method must come after the standard method whose path it extends.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from google.api import annotations_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTO_MODULES = sorted(p.stem for p in (ROOT / "protos" / "runwire" / "v1").glob("*.proto"))


def _template(path: str) -> str:
    """`/v1/{name=runs/*}` -> `/v1/runs/*`, `/v1/{parent}` -> `/v1/*`."""
    return re.sub(r"\{[^}=]+\}", "*", re.sub(r"\{[^}=]+=([^}]+)\}", r"\1", path))


def _routes() -> list[tuple[str, int, str, str, str]]:
    """(service, declaration index, method, HTTP verb, template) for every annotated RPC."""
    routes = []
    for name in PROTO_MODULES:
        module = importlib.import_module(f"runwire.v1.{name}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            for index, method in enumerate(service.methods):
                rule = method.GetOptions().Extensions[annotations_pb2.http]
                bindings = [rule, *rule.additional_bindings]
                for binding in bindings:
                    kind = binding.WhichOneof("pattern")
                    if kind and kind != "custom":
                        routes.append((service.name, index, method.name, kind, _template(getattr(binding, kind))))
    return routes


def test_every_service_has_routes() -> None:
    services = {route[0] for route in _routes()}
    assert {"AgentService", "SessionService", "RunService", "FileService"} <= services


def test_custom_methods_are_not_shadowed_by_a_wildcard_route() -> None:
    routes = _routes()
    shadowed = []
    for service, index, method, verb, template in routes:
        base, colon, _ = template.rpartition(":")
        if not colon or not base.endswith("*"):
            continue  # a literal last segment (`/v1/sessions`) never matches `sessions:verb`
        for other_service, other_index, other_method, other_verb, other_template in routes:
            if other_verb == verb and other_template == base:
                if other_service != service or other_index > index:
                    shadowed.append(f"{service}.{method} ({template}) by {other_service}.{other_method}")
    assert not shadowed, "declare these custom methods after the standard ones: " + "; ".join(shadowed)
