"""SecretService: proto <-> domain for secrets, nothing else. No response carries a value."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from runwire.server.api.calls import ServicerContext, caller
from runwire.server.api.options import list_query, write_options
from runwire.server.domain.secrets import SecretService
from runwire.server.wire import convert
from runwire.server.wire.convert import secret_proto
from runwire.v1 import secret_pb2, secret_pb2_grpc

EMPTY = empty_pb2.Empty()


class SecretServicer(secret_pb2_grpc.SecretServiceServicer):
    def __init__(self, secrets: SecretService) -> None:
        self.secrets = secrets

    async def CreateSecret(self, request: secret_pb2.CreateSecretRequest, context: ServicerContext) -> secret_pb2.Secret:
        options = write_options(request, fingerprint=self._fingerprint(request, request.secret))
        return secret_proto(await self.secrets.create(caller(), secret_fields(request.secret), options, secret_id=request.secret_id))

    async def GetSecret(self, request: secret_pb2.GetSecretRequest, context: ServicerContext) -> secret_pb2.Secret:
        return secret_proto(await self.secrets.get(caller(), request.name))

    async def ListSecrets(self, request: secret_pb2.ListSecretsRequest, context: ServicerContext) -> secret_pb2.ListSecretsResponse:
        page = await self.secrets.list(caller(), list_query(request))
        return secret_pb2.ListSecretsResponse(
            secrets=[secret_proto(r) for r in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def UpdateSecret(self, request: secret_pb2.UpdateSecretRequest, context: ServicerContext) -> secret_pb2.Secret:
        secret = request.secret
        options = write_options(
            request,
            etag=secret.etag,
            update_mask=request.update_mask.paths,
            fingerprint=self._fingerprint(request, secret),
        )
        return secret_proto(await self.secrets.update(caller(), secret.name, secret_fields(secret), options))

    async def DeleteSecret(self, request: secret_pb2.DeleteSecretRequest, context: ServicerContext) -> empty_pb2.Empty:
        await self.secrets.delete(caller(), request.name, write_options(request))
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
