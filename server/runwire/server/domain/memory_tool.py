"""The built-in `memory` tool: agents save, recall and forget long-term memories of the user they serve.

Memories saved by the tool belong to the run's owner and record the run's
session as their source; `agent_only` scopes one to the run's agent. Recall
searches what the run's agent may see: memories scoped to it and those of all
the owner's agents.

A domain service behind the engine's `Tool` interface: the app registers it in the engine's ToolRegistry.
"""

from __future__ import annotations

from typing import Any

from runwire.server.core.errors import DomainError
from runwire.server.core.paging import SearchQuery
from runwire.server.core.principal import Principal
from runwire.server.domain.memories import MEMORY, MemoryService, MemoryType
from runwire.server.engine.tools import ToolContext, ToolError

TYPES = {"profile": MemoryType.PROFILE, "fact": MemoryType.FACT, "conversation": MemoryType.CONVERSATION}


class MemoryTool:
    name = "memory"
    description = (
        "Long-term memory of the user across sessions. action=save stores `content` (type profile, fact or "
        "conversation; fact by default); action=recall returns the saved memories containing every word of `query`, "
        "best first; action=forget deletes the memory named `memory`."
    )
    parameters = {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["save", "recall", "forget"]},
            "content": {"type": "string", "minLength": 1, "maxLength": 10_000},
            "type": {"type": "string", "enum": sorted(TYPES)},
            "agent_only": {"type": "boolean"},
            "query": {"type": "string", "minLength": 1, "maxLength": 1_000},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50},
            "memory": {"type": "string", "pattern": "^memories/[a-z0-9-]+$"},
        },
        "required": ["action"],
        "additionalProperties": False,
    }

    def __init__(self, memories: MemoryService) -> None:
        self.memories = memories

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        owner = Principal(id=context.principal.id)
        action = arguments["action"]
        try:
            if action == "save":
                return await self._save(owner, arguments, context)
            if action == "recall":
                return await self._recall(owner, arguments, context)
            return await self._forget(owner, arguments)
        except DomainError as error:
            raise ToolError(error.message) from None

    async def _save(self, owner: Principal, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        if "content" not in arguments:
            raise ToolError("action=save needs `content`")
        memory_type = TYPES[arguments.get("type", "fact")]
        row = await self.memories.create(
            owner,
            {
                "type": memory_type,
                "content": arguments["content"],
                "agent": context.agent if arguments.get("agent_only") else "",
                "session": context.session,
                "labels": {"source": "memory-tool"},
            },
        )
        return {"saved": MEMORY.format(row.id), "type": memory_type.name.lower(), "content": row.content}

    async def _recall(self, owner: Principal, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        if "query" not in arguments:
            raise ToolError("action=recall needs `query`")
        types = [TYPES[arguments["type"]]] if "type" in arguments else []
        search = SearchQuery(text=arguments["query"], page_size=int(arguments.get("limit", 10)))
        hits, _ = await self.memories.search(owner, search, types=types, agent=context.agent)
        return {
            "query": arguments["query"],
            "memories": [
                {"memory": MEMORY.format(h.memory.id), "type": MemoryType(h.memory.type).name.lower(), "content": h.memory.content}
                for h in hits
            ],
        }

    async def _forget(self, owner: Principal, arguments: dict[str, Any]) -> dict[str, Any]:
        if "memory" not in arguments:
            raise ToolError("action=forget needs `memory`, the name of a memory such as memories/abc1")
        await self.memories.delete(owner, arguments["memory"])
        return {"forgotten": arguments["memory"]}
