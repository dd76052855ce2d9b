"""SecretService: proto <-> domain for secrets, nothing else. No response carries a value."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from runwire.server.wire import convert
from runwire.server.api.calls import caller
from runwire.server.wire.convert import secret_proto
from runwire.server.domain.secrets import SecretService
from runwire.v1 import secret_pb2, secret_pb2_grpc

EMPTY = empty_pb2.Empty()


class SecretServicer(secret_pb2_grpc.SecretServiceServicer):
    def __init__(self, secrets: SecretService) -> None:
        self.secrets = secrets

    async def CreateSecret(self, request: secret_pb2.CreateSecretRequest, context) -> secret_pb2.Secret:  # type: ignore[no-untyped-def]
        row = await self.secrets.create(
            caller(),
            secret_fields(request.secret),
            secret_id=request.secret_id,
            request_id=request.request_id,
            fingerprint=self._fingerprint(request, request.secret),
            validate_only=request.validate_only,
        )
        return secret_proto(row)

    async def GetSecret(self, request: secret_pb2.GetSecretRequest, context) -> secret_pb2.Secret:  # type: ignore[no-untyped-def]
        return secret_proto(await self.secrets.get(caller(), request.name))

    async def ListSecrets(self, request: secret_pb2.ListSecretsRequest, context) -> secret_pb2.ListSecretsResponse:  # type: ignore[no-untyped-def]
        page = await self.secrets.list(
            caller(), page_size=request.page_size, page_token=request.page_token, filter_text=request.filter, order_by=request.order_by
        )
        return secret_pb2.ListSecretsResponse(
            secrets=[secret_proto(r) for r in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def UpdateSecret(self, request: secret_pb2.UpdateSecretRequest, context) -> secret_pb2.Secret:  # type: ignore[no-untyped-def]
        row = await self.secrets.update(
            caller(),
            request.secret.name,
            secret_fields(request.secret),
            list(request.update_mask.paths),
            etag=request.secret.etag,
            request_id=request.request_id,
            fingerprint=self._fingerprint(request, request.secret),
            validate_only=request.validate_only,
        )
        return secret_proto(row)

    async def DeleteSecret(self, request: secret_pb2.DeleteSecretRequest, context) -> empty_pb2.Empty:  # type: ignore[no-untyped-def]
        await self.secrets.delete(
            caller(),
            request.name,
            etag=request.etag,
            allow_missing=request.allow_missing,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return EMPTY

    def _fingerprint(self, request: Any, secret: secret_pb2.Secret) -> str:
        # The idempotency record keeps a keyed digest of the value, never the value or its plain hash.
        value = secret.value
        secret.value = self.secrets.box.digest(value) if value else ""
        try:
            return convert.fingerprint(request)
        finally:
            secret.value = value


def secret_fields(secret: secret_pb2.Secret) -> dict[str, Any]:
    return {"display_name": secret.display_name, "labels": dict(secret.labels), "value": secret.value}
