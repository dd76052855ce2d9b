"""`runwire serve` whose GetAgent answers one fixed agent without reading the database.

For bench/unary_budget.py only: every call still goes through the interceptor (request id,
authentication, rate limit, deadline, metrics, access log), so the difference from the real server is
what the read and the conversion of the agent cost. Never a way to run Runwire.
"""

from __future__ import annotations

import sys

from bare_server import AGENT  # bench/ is this script's directory, so first on sys.path

from runwire.cli.main import main
from runwire.server.api.servicers import AgentServicer


async def fixed_get_agent(self, request, context):  # type: ignore[no-untyped-def]
    return AGENT  # the bare server's agent: the same message on the wire


AgentServicer.GetAgent = fixed_get_agent  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
