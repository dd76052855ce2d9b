"""Crews: the standard methods of CrewService, and executing a crew as a run (see resources.py for the
conventions). A crew run's stream holds the plan and every child run's events; `run_stream.py` keeps the
latest plan and the final answer's text."""

from __future__ import annotations

from typing import Any

from runwire.client.resources import Runs, _StandardMethods, content
from runwire.client.run_stream import ResumePolicy
from runwire.v1 import crew_pb2, crew_pb2_grpc, run_pb2


class Crews(_StandardMethods):
    stub_class = crew_pb2_grpc.CrewServiceStub
    messages = crew_pb2
    singular, plural = "Crew", "Crews"

    @property
    def _runs(self) -> Runs:
        runs: Runs = self._client.runs
        return runs

    def execute(self, crew: str, input: Any, *, resume: ResumePolicy | None = None, **fields: Any) -> Any:
        """ExecuteAgent with `crew`: the crew run's events (plan, child events, the final answer's tokens) as a
        run stream that resumes after a dropped connection; `labels=`, `request_id=` among the fields."""
        return self._runs._execute({"crew": crew}, input, resume, fields)

    def stream_tokens(self, crew: str, input: Any, **fields: Any) -> Any:
        """StreamTokens with `crew`: the text of the crew's final answer only (not resumed)."""
        return self._runs._send("StreamTokens", fields, crew=crew, input=content(input))

    def start(self, crew: str, input: Any, **fields: Any) -> Any:
        """CreateRun of the crew: the crew run, returned at once; follow it with `client.runs.stream(run.name)`.
        `labels=`, `options=` set the run; `run_id=`, `request_id=` the request."""
        run_fields = {k: fields.pop(k) for k in ("options", "labels") if k in fields}
        return self._runs._send("CreateRun", fields, run=run_pb2.Run(crew=crew, input=content(input), **run_fields))

    def child_runs(self, run: str, **fields: Any) -> Any:
        """A pager over the child runs of `run` (a crew run's tasks, or the runs an agent delegated to), oldest
        first; `filter=` narrows them further."""
        extra = fields.pop("filter", "")
        parent = f'parent_run = "{run}"'
        fields.setdefault("order_by", "create_time")
        return self._runs._send_paged("ListRuns", fields, filter=f"{parent} AND ({extra})" if extra else parent)
