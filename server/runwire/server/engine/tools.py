"""Tools agents can call: the interface, the registry and the built-in tools.

A tool declares a JSON schema for its arguments; the registry validates
arguments before calling it. Whatever goes wrong inside a tool becomes a
ToolError, which the run loop returns to the model instead of failing the run.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Awaitable, Callable, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

from runwire.server.core.principal import Principal


class ToolError(Exception):
    """A tool call failed; the message is shown to the model."""


@dataclass(frozen=True)
class ToolContext:
    principal: Principal
    session: str
    run: str
    # Searches the run's session: (query, limit) -> [{"message", "role", "snippet"}].
    search_session: Callable[[str, int], Awaitable[list[dict[str, Any]]]]
    # The run's agent, `agents/{agent}`.
    agent: str = ""


class Tool(Protocol):
    name: str
    description: str
    parameters: dict[str, Any]

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]: ...


class ToolSource(Protocol):
    """Tools that come and go at run time (the tools of MCP servers), looked up by call name."""

    def tool(self, name: str) -> Tool | None: ...


class ToolRegistry:
    def __init__(self, tools: list[Tool]) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self._sources: list[ToolSource] = []

    def register(self, tool: Tool) -> None:
        self._tools[tool.name] = tool

    def add_source(self, source: ToolSource) -> None:
        self._sources.append(source)

    def get(self, name: str) -> Tool | None:
        tool = self._tools.get(name)
        if tool is None:
            for source in self._sources:
                tool = source.tool(name)
                if tool is not None:
                    break
        return tool

    def names(self) -> list[str]:
        """The built-in tools (those registered, not those of a source)."""
        return sorted(self._tools)

    def builtins(self) -> list[Tool]:
        return [self._tools[name] for name in sorted(self._tools)]

    @staticmethod
    def check_arguments(tool: Tool, arguments: dict[str, Any]) -> None:
        try:
            jsonschema.validate(arguments, tool.parameters)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "arguments"
            raise ToolError(f"invalid arguments for {tool.name} at {where}: {exc.message}") from None
        except jsonschema.SchemaError:
            pass  # a schema declared by an MCP server that is not valid JSON Schema: the server checks its own input

    async def call(self, name: str, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        tool = self.get(name)
        if tool is None:
            raise ToolError(f"tool {name!r} is not available")
        self.check_arguments(tool, arguments)
        return await tool.call(arguments, context)


# -- calculator ---------------------------------------------------------------

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
MAX_EXPRESSION_CHARS = 1_000
MAX_ABS_EXPONENT = 1_000
MAX_RESULT_DIGITS = 1_000


class Calculator:
    name = "calculator"
    description = (
        "Evaluates an arithmetic expression: numbers, + - * / // % **, parentheses, "
        "pi, e, tau and abs, round, min, max, sqrt, exp, log, log10, sin, cos, tan, floor, ceil."
    )
    parameters = {
        "type": "object",
        "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": MAX_EXPRESSION_CHARS}},
        "required": ["expression"],
        "additionalProperties": False,
    }

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        expression = arguments["expression"]
        try:
            tree = ast.parse(expression, mode="eval")
        except (SyntaxError, ValueError):  # ValueError: a NUL character
            raise ToolError("not an arithmetic expression") from None
        except (RecursionError, MemoryError):
            raise ToolError("the expression nests too deeply") from None
        try:
            value = _evaluate(tree.body)
        except _NotAllowed as exc:
            raise ToolError(str(exc)) from None
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("the result is too large") from None
        # Python's own words ("math domain error", "must be real number, not complex") stay out.
        except ValueError:
            raise ToolError("a function got an argument outside its domain (e.g. sqrt or log of a negative number)") from None
        except TypeError:
            raise ToolError("a function got the wrong number or kind of arguments") from None
        except RecursionError:
            raise ToolError("the expression nests too deeply") from None
        if isinstance(value, complex):  # a fractional power of a negative number
            raise ToolError("the result is not a real number")
        if isinstance(value, int) and value.bit_length() > MAX_RESULT_DIGITS * 3.33:
            raise ToolError("the result is too large")
        if isinstance(value, float) and not math.isfinite(value):
            raise ToolError("the result is not a finite number")
        # JSON numbers are doubles: `text` keeps every digit of large integers.
        try:
            number = float(value) if isinstance(value, int) and abs(value) >= 2**53 else value
        except OverflowError:  # beyond what a double holds
            raise ToolError("the result is too large") from None
        return {"expression": expression, "value": number, "text": str(value)}


def _evaluate(node: ast.AST) -> Any:
    """Walks the syntax tree; only arithmetic nodes are allowed, so nothing else can run."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_ABS_EXPONENT:
            raise _NotAllowed(f"exponents are limited to ±{MAX_ABS_EXPONENT}")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and len(node.args) <= 8
    ):
        return _FUNCTIONS[node.func.id](*[_evaluate(arg) for arg in node.args])
    raise _NotAllowed(f"{_clipped(ast.unparse(node))!r} is not allowed: only numbers, operators, pi, e, tau and the listed functions are")


class _NotAllowed(Exception):
    """Part of an expression the calculator does not evaluate; the message is ours."""


def _clipped(text: str) -> str:
    return text if len(text) <= 80 else text[:79] + "…"


# -- current_time -------------------------------------------------------------


class CurrentTime:
    name = "current_time"
    description = "Returns the current date and time, in UTC or in an IANA time zone such as Europe/Paris."
    parameters = {
        "type": "object",
        "properties": {"timezone": {"type": "string", "maxLength": 64}},
        "additionalProperties": False,
    }

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        zone_name = arguments.get("timezone") or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ToolError(f"unknown time zone {zone_name!r}") from None
        now = self.clock().astimezone(zone)
        return {"timezone": zone_name, "iso": now.isoformat(), "unix": now.timestamp(), "weekday": now.strftime("%A")}


# -- session_search -----------------------------------------------------------


class SessionSearch:
    name = "session_search"
    description = "Searches the messages of the current session for text; returns the newest matches."
    parameters = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 1000},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50},
        },
        "required": ["query"],
        "additionalProperties": False,
    }

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        matches = await context.search_session(arguments["query"], int(arguments.get("limit", 10)))
        return {"query": arguments["query"], "matches": matches}


def builtin_tools() -> list[Tool]:
    return [Calculator(), CurrentTime(), SessionSearch()]
