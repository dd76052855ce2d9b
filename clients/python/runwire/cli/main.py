"""The `runwire` command: `runwire serve` runs the server; the other commands call one."""

from __future__ import annotations

import argparse
import sys

from runwire.cli import resources


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runwire", description="Runwire: an AI-agent platform served over gRPC.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server (embedded defaults: SQLite under --data-dir)")
    serve.add_argument("--host", help="address to listen on (RUNWIRE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on, 0 for any free port (RUNWIRE_PORT, default 50051)")
    serve.add_argument("--data-dir", help="where the database and files live (RUNWIRE_DATA_DIR, default ./data)")
    serve.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+asyncpg://... (RUNWIRE_DATABASE_URL)")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (RUNWIRE_LOG_LEVEL, default INFO)")
    serve.set_defaults(handler=_serve)

    resources.add_commands(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from runwire.server.app import serve
    from runwire.server.config import Settings, SettingsError

    try:
        settings = Settings.load(
            host=args.host, port=args.port, data_dir=args.data_dir, database_url=args.database_url, log_level=args.log_level
        )
    except SettingsError as exc:
        print(f"runwire serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
    )
    # Alembic narrates every migration step at INFO; one line per start is enough.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        import uvloop

        uvloop.run(serve(settings))
    except ImportError:  # uvloop does not exist on Windows
        asyncio.run(serve(settings))
    except OSError as exc:
        print(f"runwire serve: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
