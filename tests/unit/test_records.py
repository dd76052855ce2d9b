"""The records that stand in for rows (store/records.py) have their models' columns, in the models' order:
the compiled reads build them positionally, and wire/convert.py reads them as it reads the models."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from runwire.server.store import records
from runwire.server.store.models import AgentRow, MessageRow, RunRow, SessionRow


@pytest.mark.parametrize(
    ("record", "model"),
    [
        (records.AgentRecord, AgentRow),
        (records.SessionRecord, SessionRow),
        (records.MessageValues, MessageRow),
        (records.RunValues, RunRow),
    ],
)
def test_a_record_has_its_models_columns_in_order(record: type, model: type) -> None:
    assert record._fields == tuple(attribute.key for attribute in inspect(model).column_attrs)


def test_a_run_read_by_its_columns_names_builds_its_record() -> None:
    """engine/events.py builds RunValues from a row of the runs table's columns, by column name."""
    assert {column.key for column in RunRow.__table__.c} == set(records.RunValues._fields)


def test_records_are_immutable() -> None:
    agent = records.RunAgent(id="a", state=1, limits={}, instructions="", model={}, tools=[])
    with pytest.raises(AttributeError):
        agent.state = 2  # type: ignore[misc]


def test_a_listed_message_has_the_message_columns_and_the_session_count() -> None:
    assert records.MessageRecord._fields == (*records.MessageValues._fields, "messages_in_session")
