"""The ledger is append-only in the ORM and in the database, on every engine."""

import re

import pytest
from django.core.checks import run_checks
from django.db import DatabaseError, connection, transaction

from ledger.exceptions import LedgerImmutableError
from ledger.guard import APPEND_ONLY_MESSAGE, LEDGER_TABLES, missing_triggers
from ledger.models import LEDGER_IMMUTABLE, Event, EventEntityAxisDelta, EventMetadata
from ledger.services import apply_event
from tests.conftest import table_state
from tests.factories import CharacterFactory
from tests.guard import ledger_maintenance

pytestmark = pytest.mark.usefixtures("synced")

RAW_STATEMENTS = {
    "event": ["UPDATE event SET timestamp = timestamp", "DELETE FROM event"],
    "event_entity_axis_delta": [
        "UPDATE event_entity_axis_delta SET new_score = 1.0",
        "DELETE FROM event_entity_axis_delta",
    ],
    "event_metadata": [
        "UPDATE event_metadata SET value = 'forged'",
        "DELETE FROM event_metadata",
    ],
}


@pytest.fixture
def ledger_rows():
    hero = CharacterFactory()
    apply_event(
        world_id="alpha",
        event_type="loot",
        deltas={hero.pk: {"wealth": 0.1}},
        metadata={"source": "chest"},
    )
    return hero


def refusal(operation: str, table: str) -> str:
    """The guard's message for ``operation`` on ``table``; the same on both engines."""
    return f"{APPEND_ONLY_MESSAGE}: {operation} on {table} is refused"


def run_refused(sql):
    # A savepoint, so that the refused statement does not poison the test transaction.
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    return str(excinfo.value)


@pytest.mark.parametrize(
    "table, sql",
    [(table, sql) for table, statements in RAW_STATEMENTS.items() for sql in statements],
)
def test_raw_sql_update_and_delete_on_the_ledger_are_refused(ledger_rows, table, sql):
    before = table_state()

    message = run_refused(sql)

    # PostgreSQL appends the trigger's CONTEXT lines to the message; SQLite does not.
    assert refusal(sql.split()[0], table) in message
    assert table_state() == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed rows: no deferred FK checks pending
@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_truncate_of_a_ledger_table_is_refused_on_postgresql(ledger_rows, table):
    before = table_state()

    message = run_refused(f"TRUNCATE {table} CASCADE")

    assert refusal("TRUNCATE", table) in message
    assert table_state() == before


@pytest.mark.parametrize("model", [Event, EventEntityAxisDelta, EventMetadata])
def test_the_orm_refuses_to_change_or_remove_ledger_rows(ledger_rows, model):
    before = table_state()
    row = model.objects.first()

    def refused(operation):
        message = LEDGER_IMMUTABLE.format(operation=operation, model=model.__name__)
        return pytest.raises(LedgerImmutableError, match=re.escape(message))

    with refused("save() of a stored row"):
        row.save()
    with refused("delete()"):
        row.delete()
    with refused("update()"):
        model.objects.filter(pk=row.pk).update(pk=row.pk)
    with refused("delete()"):
        model.objects.all().delete()
    with refused("bulk_update()"):
        model.objects.bulk_update([row], ["pk"])

    assert table_state() == before


def test_maintenance_restores_the_guard_when_it_ends(ledger_rows):
    with ledger_maintenance():
        assert len(missing_triggers()) == len(LEDGER_TABLES) * 2
    assert missing_triggers() == []
    assert refusal("DELETE", "event_metadata") in run_refused("DELETE FROM event_metadata")


def test_maintenance_restores_the_guard_when_its_body_fails(ledger_rows):
    before = table_state()
    with pytest.raises(RuntimeError, match="abort the maintenance"), ledger_maintenance():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM event_metadata")
        raise RuntimeError("abort the maintenance")

    assert missing_triggers() == []
    assert table_state() == before


def test_system_check_fails_when_a_trigger_is_missing(ledger_rows):
    assert [m.id for m in run_checks(databases=["default"]) if m.id == "ledger.E001"] == []
    name = (
        "event_metadata_no_delete"
        if connection.vendor == "sqlite"
        else "event_metadata_no_truncate"
    )
    suffix = " ON event_metadata" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {name}{suffix}")

    assert [m.id for m in run_checks() if m.id == "ledger.E001"] == []  # no database asked
    errors = [m for m in run_checks(databases=["default"]) if m.id == "ledger.E001"]

    assert [error.msg for error in errors] == [
        "the ledger's append-only triggers are missing or disabled in database 'default': " + name
    ]


@pytest.mark.django_db(transaction=True)
def test_the_flush_between_transactional_tests_leaves_the_guard_in_place(ledger_rows):
    """Runs with real commits; the flush after it must not leave the triggers lifted."""
    assert missing_triggers() == []


@pytest.mark.django_db(transaction=True)
def test_guard_is_in_place_after_a_previous_transactional_flush(ledger_rows):
    assert missing_triggers() == []
    assert refusal("DELETE", "event") in run_refused("DELETE FROM event")
