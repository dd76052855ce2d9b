"""`runwire secrets`: the caller's own secrets (keys of its own model servers). Values are read from standard
input or a prompt, never from the command line, where they would land in shell history and process lists."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from runwire.cli import framework, output
from runwire.cli.framework import Api
from runwire.cli.names import secret_name
from runwire.v1 import secret_pb2, secret_pb2_grpc

_NAME_HELP = "secrets/ID or ID"


def _secrets(api: Api) -> Any:
    return api.service(secret_pb2_grpc.SecretServiceStub)


def _read_value() -> str:
    """The value: typed at a hidden prompt on a terminal, else standard input without its final newline."""
    if sys.stdin.isatty():
        return getpass.getpass("secret value: ")
    return sys.stdin.read().removesuffix("\n").removesuffix("\r")


def secret_create(args: argparse.Namespace, api: Api) -> int:
    secret = secret_pb2.Secret(value=_read_value(), display_name=args.display_name or "", labels=framework.labels(args.label))
    request = secret_pb2.CreateSecretRequest(secret=secret, secret_id=args.id or "", request_id=args.request_id or "")
    return framework.show(args, _secrets(api).CreateSecret(request))


def secret_rotate(args: argparse.Namespace, api: Api) -> int:
    request = secret_pb2.UpdateSecretRequest(
        secret=secret_pb2.Secret(name=secret_name(args.name), value=_read_value(), etag=args.etag or ""),
        update_mask={"paths": ["value"]},
    )
    return framework.show(args, _secrets(api).UpdateSecret(request))


def secret_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, _secrets(api).GetSecret(secret_pb2.GetSecretRequest(name=secret_name(args.name))))


def secret_list(args: argparse.Namespace, api: Api) -> int:
    request = secret_pb2.ListSecretsRequest(**framework.list_options(args))
    response = framework.collect_pages(args, api.pager(_secrets(api).ListSecrets, request, "secrets"), "secrets")
    return framework.print_page(
        args,
        response,
        "secrets",
        ["NAME", "DISPLAY NAME", "VALUE SET", "CREATED"],
        lambda s: [
            s.name,
            s.display_name or "-",
            output.timestamp_text(s, "value_time"),
            output.timestamp_text(s, "create_time"),
        ],
        hint=False,
    )


def secret_delete(args: argparse.Namespace, api: Api) -> int:
    name = secret_name(args.name)
    response = _secrets(api).DeleteSecret(secret_pb2.DeleteSecretRequest(name=name, etag=args.etag or ""))
    return framework.deleted(args, name, response)


def _add_etag_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--etag", metavar="ETAG", help="fail if the secret changed since this etag")


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(commands, "secrets", "store and manage your own secrets (write-only values)", "Manage your secrets.")
    create = framework.leaf(
        group,
        "create",
        "store a secret; the value is read from standard input or a hidden prompt",
        secret_create,
        common,
        epilog="example:\n  printf %s \"$MODEL_KEY\" | runwire secrets create --id model-key",
    )
    create.add_argument("--id", metavar="ID", help="the secret's id; generated when omitted")
    create.add_argument("--display-name", metavar="TEXT", help="a human-readable name")
    framework.add_label_option(create)
    framework.add_request_id_option(create)

    rotate = framework.leaf(group, "rotate", "replace a secret's value (read like create's)", secret_rotate, common)
    framework.add_name_argument(rotate, _NAME_HELP)
    _add_etag_option(rotate)

    get = framework.leaf(group, "get", "show one secret (never its value)", secret_get, common)
    framework.add_name_argument(get, _NAME_HELP)

    listing = framework.leaf(group, "list", "list your secrets (never their values)", secret_list, common)
    framework.add_list_options(listing, filter_help="AIP-160 filter on display_name, labels, create_time, update_time")

    delete = framework.leaf(group, "delete", "delete a secret", secret_delete, common)
    framework.add_name_argument(delete, _NAME_HELP)
    _add_etag_option(delete)
