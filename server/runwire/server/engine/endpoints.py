"""The OpenAI-compatible endpoints an admin configured, by name: `openai` (providers.openai) and
`providers.endpoints`. Agents name one in `model.endpoint`; its key goes only to its base URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from runwire.server.config import ProviderEndpoint
from runwire.server.core.errors import ErrorReasonName

DEFAULT_ENDPOINT = "openai"


@dataclass(frozen=True)
class EndpointProblem:
    reason: ErrorReasonName  # PROVIDER_ENDPOINT_NOT_FOUND or MODEL_NOT_ALLOWED
    field: str  # `endpoint` or `model`, under `model.`
    message: str


class ProviderEndpoints:
    """The endpoints in force; `configure` replaces them when the configuration changes."""

    def __init__(self) -> None:
        self._by_name: dict[str, ProviderEndpoint] = {}

    def configure(self, base_url: str, api_key: str, endpoints: Iterable[ProviderEndpoint]) -> None:
        by_name = {DEFAULT_ENDPOINT: ProviderEndpoint(DEFAULT_ENDPOINT, base_url, api_key)}
        by_name.update({e.name: e for e in endpoints})
        self._by_name = by_name

    def get(self, name: str) -> ProviderEndpoint | None:
        return self._by_name.get(name or DEFAULT_ENDPOINT)

    def problem(self, name: str, model: str) -> EndpointProblem | None:
        """Why an agent may not use `model` at endpoint `name` (empty: `openai`), or None."""
        endpoint = self.get(name)
        if endpoint is None:
            known = ", ".join(sorted(self._by_name))
            return EndpointProblem(
                "PROVIDER_ENDPOINT_NOT_FOUND", "endpoint", f"no provider endpoint named {name!r} is configured; configured: {known}"
            )
        if endpoint.allowed_models and model not in endpoint.allowed_models:
            allowed = ", ".join(endpoint.allowed_models)
            what = f"model {model!r} is" if model else "an agent without a model is"
            return EndpointProblem(
                "MODEL_NOT_ALLOWED", "model", f"{what} not allowed at endpoint {endpoint.name!r}; allowed: {allowed}"
            )
        return None
