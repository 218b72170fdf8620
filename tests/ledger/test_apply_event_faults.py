"""A database failure at any step of apply_event leaves every table as it was."""

import pytest
from django.db import OperationalError

from ledger import services, statements
from ledger.exceptions import LedgerError
from ledger.models import EventEntityAxisDelta, EventMetadata, EventType
from ledger.services import apply_event, state
from tests.conftest import table_state
from worlds.models import Character

pytestmark = pytest.mark.usefixtures("synced")


def fail(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


FAULTS = {
    # step -> (module, function, which call fails: None for every call)
    "after the event insert": (statements, "insert_rows", EventEntityAxisDelta),
    "after the deltas": (statements, "insert_rows", EventMetadata),
    "after the score update": (state, "write_snapshots", None),
    "during the snapshot refresh": (statements, "update_rows", Character),
}


def failing(original, first_argument):
    """Wrap ``original`` so that the call whose first argument matches raises."""

    def wrapper(*args, **kwargs):
        if first_argument is None or args[0] == first_argument:
            fail()
        return original(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("step", FAULTS)
def test_a_failure_at_any_step_leaves_every_table_as_before(hero, monkeypatch, step):
    before = table_state()
    module, name, first_argument = FAULTS[step]
    monkeypatch.setattr(module, name, failing(getattr(module, name), first_argument))

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
