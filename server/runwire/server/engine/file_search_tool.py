"""The built-in `file_search` tool: full-text (or semantic) search over the files attached to the run's session or its agent."""

from __future__ import annotations

from typing import Any

from runwire.server.core.errors import DomainError
from runwire.server.domain.files import FileService
from runwire.server.engine.tools import ToolContext, ToolError


class FileSearch:
    name = "file_search"
    description = (
        "Searches the text of the files attached to this conversation or to this agent; "
        "returns the best-matching passages with their file and page."
    )
    parameters = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 1000},
            "limit": {"type": "integer", "minimum": 1, "maximum": 20},
            # `semantic` finds passages close in meaning without shared words, where the server enables it.
            "mode": {"type": "string", "enum": ["full_text", "semantic"]},
        },
        "required": ["query"],
        "additionalProperties": False,
    }

    def __init__(self, files: FileService) -> None:
        self.files = files

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        try:
            hits = await self.files.search_for_run(
                context.principal,
                context.session,
                arguments["query"],
                int(arguments.get("limit", 5)),
                semantic=arguments.get("mode") == "semantic",
            )
        except DomainError as error:
            raise ToolError(error.message) from None
        return {
            "query": arguments["query"],
            "results": [
                {"file": h.file, "filename": h.filename, "page": h.page_number, "snippet": h.snippet, "score": round(h.score, 4)}
                for h in hits
            ],
        }
