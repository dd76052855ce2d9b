"""The model provider interface. A provider turns a conversation into a stream of chunks.

Providers know nothing of runs, events or the database: the run loop in
engine/runner.py drives them, retries them and records what they produce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, Literal, Protocol

from runwire.server.core.errors import ErrorReasonName

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "tool_calls", "length", "content_filter"]


@dataclass(frozen=True)
class ToolCallRequest:
    """The model asks for a tool: `arguments` is already parsed JSON (an object).

    `rejected` says why arguments the model sent cannot be used (not JSON, not an object, nested too
    deeply...): the tool is not called and the model gets that reason as the call's error result."""

    id: str
    name: str
    arguments: dict[str, Any]
    rejected: str = ""


REJECTED = "the arguments were rejected:"


def parse_arguments(text: str) -> tuple[dict[str, Any], str]:
    """A tool call's arguments as a model wrote them: (the object, "") or ({}, why they cannot be used).
    An empty text is no arguments: tools without parameters often get "" rather than "{}"."""
    if not text.strip():
        return {}, ""
    try:
        arguments = json.loads(text, parse_constant=_not_json_constant)
    except json.JSONDecodeError as exc:
        return {}, f"{REJECTED} not valid JSON (line {exc.lineno}, column {exc.colno})"
    except _NotJsonConstant as exc:
        return {}, f"{REJECTED} not valid JSON: {exc}"
    except ValueError:  # an integer of more digits than Python converts
        return {}, f"{REJECTED} a number in them is too long"
    except RecursionError:
        return {}, f"{REJECTED} they nest objects and lists too deeply"
    if not isinstance(arguments, dict):
        return {}, f"{REJECTED} not a JSON object"
    return arguments, ""


class _NotJsonConstant(ValueError):
    """NaN, Infinity or -Infinity, which Python's reader takes and JSON does not; the message is ours."""


def _not_json_constant(name: str) -> Any:
    raise _NotJsonConstant(f"{name} is not a JSON value")


@dataclass(frozen=True)
class ModelMessage:
    role: Role
    text: str = ""
    # Assistant messages that called tools.
    tool_calls: tuple[ToolCallRequest, ...] = ()
    # Tool messages answer one call.
    tool_call_id: str = ""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ModelRequest:
    model: str
    messages: tuple[ModelMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = None
    max_output_tokens: int | None = None
    # The agent's own model server and the key to send there (never the server's key): a user's endpoint.
    base_url: str = ""
    api_key: str = field(default="", repr=False)
    # A named endpoint the admin configured (exclusive with base_url); empty: the provider's default.
    endpoint: str = ""
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TextChunk:
    text: str


@dataclass(frozen=True)
class QuestionChunk:
    """The model asks the person a free-text question (the builtin provider's convention)."""

    prompt: str


@dataclass(frozen=True)
class UsageChunk:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class FinishChunk:
    reason: FinishReason


Chunk = TextChunk | ToolCallRequest | QuestionChunk | UsageChunk | FinishChunk


class ProviderError(Exception):
    """A model call failed. `retryable` errors (timeouts, 429, 5xx) may be retried if nothing was streamed yet.

    `reason` is the ErrorReason name the failed run records."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        reason: ErrorReasonName = "PROVIDER_ERROR",
    ):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class Provider(Protocol):
    name: str

    def stream(self, request: ModelRequest) -> AsyncGenerator[Chunk, None]:
        """Chunks of one model call, ending with a FinishChunk. Raises ProviderError on failure. A generator,
        so that a caller that stops early closes it (and the model's response) at once."""
        ...
