"""The `runwire` command: `runwire serve` runs the server; the other commands call one."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from itertools import pairwise
from typing import Any


def _quiet_grpc_core_for_json_logs(argv: list[str]) -> None:
    """`runwire serve` logging JSON: gRPC core's own lines (`fork_posix.cc:71] …`) are plain text on stderr, so
    they are turned off. gRPC core reads GRPC_VERBOSITY once, when grpc is imported, so this runs before any
    import of grpc; an explicit GRPC_VERBOSITY is kept."""
    if argv[:1] != ["serve"]:
        return
    text = "--log-format=text" in argv or any(a == "--log-format" and b == "text" for a, b in pairwise(argv))
    if not text and os.environ.get("RUNWIRE_LOG_FORMAT", "json").lower() != "text":
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")


_quiet_grpc_core_for_json_logs(sys.argv[1:])

from runwire.cli import framework  # noqa: E402 (after the GRPC_VERBOSITY choice)

# The client command groups, one module each under runwire.cli.commands, in the order `runwire --help` lists them.
COMMAND_GROUPS = (
    "agents",
    "crews",
    "sessions",
    "messages",
    "run",
    "tools",
    "mcp_servers",
    "files",
    "memory",
    "config",
    "admin",
    "batches",
    "secrets",
)
# `runwire serve` flags passed to Settings.load under their own names.
_SERVE_SETTINGS = (
    "host",
    "port",
    "data_dir",
    "database_url",
    "log_level",
    "log_format",
    "insecure_no_auth",
    "metrics_port",
    "redis_url",
    "role",
    "workers",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runwire", description="Runwire: an AI-agent platform served over gRPC.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server (embedded defaults: SQLite under --data-dir)")
    serve.add_argument(
        "--config",
        metavar="FILE",
        help="TOML configuration file, sections as in config.proto; environment variables and flags override it "
        "(RUNWIRE_CONFIG_FILE)",
    )
    serve.add_argument("--host", help="address to listen on (RUNWIRE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on, 0 for any free port (RUNWIRE_PORT, default 50051)")
    serve.add_argument("--data-dir", help="where the database and files live (RUNWIRE_DATA_DIR, default ./data)")
    serve.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+asyncpg://... (RUNWIRE_DATABASE_URL)")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (RUNWIRE_LOG_LEVEL, default INFO)")
    serve.add_argument("--log-format", choices=("json", "text"), help="log lines as JSON objects or text (RUNWIRE_LOG_FORMAT, default json)")
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        default=None,
        help="turn authentication off: every caller is the `local` principal. Local development only "
        "(RUNWIRE_INSECURE_NO_AUTH=1)",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics at http://127.0.0.1:PORT/metrics; 0 turns them off (RUNWIRE_METRICS_PORT, default 0)",
    )
    serve.add_argument(
        "--redis-url",
        help="Redis shared by replicas for rate limits and key revocations, e.g. redis://cache:6379/0 (RUNWIRE_REDIS_URL)",
    )
    serve.add_argument(
        "--role",
        choices=("both", "api", "worker"),
        help="api: serve the API and execute nothing (workers run its runs); worker: execute and claim work, "
        "serve only health; both (RUNWIRE_ROLE, default both). api and worker need PostgreSQL",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="processes on the one port (SO_REUSEPORT) under a supervisor that restarts a child that dies; "
        "PostgreSQL only (RUNWIRE_WORKERS, default 1)",
    )
    serve.set_defaults(handler=_serve)

    framework.add_command_groups(commands, COMMAND_GROUPS)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from runwire.server import logging_setup
    from runwire.server.config import Settings, SettingsError

    try:
        settings = Settings.load(config_file=args.config, **{name: getattr(args, name) for name in _SERVE_SETTINGS})
    except SettingsError as exc:
        print(f"runwire serve: {exc}", file=sys.stderr)
        for path, problem in getattr(exc, "violations", ()):  # a configuration file: every invalid field
            print(f"  {path}: {problem}", file=sys.stderr)
        return 2
    logging_setup.configure(settings.log_level, settings.log_format)
    if settings.workers > 1:
        from runwire.server.supervisor import supervise

        return supervise(settings, lambda worker, ready_fd: _serve_one(worker, ready_fd))
    return _serve_one(settings, None)


def _serve_one(settings: Any, ready_fd: int | None) -> int:
    import asyncio

    from runwire.server.app import serve
    from runwire.server.store.database import DatabaseNotUsable

    try:
        try:
            import uvloop
        except ImportError:  # uvloop does not exist on Windows
            asyncio.run(serve(settings, ready_fd))
        else:
            uvloop.run(serve(settings, ready_fd))
    except DatabaseNotUsable as exc:
        print(f"runwire serve: {settings.database_description()}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # One line in the log's own format (JSON by default), no traceback.
        logging.getLogger("runwire.server").error("runwire serve: %s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    """The `runwire` command. Every failure ends as one line on stderr and an exit code, never a traceback."""
    try:
        try:
            args = build_parser().parse_args(argv)
            code = int(args.handler(args) or 0)
        finally:  # --help and usage errors end in SystemExit: their output is flushed here too
            sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader stopped reading (`runwire ... | head -1`): nothing to say, and nothing more to write.
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file named on the command line that cannot be read or written
        where = f": {exc.filename}" if exc.filename and str(exc.filename) not in str(exc.strerror) else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
