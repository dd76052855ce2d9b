"""ConfigService: RuntimeConfig <-> the configuration's JSON form (config_fields.py), nothing else."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.rpc import error_details_pb2

from runwire.server.api import convert
from runwire.server.api.calls import caller
from runwire.server.domain.runtime_config import ConfigSnapshot, RuntimeConfigService
from runwire.v1 import config_pb2, config_pb2_grpc


class ConfigServicer(config_pb2_grpc.ConfigServiceServicer):
    def __init__(self, config: RuntimeConfigService) -> None:
        self.config = config

    async def GetConfig(self, request: config_pb2.GetConfigRequest, context) -> config_pb2.RuntimeConfig:  # type: ignore[no-untyped-def]
        return config_proto(self.config.get(caller()))

    async def UpdateConfig(self, request: config_pb2.UpdateConfigRequest, context) -> config_pb2.RuntimeConfig:  # type: ignore[no-untyped-def]
        snapshot = await self.config.update(
            caller(),
            config_values(request.config),
            list(request.update_mask.paths),
            etag=request.config.etag,
            validate_only=request.validate_only,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return config_proto(snapshot)

    async def ValidateConfig(self, request: config_pb2.ValidateConfigRequest, context) -> config_pb2.ValidateConfigResponse:  # type: ignore[no-untyped-def]
        result = self.config.validate(caller(), config_values(request.config), list(request.update_mask.paths))
        return config_pb2.ValidateConfigResponse(
            valid=not result.violations,
            violations=[error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description) for v in result.violations],
            config=config_proto(result.snapshot) if result.snapshot is not None else None,
        )

    async def ReloadConfig(self, request: config_pb2.ReloadConfigRequest, context) -> config_pb2.RuntimeConfig:  # type: ignore[no-untyped-def]
        snapshot = await self.config.reload(
            caller(), validate_only=request.validate_only, request_id=request.request_id, fingerprint=convert.fingerprint(request)
        )
        return config_proto(snapshot)


def config_values(config: config_pb2.RuntimeConfig) -> dict[str, Any]:
    return json_format.MessageToDict(config, preserving_proto_field_name=True)


def config_proto(snapshot: ConfigSnapshot) -> config_pb2.RuntimeConfig:
    message = json_format.ParseDict(snapshot.values, config_pb2.RuntimeConfig())
    message.source = snapshot.source
    message.revision = snapshot.revision
    message.etag = snapshot.etag
    message.update_time.CopyFrom(convert.timestamp(snapshot.update_time))
    message.updated_by = snapshot.updated_by
    message.pending_restart_fields.extend(snapshot.pending_restart_fields)
    return message
