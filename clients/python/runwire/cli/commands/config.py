"""`runwire config`: read, change, validate and reload the server's running configuration (admins)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from google.protobuf import field_mask_pb2, json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from runwire.cli import framework, output
from runwire.cli.framework import Api, CliError
from runwire.client.json_values import message_to_dict
from runwire.v1 import config_pb2, config_pb2_grpc

_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def _config(api: Api) -> Any:
    return api.service(config_pb2_grpc.ConfigServiceStub)


def _field_at(path: str) -> FieldDescriptor:
    descriptor: Descriptor | None = config_pb2.RuntimeConfig.DESCRIPTOR
    found: FieldDescriptor | None = None
    for part in path.split("."):
        if descriptor is None or part not in descriptor.fields_by_name:
            raise CliError(f"{path!r} is not a configuration field; see `runwire config get`")
        found = descriptor.fields_by_name[part]
        descriptor = found.message_type
    assert found is not None
    return found


def _json_value(field: FieldDescriptor, path: str, text: str) -> Any:
    """TEXT as the proto JSON value of `field`: numbers, true/false, durations with units, enums by short name."""
    if field.is_repeated or (field.message_type is not None and field.message_type.full_name != "google.protobuf.Duration"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path}: expected JSON ({exc})") from None
    if field.message_type is not None:  # Duration
        match = _DURATION.fullmatch(text)
        if match is None:
            raise CliError(f"{path}: expected a duration such as 30, 500ms, 30s, 5m, 2h or 1d")
        return f"{float(match.group(1)) * _UNIT_SECONDS[match.group(2)]:.9f}".rstrip("0").rstrip(".") + "s"
    if field.type == FieldDescriptor.TYPE_BOOL:
        if text.lower() not in ("true", "false"):
            raise CliError(f"{path}: expected true or false")
        return text.lower() == "true"
    if field.type == FieldDescriptor.TYPE_ENUM:
        names = [v.name for v in field.enum_type.values]
        wanted = text.upper()
        return next((n for n in names if n == wanted or n.endswith("_" + wanted)), text)
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        try:
            return float(text)
        except ValueError:
            raise CliError(f"{path}: expected a number") from None
    if field.type != FieldDescriptor.TYPE_STRING:
        try:
            return int(text)
        except ValueError:
            raise CliError(f"{path}: expected a whole number") from None
    return text


def _assignments(pairs: list[str]) -> tuple[config_pb2.RuntimeConfig, list[str]]:
    values: dict[str, Any] = {}
    paths = []
    for pair in pairs:
        path, sep, text = pair.partition("=")
        if not sep or not path:
            raise CliError(f"{pair!r} is not FIELD=VALUE, for example limits.max_page_size=200")
        value = _json_value(_field_at(path), path, text)
        target = values
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
        paths.append(path)
    try:
        return json_format.ParseDict(values, config_pb2.RuntimeConfig()), paths
    except json_format.ParseError as exc:
        raise CliError(str(exc)) from None


def config_get(args: argparse.Namespace, api: Api) -> int:
    config = _config(api).GetConfig(config_pb2.GetConfigRequest())
    if args.field:
        _field_at(args.field)
        value: Any = message_to_dict(config, preserving_proto_field_name=True)
        for part in args.field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        print(json.dumps(value, indent=2) if isinstance(value, (dict, list)) else ("" if value is None else value))
        return 0
    return framework.show(args, config)


def config_set(args: argparse.Namespace, api: Api) -> int:
    config, paths = _assignments(args.assignments)
    config.etag = args.etag or ""
    request = config_pb2.UpdateConfigRequest(
        config=config, update_mask=field_mask_pb2.FieldMask(paths=paths), validate_only=args.validate_only, request_id=args.request_id or ""
    )
    updated = _config(api).UpdateConfig(request)
    if args.json:
        output.print_json(updated)
    else:
        verb = "would apply" if args.validate_only else "applied"
        print(f"{verb} revision {updated.revision}: {', '.join(paths)}")
    return 0


def config_validate(args: argparse.Namespace, api: Api) -> int:
    config, paths = _assignments(args.assignments)
    request = config_pb2.ValidateConfigRequest(config=config, update_mask=field_mask_pb2.FieldMask(paths=paths))
    response = _config(api).ValidateConfig(request)
    if args.json:
        output.print_json(response)
    elif response.valid:
        print("valid")
    else:
        for violation in response.violations:
            print(f"{violation.field}: {violation.description}")
    return 0 if response.valid else 1


def config_reload(args: argparse.Namespace, api: Api) -> int:
    config = _config(api).ReloadConfig(config_pb2.ReloadConfigRequest(validate_only=args.validate_only, request_id=args.request_id or ""))
    if args.json:
        output.print_json(config)
    else:
        verb = "would reload" if args.validate_only else "reloaded"
        print(f"{verb} {config.source}: revision {config.revision}")
        if config.pending_restart_fields:
            print(f"take effect at the next restart: {', '.join(config.pending_restart_fields)}", file=sys.stderr)
    return 0


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(
        commands, "config", "read, change, validate and reload the server's configuration (admins)", "Manage the running configuration."
    )
    get = framework.leaf(group, "get", "show the configuration in effect, secrets redacted", config_get, common)
    get.add_argument("field", nargs="?", metavar="FIELD", help="only this section or field, e.g. limits.max_page_size")

    assignment_help = "FIELD=VALUE, e.g. limits.max_page_size=200 or limits.default_run_duration=5m; repeated fields as JSON"
    change = framework.leaf(
        group,
        "set",
        "change fields of the running configuration, all or nothing",
        config_set,
        common,
        epilog="example:\n  runwire config set limits.max_page_size=200 rate_limits.enabled=true",
    )
    change.add_argument("assignments", nargs="+", metavar="FIELD=VALUE", help=assignment_help)
    framework.add_etag_option(change, "configuration", quotes_included=False)
    framework.add_validate_only_option(change, "check and show the result without applying it")
    framework.add_request_id_option(change, "idempotency key")

    validate = framework.leaf(group, "validate", "check changes without applying them; exit 1 when invalid", config_validate, common)
    validate.add_argument("assignments", nargs="+", metavar="FIELD=VALUE", help=assignment_help)

    reload_ = framework.leaf(group, "reload", "read the configuration file again and apply it", config_reload, common)
    framework.add_validate_only_option(reload_, "read and check the file without applying it")
    framework.add_request_id_option(reload_, "idempotency key")
