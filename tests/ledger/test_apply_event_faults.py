"""A database failure at any step of apply_event leaves every table as it was."""

import pytest
from django.db import OperationalError, connection

from ledger import services
from ledger.exceptions import LedgerError
from ledger.models import EventType
from ledger.services import apply_event
from tests.conftest import table_state

pytestmark = pytest.mark.usefixtures("synced")

# step -> a text of the statement that fails (on PostgreSQL the deltas and metadata are
# one statement, and so are the scores and snapshots: the step fails that statement)
FAULTS = {
    "after the event insert": "INSERT INTO event_entity_axis_delta",
    "after the deltas": "INSERT INTO event_metadata",
    "at the score update": "UPDATE character_axis_score",
    "after the score update": "UPDATE characters",
}


def failing_statement(text):
    """An execute wrapper failing every statement that contains ``text``, as a lost
    connection would."""

    def wrapper(execute, sql, params, many, context):
        if text in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    return wrapper


@pytest.mark.parametrize("step", FAULTS)
def test_a_failure_at_any_step_leaves_every_table_as_before(hero, step):
    before = table_state()

    with connection.execute_wrapper(failing_statement(FAULTS[step])):
        with pytest.raises(LedgerError) as excinfo:
            apply_event(
                world_id="alpha",
                event_type="brand_new_type",
                deltas={hero.pk: {"wealth": 0.1}},
                metadata={"a": "b"},
            )

    assert excinfo.value.code == "database_error"
    assert str(excinfo.value) == services.APPLY_EVENT_DATABASE_ERROR.format(
        error="OperationalError"
    )
    assert table_state() == before
    assert not EventType.objects.filter(name="brand_new_type").exists()
