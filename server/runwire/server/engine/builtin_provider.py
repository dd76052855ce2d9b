"""The `builtin` provider: a deterministic, offline test engine. It is not a language model.

It reads directives in the latest user message, so every path of the
platform can be exercised with no key and no network:

  [[tool:NAME {"arg": 1}]]   call tool NAME with these JSON arguments (several directives: parallel calls;
                             arguments that are not a JSON object come back to it as the call's error)
  [[ask:QUESTION]]           ask the person a free-text question and wait for the answer
  [[tokens:N]]               answer with N numbered tokens ("t1 t2 ... tN")
  [[sleep:SECONDS]]          wait before answering (up to 60 s; cancellation interrupts it)
  [[error:STATUS]]           fail the model call as an HTTP STATUS would (429 and 5xx are retryable)
  [[flaky:N]]                fail the first N attempts of each model call with a retryable error

Directives in the agent's instructions apply to every turn as if they followed the user's text, so
an agent can be built to always do something (call another agent, ask for approval). Another agent
listed as a tool is called as `[[tool:agent.ID {"input": "..."}]]`, or handed the conversation as
`[[tool:handover.ID {"input": "..."}]]` (docs/crews.md).

A crew's manager (docs/crews.md) is asked in messages that begin `Crew planning.` or `Crew review N.`;
there only these directives of the crew's input count (no tools, no other directive):

  [[plan:{"tasks": [...]}]]   in planning: answer this plan
  [[replan:{"tasks": [...]}]] in review 1: answer this new plan
  [[final:TEXT]]              in a review without a new plan: answer TEXT (default "All tasks are done.")

Without directives it answers `You said: <the user's text>`. After tool
results it reports them: `calculator returned {"value": 4}.`. Text is
streamed one token (a word with its trailing space) at a time at
`tokens_per_second` (0 = as fast as the reader takes them), from the
agent's `model.options.tokens_per_second` or the server's setting. At
unlimited rate it hands the event loop back every `UNLIMITED_BURST_TOKENS`
tokens, as a network read delivering several chunks at once would.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from typing import AsyncIterator

from runwire.server.engine.providers import (
    Chunk,
    FinishChunk,
    ModelMessage,
    ModelRequest,
    ProviderError,
    QuestionChunk,
    TextChunk,
    ToolCallRequest,
    UsageChunk,
    parse_arguments,
)

_TOOL = re.compile(r"\[\[tool:([A-Za-z_][\w.-]*)\s*(\{.*?\})?\s*\]\]", re.S)
_PLAN = re.compile(r"\[\[(plan|replan):(\{.*?\})\]\](?!\])", re.S)
_FINAL = re.compile(r"\[\[final:([^\]]*)\]\]")
_REVIEW = re.compile(r"Crew review (\d+)\.")
_DIRECTIVE = re.compile(r"\[\[(ask|tokens|sleep|error|flaky):([^\]]*)\]\]")
MAX_TOKENS_DIRECTIVE = 1_000_000
MAX_SLEEP_SECONDS = 60.0
# At unlimited rate, tokens come in bursts of this many between turns of the event loop: one turn per
# token would spend more on the loop than on the run, and a burst still takes only microseconds.
UNLIMITED_BURST_TOKENS = 16


class BuiltinProvider:
    name = "builtin"

    def __init__(self, tokens_per_second: float = 0.0) -> None:
        self.tokens_per_second = tokens_per_second
        self._attempts: dict[str, int] = {}

    async def stream(self, request: ModelRequest) -> AsyncIterator[Chunk]:
        turn = _current_turn(request.messages)
        user_text = turn[0].text if turn else ""
        manager_answer = _manager_answer(user_text)
        if manager_answer is not None:
            for token in _tokens(manager_answer):
                yield TextChunk(token)
            yield UsageChunk(input_tokens=len(user_text.split()), output_tokens=len(manager_answer.split()))
            yield FinishChunk("stop")
            return
        # The agent's own directives (in its instructions) follow the user's.
        system = request.messages[0].text if request.messages and request.messages[0].role == "system" else ""
        directive_text = f"{user_text}\n{' '.join(_directives_in(system))}" if "[[" in system else user_text
        directives = {name: value.strip() for name, value in _DIRECTIVE.findall(directive_text)}
        await self._fail_if_asked(request, directives)
        if "sleep" in directives:
            await asyncio.sleep(min(_number(directives["sleep"], "sleep"), MAX_SLEEP_SECONDS))

        input_tokens = sum(len(m.text.split()) for m in request.messages)
        calls = self._pending_tool_calls(turn, directive_text)
        if calls:
            for call in calls:
                yield call
            yield UsageChunk(input_tokens=input_tokens, output_tokens=len(calls))
            yield FinishChunk("tool_calls")
            return
        if "ask" in directives and not _has_assistant_text(turn):
            yield QuestionChunk(directives["ask"] or "Please answer:")
            yield UsageChunk(input_tokens=input_tokens, output_tokens=1)
            yield FinishChunk("stop")
            return

        tokens = _answer_tokens(turn, user_text, directives, request.max_output_tokens)
        rate = float(request.options.get("tokens_per_second", self.tokens_per_second) or 0)
        if rate > 0:
            delay = 1.0 / rate
            for token in tokens:
                yield TextChunk(token)
                await asyncio.sleep(delay)
        else:
            for index, token in enumerate(tokens, 1):
                yield TextChunk(token)
                if index % UNLIMITED_BURST_TOKENS == 0 or index == len(tokens):
                    # Even at unlimited rate, let other runs and streams progress.
                    await asyncio.sleep(0)
        yield UsageChunk(input_tokens=input_tokens, output_tokens=len(tokens))
        limited = request.max_output_tokens is not None and len(tokens) >= request.max_output_tokens
        yield FinishChunk("length" if limited else "stop")

    async def _fail_if_asked(self, request: ModelRequest, directives: dict[str, str]) -> None:
        if "error" in directives:
            status = int(_number(directives["error"], "error"))
            raise ProviderError(
                f"simulated HTTP {status}", retryable=status == 429 or status >= 500, status=status
            )
        if "flaky" in directives:
            key = hashlib.sha256(repr(request.messages).encode()).hexdigest()
            attempt = self._attempts.get(key, 0) + 1
            self._attempts[key] = attempt
            if attempt <= int(_number(directives["flaky"], "flaky")):
                raise ProviderError(f"simulated outage (attempt {attempt})", retryable=True, status=503)
            self._attempts.pop(key, None)

    @staticmethod
    def _pending_tool_calls(turn: list[ModelMessage], user_text: str) -> list[ToolCallRequest]:
        """Tool directives are called once, in the first model call of the turn."""
        if any(m.role == "assistant" for m in turn):
            return []
        calls = []
        for index, (name, raw_args) in enumerate(_TOOL.findall(user_text)):
            arguments, rejected = parse_arguments(raw_args)
            calls.append(ToolCallRequest(id=f"call_{index + 1}", name=name, arguments=arguments, rejected=rejected))
        return calls


def _directives_in(text: str) -> list[str]:
    """The tool and other directives written in `text`, as written."""
    return [m.group(0) for m in _TOOL.finditer(text)] + [m.group(0) for m in _DIRECTIVE.finditer(text)]


def _manager_answer(user_text: str) -> str | None:
    """What a crew's manager answers in planning or review (see the module's doc); None otherwise."""
    plans = {kind: body for kind, body in _PLAN.findall(user_text)}
    if user_text.startswith("Crew planning."):
        return plans.get("plan", "I have no plan.")
    review = _REVIEW.match(user_text)
    if review is None:
        return None
    if review.group(1) == "1" and "replan" in plans:
        return plans["replan"]
    final = _FINAL.search(user_text)
    return final.group(1).strip() if final else "All tasks are done."


def _tokens(text: str) -> list[str]:
    """`text` as streamed tokens: each word with the space after it."""
    return re.findall(r"\S+\s*|\s+", text)


def _current_turn(messages: tuple[ModelMessage, ...]) -> list[ModelMessage]:
    """The latest user message and everything after it."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return list(messages[index:])
    return []


def _has_assistant_text(turn: list[ModelMessage]) -> bool:
    return any(m.role == "assistant" and m.text for m in turn)


def _answer_tokens(
    turn: list[ModelMessage], user_text: str, directives: dict[str, str], max_tokens: int | None
) -> list[str]:
    results = [m for m in turn if m.role == "tool"]
    if results:
        names = {call.id: call.name for m in turn for call in m.tool_calls}
        text = " ".join(f"{names.get(m.tool_call_id, 'tool')} returned {m.text}." for m in results)
    elif "tokens" in directives:
        count = min(int(_number(directives["tokens"], "tokens")), MAX_TOKENS_DIRECTIVE)
        # Built directly: the same tokens as splitting "t1 t2 ... tN", without the string in between.
        tokens = [f"t{i} " for i in range(1, count)] + [f"t{count}"] if count > 0 else []
        return tokens[:max_tokens] if max_tokens else tokens
    else:
        spoken = _DIRECTIVE.sub("", _TOOL.sub("", user_text)).strip()
        text = f"You said: {spoken}" if spoken else "Hello."
    words = text.split(" ")
    tokens = [word + " " for word in words[:-1]] + [words[-1]]
    tokens = [t for t in tokens if t]
    return tokens[:max_tokens] if max_tokens else tokens


def _number(value: str, directive: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ProviderError(f"[[{directive}:{value}]] needs a number", retryable=False) from None
    if not math.isfinite(number):
        raise ProviderError(f"[[{directive}:{value}]] needs a finite number", retryable=False)
    if number < 0:
        raise ProviderError(f"[[{directive}:{value}]] must not be negative", retryable=False)
    return number

