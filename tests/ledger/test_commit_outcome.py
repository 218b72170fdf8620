"""A failure at COMMIT is told apart from one before it, for Python callers of the ledger.

Before the COMMIT the transaction rolls back: ``LedgerError`` ``database_error``, nothing
written. A connection lost during the COMMIT on PostgreSQL: ``OutcomeUnknown``, whether
or not the server committed, and the message says how to retry. The server retries a
lost connection itself once, only for a write whose every event carries an idempotency
key (exactly once) and only outside a caller's transaction; never a write without a key.
On SQLite (no connection to lose) a failed COMMIT has not committed, and nothing retries.
"""

import psycopg
import pytest
from django.db import DatabaseError, InternalError, OperationalError, connection

from ledger.exceptions import LedgerError
from ledger.models import Event
from ledger.services import apply_event, apply_events, reverse_event
from ledger.services.events import (
    APPLY_EVENT_DATABASE_ERROR,
    APPLY_EVENT_RETRY_KEYED,
    APPLY_EVENT_RETRY_UNKEYED,
    WRITE_RETRIED,
)
from pipeworks.transactions import OutcomeUnknown, atomic_commit, rolled_back_for_sure
from tests.conftest import table_state
from tests.faults import failing_commit, serialization_failure

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("synced")]


def apply(hero, **kwargs):
    return apply_event(
        world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.1}}, **kwargs
    )


@pytest.mark.postgres
@pytest.mark.parametrize("reaches_server", [True, False], ids=["committed", "not committed"])
def test_a_connection_lost_during_commit_is_outcome_unknown(hero, reaches_server):
    before = Event.objects.count()

    # times=2: the server's own retry of the keyed write is lost at its COMMIT too.
    with (
        failing_commit(reaches_server=reaches_server, times=2) as fault,
        pytest.raises(OutcomeUnknown) as excinfo,
    ):
        apply(hero, idempotency_key="k-1")

    assert not isinstance(excinfo.value, DatabaseError | LedgerError)
    assert excinfo.value.code == "outcome_unknown"
    assert "may or may not have been saved" in excinfo.value.message
    assert excinfo.value.message.endswith(APPLY_EVENT_RETRY_KEYED)
    assert fault.commits == 2, "the server retried the keyed write other than once"
    # Either outcome is possible; the retry with the same key settles it exactly once.
    assert Event.objects.count() == before + (1 if reaches_server else 0)
    retry = apply(hero, idempotency_key="k-1")
    assert retry.replayed is reaches_server
    assert Event.objects.filter(idempotency_key="k-1").count() == 1


@pytest.mark.postgres
@pytest.mark.parametrize("reaches_server", [True, False], ids=["committed", "not committed"])
def test_a_keyed_write_lost_at_commit_is_retried_once_by_the_server_exactly_once(
    hero, reaches_server, caplog
):
    before = Event.objects.count()

    with failing_commit(reaches_server=reaches_server) as fault:
        event = apply(hero, idempotency_key="k-4")

    assert fault.commits == 2
    # The first COMMIT landed: the retry found the event and answers as its replay.
    assert event.replayed is reaches_server
    assert Event.objects.count() == before + 1
    assert Event.objects.filter(idempotency_key="k-4").get().pk == event.pk
    assert WRITE_RETRIED.split(" (")[0] in caplog.text and "k-4" in caplog.text


@pytest.mark.postgres
def test_a_keyed_write_whose_connection_is_lost_before_commit_is_retried(hero):
    failures = []

    def lost_once(execute, sql, params, many, context):
        if "INSERT INTO event (" in sql and not failures:
            failures.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(lost_once):
        event = apply(hero, idempotency_key="k-5")

    assert len(failures) == 1
    assert event.replayed is False
    assert Event.objects.filter(idempotency_key="k-5").count() == 1


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("server_error", "retried"),
    [
        (psycopg.errors.AdminShutdown, True),  # 57P01: the server went away
        (psycopg.errors.ConnectionFailure, True),  # 08006
        (psycopg.errors.QueryCanceled, False),  # 57014: a statement timeout, the server is there
    ],
)
def test_only_a_lost_connection_is_retried_not_a_cancelled_statement(hero, server_error, retried):
    inserts = []

    def fails_once(execute, sql, params, many, context):
        if "INSERT INTO event (" in sql:
            inserts.append(sql)
            if len(inserts) == 1:
                raise OperationalError(server_error.__name__) from server_error()
        return execute(sql, params, many, context)

    apply(hero)  # the event type exists: one INSERT per attempt
    key = f"k-{server_error.__name__}"
    with connection.execute_wrapper(fails_once):
        if retried:
            apply(hero, idempotency_key=key)
        else:
            with pytest.raises(LedgerError) as excinfo:
                apply(hero, idempotency_key=key)
            assert excinfo.value.code == "database_error"

    assert len(inserts) == (2 if retried else 1)
    assert Event.objects.filter(idempotency_key=key).count() == (1 if retried else 0)


@pytest.mark.postgres
def test_a_retry_that_fails_otherwise_keeps_the_first_unknown_outcome(hero):
    """After a COMMIT of unknown outcome, any failure of the retry leaves it unknown
    (here the new connection lands on a read-only node: not a ``LedgerError``)."""
    apply(hero)  # the event type exists: one INSERT per attempt
    inserts = []

    def read_only_on_retry(execute, sql, params, many, context):
        if "INSERT INTO event (" in sql:
            inserts.append(sql)
            if len(inserts) == 2:
                raise InternalError("read-only") from psycopg.errors.ReadOnlySqlTransaction()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(read_only_on_retry):
        with failing_commit(reaches_server=False), pytest.raises(OutcomeUnknown) as excinfo:
            apply(hero, idempotency_key="k-read-only")

    assert len(inserts) == 2
    assert isinstance(excinfo.value.__cause__, InternalError)
    assert APPLY_EVENT_RETRY_KEYED in str(excinfo.value)
    assert not Event.objects.filter(idempotency_key="k-read-only").exists()


@pytest.mark.postgres
def test_a_deadlock_or_a_disabled_retry_is_not_retried(hero, settings):
    with failing_commit(reaches_server=False, error=serialization_failure()) as fault:
        with pytest.raises(LedgerError):
            apply(hero, idempotency_key="k-6")
    assert fault.commits == 1

    settings.PIPEWORKS_WRITE_RETRY_DELAY = -1
    with failing_commit(reaches_server=False) as fault, pytest.raises(OutcomeUnknown):
        apply(hero, idempotency_key="k-7")
    assert fault.commits == 1
    assert not Event.objects.filter(idempotency_key__in=["k-6", "k-7"]).exists()


@pytest.mark.postgres
def test_without_a_key_the_unknown_outcome_says_a_retry_may_apply_twice(hero):
    with failing_commit(reaches_server=True) as fault, pytest.raises(OutcomeUnknown) as excinfo:
        apply(hero)

    assert excinfo.value.message.endswith(APPLY_EVENT_RETRY_UNKEYED)
    assert fault.commits == 1
    # Written once: the server did not retry a write that carries no key.
    assert Event.objects.filter(event_type__name="loot").count() == 1


@pytest.mark.postgres
def test_a_commit_the_server_refused_is_a_rollback_not_an_unknown(hero):
    before = table_state()

    with failing_commit(reaches_server=False, error=serialization_failure()):
        with pytest.raises(LedgerError) as excinfo:
            apply(hero, idempotency_key="k-2")

    assert excinfo.value.code == "database_error"
    assert table_state() == before


@pytest.mark.sqlite
def test_on_sqlite_a_failed_commit_has_not_committed(hero):
    before = table_state()

    with failing_commit(reaches_server=False) as fault, pytest.raises(LedgerError) as excinfo:
        apply(hero, idempotency_key="k-3")

    assert excinfo.value.code == "database_error"
    assert str(excinfo.value) == APPLY_EVENT_DATABASE_ERROR.format(error="OperationalError")
    assert fault.commits == 1
    assert table_state() == before


@pytest.mark.postgres
def test_batches_and_reversals_tell_the_unknown_outcome_too(hero):
    loot = apply(hero)
    events = [{"event_type": "tick", "deltas": {hero.pk: {"wealth": 0.01}}}]

    with failing_commit(reaches_server=True), pytest.raises(OutcomeUnknown) as batch:
        apply_events(world_id="alpha", events=events)
    # Keyed: the server retries it once; times=2 loses that retry too.
    with failing_commit(reaches_server=False, times=2), pytest.raises(OutcomeUnknown) as reversal:
        reverse_event(event_id=loot.pk, reason="mistake", idempotency_key="undo-1")

    assert batch.value.message.endswith(APPLY_EVENT_RETRY_UNKEYED)
    assert reversal.value.message.endswith(APPLY_EVENT_RETRY_KEYED)
    assert (
        reverse_event(event_id=loot.pk, reason="mistake", idempotency_key="undo-1").replayed
        is False
    )


@pytest.mark.parametrize("key", [None, "k-8"], ids=["unkeyed", "keyed"])
def test_inside_a_callers_transaction_the_commit_is_the_callers(hero, key):
    # Nested, apply_event's block is a savepoint: the caller's COMMIT is the one that
    # can fail, and the caller's atomic_commit classifies it. Nothing retries, keyed or
    # not: the caller's earlier work would be lost with the connection.
    expected = OutcomeUnknown if connection.vendor == "postgresql" else DatabaseError
    with failing_commit(reaches_server=False) as fault, pytest.raises(expected):
        with atomic_commit():
            apply(hero, idempotency_key=key)
            commits_inside = fault.commits

    assert commits_inside == 0
    assert fault.commits == 1
    assert not Event.objects.filter(event_type__name="loot").exists()


class _Driver(Exception):
    def __init__(self, sqlstate):
        super().__init__("x")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("vendor", "sqlstate", "certain"),
    [
        ("sqlite", None, True),
        ("postgresql", "23505", True),  # a deferred constraint refused the COMMIT
        ("postgresql", "40001", True),  # serialization failure
        ("postgresql", "40P01", True),  # deadlock
        ("postgresql", None, False),  # no answer: a lost connection
        ("postgresql", "08006", False),  # connection failure
        ("postgresql", "57P02", False),  # crash shutdown: may follow a flushed commit
        ("postgresql", "57P01", False),  # admin shutdown
        ("mysql", "23000", False),  # a backend the project does not know
    ],
)
def test_which_commit_failures_are_certainly_rolled_back(vendor, sqlstate, certain):
    error = DatabaseError("commit failed")
    error.__cause__ = _Driver(sqlstate)

    assert rolled_back_for_sure(error, vendor) is certain
