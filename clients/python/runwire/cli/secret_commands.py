"""`runwire secrets`: the caller's own secrets (keys of its own model servers). Values are read from standard
input or a prompt, never from the command line, where they would land in shell history and process lists."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from google.protobuf import field_mask_pb2

from runwire.cli import output
from runwire.cli.resources import (
    Api,
    _add_label_option,
    _add_list_options,
    _collect_pages,
    _deleted,
    _group,
    _labels,
    _leaf,
    _list_options,
    _show,
)
from runwire.v1 import secret_pb2, secret_pb2_grpc


def secret_name(text: str) -> str:
    return text if text.startswith("secrets/") else f"secrets/{text}"


def _secrets(api: Api) -> Any:
    return api.service(secret_pb2_grpc.SecretServiceStub)


def _read_value() -> str:
    """The value: typed at a hidden prompt on a terminal, else standard input without its final newline."""
    if sys.stdin.isatty():
        return getpass.getpass("secret value: ")
    return sys.stdin.read().removesuffix("\n").removesuffix("\r")


def secret_create(args: argparse.Namespace, api: Api) -> int:
    secret = secret_pb2.Secret(value=_read_value(), display_name=args.display_name or "", labels=_labels(args.label))
    request = secret_pb2.CreateSecretRequest(secret=secret, secret_id=args.id or "", request_id=args.request_id or "")
    _show(args, _secrets(api).CreateSecret(request))
    return 0


def secret_rotate(args: argparse.Namespace, api: Api) -> int:
    request = secret_pb2.UpdateSecretRequest(
        secret=secret_pb2.Secret(name=secret_name(args.name), value=_read_value(), etag=args.etag or ""),
        update_mask=field_mask_pb2.FieldMask(paths=["value"]),
    )
    _show(args, _secrets(api).UpdateSecret(request))
    return 0


def secret_get(args: argparse.Namespace, api: Api) -> int:
    _show(args, _secrets(api).GetSecret(secret_pb2.GetSecretRequest(name=secret_name(args.name))))
    return 0


def secret_list(args: argparse.Namespace, api: Api) -> int:
    request = secret_pb2.ListSecretsRequest(**_list_options(args))
    response = _collect_pages(args, api.pager(_secrets(api).ListSecrets, request, "secrets"), "secrets")
    if args.json:
        output.print_json(response)
    else:
        rows = [
            [s.name, s.display_name or "-", output.timestamp_text(s, "value_time"), output.timestamp_text(s, "create_time")]
            for s in response.secrets
        ]
        output.print_table(["NAME", "DISPLAY NAME", "VALUE SET", "CREATED"], rows)
    return 0


def secret_delete(args: argparse.Namespace, api: Api) -> int:
    name = secret_name(args.name)
    response = _secrets(api).DeleteSecret(secret_pb2.DeleteSecretRequest(name=name, etag=args.etag or ""))
    _deleted(args, name, response)
    return 0


def add_secret_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = _group(commands, "secrets", "store and manage your own secrets (write-only values)", "Manage your secrets.")
    create = _leaf(
        group,
        "create",
        "store a secret; the value is read from standard input or a hidden prompt",
        secret_create,
        common,
        epilog="example:\n  printf %s \"$MODEL_KEY\" | runwire secrets create --id model-key",
    )
    create.add_argument("--id", metavar="ID", help="the secret's id; generated when omitted")
    create.add_argument("--display-name", metavar="TEXT", help="a human-readable name")
    _add_label_option(create)
    create.add_argument("--request-id", metavar="UUID", help="idempotency key: repeating it returns the first result")

    rotate = _leaf(group, "rotate", "replace a secret's value (read like create's)", secret_rotate, common)
    rotate.add_argument("name", metavar="NAME", help="secrets/ID or ID")
    rotate.add_argument("--etag", metavar="ETAG", help="fail if the secret changed since this etag")

    get = _leaf(group, "get", "show one secret (never its value)", secret_get, common)
    get.add_argument("name", metavar="NAME", help="secrets/ID or ID")

    listing = _leaf(group, "list", "list your secrets (never their values)", secret_list, common)
    _add_list_options(listing, filter_help="AIP-160 filter on display_name, labels, create_time, update_time")

    delete = _leaf(group, "delete", "delete a secret", secret_delete, common)
    delete.add_argument("name", metavar="NAME", help="secrets/ID or ID")
    delete.add_argument("--etag", metavar="ETAG", help="fail if the secret changed since this etag")
