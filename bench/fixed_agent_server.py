"""`runwire serve` whose GetAgent answers one fixed agent without reading the database.

For bench/unary_budget.py only: every call still goes through the interceptor (request id,
authentication, rate limit, deadline, metrics, access log), so the difference from the real server is
what the read and the conversion of the agent cost. Never a way to run Runwire.
"""

from __future__ import annotations

import sys

from runwire.cli.main import main
from runwire.server.api.servicers import AgentServicer
from runwire.v1 import agent_pb2

FIXED_AGENT = agent_pb2.Agent(
    name="agents/bench",
    display_name="Bench",
    instructions="Answer briefly.",
    model=agent_pb2.ModelConfig(provider="builtin"),
    owner="local",
    etag='"0123456789abcdef"',
)


async def fixed_get_agent(self, request, context):  # type: ignore[no-untyped-def]
    return FIXED_AGENT


AgentServicer.GetAgent = fixed_get_agent  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
