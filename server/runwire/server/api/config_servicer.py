"""ConfigService: RuntimeConfig <-> the configuration's JSON form (config_fields.py), nothing else."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.rpc import error_details_pb2

from runwire.server.api.calls import ServicerContext, caller
from runwire.server.api.options import write_options
from runwire.server.core.errors import InvalidArgument
from runwire.server.domain.runtime_config import ConfigSnapshot, RuntimeConfigService, config_invalid
from runwire.server.wire import convert
from runwire.v1 import config_pb2, config_pb2_grpc


class ConfigServicer(config_pb2_grpc.ConfigServiceServicer):
    def __init__(self, config: RuntimeConfigService) -> None:
        self.config = config

    async def GetConfig(self, request: config_pb2.GetConfigRequest, context: ServicerContext) -> config_pb2.RuntimeConfig:
        return config_proto(self.config.get(caller()))

    async def UpdateConfig(self, request: config_pb2.UpdateConfigRequest, context: ServicerContext) -> config_pb2.RuntimeConfig:
        self.config.authorize(caller())
        snapshot = await self.config.update(
            caller(),
            config_values(request.config),
            list(request.update_mask.paths),
            write_options(request, etag=request.config.etag),
        )
        return config_proto(snapshot)

    async def ValidateConfig(self, request: config_pb2.ValidateConfigRequest, context: ServicerContext) -> config_pb2.ValidateConfigResponse:
        self.config.authorize(caller())
        try:
            values = config_values(request.config)
        except InvalidArgument as invalid:  # values that have no JSON form are reported like any other bad value
            return config_pb2.ValidateConfigResponse(
                valid=False,
                violations=[error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description) for v in invalid.field_violations],
            )
        result = self.config.validate(caller(), values, list(request.update_mask.paths))
        return config_pb2.ValidateConfigResponse(
            valid=not result.violations,
            violations=[error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description) for v in result.violations],
            config=config_proto(result.snapshot) if result.snapshot is not None else None,
        )

    async def ReloadConfig(self, request: config_pb2.ReloadConfigRequest, context: ServicerContext) -> config_pb2.RuntimeConfig:
        return config_proto(await self.config.reload(caller(), write_options(request)))


def config_values(config: config_pb2.RuntimeConfig) -> dict[str, Any]:
    """The settings a request sends, its durations checked first (out of range, they have no JSON form); its
    output-only update_time is ignored (AIP-203)."""
    sent = config_pb2.RuntimeConfig()
    sent.CopyFrom(config)
    sent.ClearField("update_time")
    violations = convert.time_violations(sent, "config.")
    if violations:
        raise config_invalid(violations)
    return json_format.MessageToDict(sent, preserving_proto_field_name=True)


def config_proto(snapshot: ConfigSnapshot) -> config_pb2.RuntimeConfig:
    message = json_format.ParseDict(snapshot.values, config_pb2.RuntimeConfig())
    message.source = snapshot.source
    message.revision = snapshot.revision
    message.etag = snapshot.etag
    message.update_time.CopyFrom(convert.timestamp(snapshot.update_time))
    message.updated_by = snapshot.updated_by
    message.pending_restart_fields.extend(snapshot.pending_restart_fields)
    return message
