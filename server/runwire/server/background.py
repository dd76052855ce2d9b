"""Background work: a task that outlives the call that started it runs in a context of its own.

asyncio copies the current context into every new task, so a task spawned while a call is served would
log with that call's request id, method and principal for as long as it lives (an MCP connection, a run,
a batch, a file's processing). `spawn` starts it with the call-scoped variables reset instead.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")
_CALL_SCOPED: list[contextvars.ContextVar[Any]] = []


def call_scoped(variable: contextvars.ContextVar[T]) -> contextvars.ContextVar[T]:
    """Register a variable that belongs to the call being served: background tasks do not inherit it."""
    _CALL_SCOPED.append(variable)
    return variable


def background_context() -> contextvars.Context:
    context = contextvars.copy_context()
    for variable in _CALL_SCOPED:
        context.run(variable.set, None)
    return context


def spawn(work: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """asyncio.create_task for background work: no call's request id, method or principal comes along."""
    return asyncio.get_running_loop().create_task(work, name=name, context=background_context())
