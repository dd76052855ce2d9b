"""Every reason a domain error carries is a value of runwire.v1.ErrorReason: typed for mypy, and checked here
in the source too, so a call site mypy cannot follow (an untyped value, a dynamic class) is caught as well."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import get_args

import pytest

from runwire.server.core import errors
from runwire.v1 import error_reason_pb2
from runwire.v1.error_reason_names import ErrorReasonName

SERVER = Path(errors.__file__).resolve().parents[1]
CONTRACT = {name.removeprefix("ERROR_REASON_") for name in error_reason_pb2.ErrorReason.keys()} - {"UNSPECIFIED"}


def _domain_errors() -> dict[str, type[errors.DomainError]]:
    found: dict[str, type[errors.DomainError]] = {}
    pending: list[type[errors.DomainError]] = [errors.DomainError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def _constructed_class(call: ast.Call, classes: dict[str, type[errors.DomainError]]) -> str | None:
    """The domain error a call makes: `NotFound(...)`, `errors.NotFound(...)` or `InvalidArgument.field(...)`."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in classes:
        return func.id
    if isinstance(func, ast.Attribute):
        if func.attr in classes:
            return func.attr
        owner = func.value
        name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else None
        if name in classes and inspect.ismethod(getattr(classes[name], func.attr, None)):
            return name
    return None


def _error_calls() -> list[tuple[str, str, ast.Call]]:
    """(file:line, class, call) of every domain error the server's source constructs."""
    classes = _domain_errors()
    calls = []
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and (cls := _constructed_class(node, classes)) is not None:
                calls.append((f"{path.relative_to(SERVER)}:{node.lineno}", cls, node))
    return calls


def test_the_generated_type_names_every_reason_of_the_contract() -> None:
    assert set(get_args(ErrorReasonName)) == CONTRACT


def test_every_reason_literal_given_to_a_domain_error_is_in_the_contract() -> None:
    literals = [
        (where, value.value)
        for where, _, call in _error_calls()
        for keyword in call.keywords
        if keyword.arg == "reason"
        for value in ast.walk(keyword.value)  # `reason="A" if x else "B"` gives both
        if isinstance(value, ast.Constant) and isinstance(value.value, str)
    ]
    assert len(literals) > 50, "the scan found too few reasons: has the way errors are raised changed?"
    unknown = [f"{where}: {reason!r}" for where, reason in literals if reason not in CONTRACT]
    assert not unknown, "reasons that are not runwire.v1.ErrorReason values:\n" + "\n".join(unknown)


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _given_literals(expression: ast.expr) -> list[str]:
    """The strings an expression may give as it is: `"A"`, `"A" if x else "B"`, `reason or "A"`."""
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        return [expression.value]
    if isinstance(expression, ast.IfExp):
        return _given_literals(expression.body) + _given_literals(expression.orelse)
    if isinstance(expression, ast.BoolOp):
        return [literal for value in expression.values for literal in _given_literals(value)]
    return []


def test_every_reason_literal_a_run_fails_with_is_in_the_contract() -> None:
    """A failed run's reason (RunFailure's first argument, a Failure's `reason`: a crew task's, a child
    run's) is an ErrorReason name as well."""
    literals = []
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or _called_name(node) not in ("RunFailure", "Failure"):
                continue
            given = [k.value for k in node.keywords if k.arg == "reason"]
            if _called_name(node) == "RunFailure" and node.args:
                given.append(node.args[0])
            literals += [(f"{path.relative_to(SERVER)}:{node.lineno}", value) for e in given for value in _given_literals(e)]
    assert {reason for _, reason in literals} >= {"CREW_PLAN_INVALID", "CREW_TASK_FAILED", "CREW_TOKEN_LIMIT_EXCEEDED"}
    unknown = [f"{where}: {reason!r}" for where, reason in literals if reason not in CONTRACT]
    assert not unknown, "run failure reasons that are not runwire.v1.ErrorReason values:\n" + "\n".join(unknown)


def test_a_reason_read_back_is_kept_only_when_the_contract_has_it() -> None:
    assert errors.reason_named("CREW_TASK_FAILED", "INTERNAL") == "CREW_TASK_FAILED"
    assert errors.reason_named("NOT_A_REASON", "INTERNAL") == "INTERNAL"


def test_every_default_reason_is_in_the_contract() -> None:
    defaults = {name: cls.default_reason for name, cls in _domain_errors().items() if cls.default_reason is not None}
    assert "InvalidArgument" in defaults
    assert {name: reason for name, reason in defaults.items() if reason not in CONTRACT} == {}


def test_an_error_kind_without_a_default_reason_is_always_given_one() -> None:
    classes = _domain_errors()
    missing = [
        f"{where}: {cls}"
        for where, cls, call in _error_calls()
        if classes[cls].default_reason is None
        and not any(keyword.arg in ("reason", None) for keyword in call.keywords)  # None: **kwargs
    ]
    assert not missing, "domain errors raised without a reason:\n" + "\n".join(missing)


def test_an_error_without_any_reason_is_refused_where_it_is_made() -> None:
    with pytest.raises(TypeError, match="NotFound needs a reason"):
        errors.NotFound("gone")
