"""REPLACE and upserts cannot rewrite a ledger row either.

SQLite's ``INSERT OR REPLACE`` / ``REPLACE INTO`` resolves a conflict by deleting the
old row, and fires DELETE triggers for that only under ``PRAGMA recursive_triggers``
(set in the settings' ``init_command``); without it a REPLACE rewrites a ledger row past
the append-only guard. PostgreSQL has no REPLACE: its cases are collected on SQLite only,
as the ``postgres`` marker's are on PostgreSQL only. An upsert (``ON CONFLICT DO
UPDATE``) exists on both engines and fires the UPDATE trigger on both.
"""

import sqlite3

import pytest
from django.conf import settings as django_settings
from django.db import DatabaseError, connection, transaction

from ledger.guard import LEDGER_TABLES
from ledger.services import apply_event
from tests.conftest import table_state
from tests.ledger.test_append_only import refusal

pytestmark = pytest.mark.usefixtures("synced")

ON_SQLITE = django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"

# The column each statement forges, and the forged value; the same as the UPDATEs of
# test_append_only, and within the tables' CHECK constraints.
FORGED = {
    "event": ("timestamp", "2000-01-01 00:00:00"),
    "event_entity_axis_delta": ("new_score", 1.0),
    "event_metadata": ("value", "forged"),
}

# Statement templates and the operation whose trigger refuses them.
REPLACES = {
    "insert or replace": ("INSERT OR REPLACE INTO {table} ({columns}) VALUES ({values})", "DELETE"),
    "replace into": ("REPLACE INTO {table} ({columns}) VALUES ({values})", "DELETE"),
}
UPSERT = (
    "INSERT INTO {table} ({columns}) VALUES ({values}) "
    "ON CONFLICT (id) DO UPDATE SET {column} = excluded.{column}",
    "UPDATE",
)
STATEMENTS = {**(REPLACES if ON_SQLITE else {}), "upsert": UPSERT}


@pytest.fixture
def ledger_rows(hero):
    apply_event(
        world_id="alpha",
        event_type="loot",
        deltas={hero.pk: {"wealth": 0.1}},
        metadata={"source": "chest"},
    )


def forging_statement(template: str, table: str) -> tuple[str, list]:
    """Return ``template`` filled to re-insert the table's first row with one column forged.

    The columns are read from the database, so the statement stays complete whatever
    columns the table gains.
    """
    column, forged = FORGED[table]
    with connection.cursor() as cursor:
        columns = [
            info.name for info in connection.introspection.get_table_description(cursor, table)
        ]
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id LIMIT 1")  # noqa: S608
        row = dict(zip(columns, cursor.fetchone(), strict=True))
    row[column] = forged
    sql = template.format(
        table=table,
        columns=", ".join(columns),
        values=", ".join(["%s"] * len(columns)),
        column=column,
    )
    return sql, list(row.values())


def run_refused(sql: str, params: list) -> str:
    # A savepoint, so that the refused statement does not poison the test transaction.
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    return str(excinfo.value)


def rewritten_on_a_copy_without_the_pragma(sql: str, params: list, table: str) -> object:
    """Run ``sql`` on an in-memory copy of the database opened without the pragma.

    Return the forged column of the table's first row afterwards.
    """
    column, _ = FORGED[table]
    copy = sqlite3.connect(":memory:")
    try:
        # A dump, not Connection.backup(): the backup waits for the test's open
        # transaction to end, while the dump reads through it.
        copy.executescript("\n".join(connection.connection.iterdump()))
        assert copy.execute("PRAGMA recursive_triggers").fetchone() == (0,)
        copy.execute(sql.replace("%s", "?"), params)
        query = f"SELECT {column} FROM {table} ORDER BY id LIMIT 1"  # noqa: S608
        return copy.execute(query).fetchone()[0]
    finally:
        copy.close()


@pytest.mark.parametrize("table", LEDGER_TABLES)
@pytest.mark.parametrize("statement", STATEMENTS)
def test_rewriting_a_ledger_row_by_insert_is_refused(ledger_rows, table, statement):
    template, operation = STATEMENTS[statement]
    sql, params = forging_statement(template, table)
    before = table_state()

    message = run_refused(sql, params)

    assert refusal(operation, table) in message
    assert table_state() == before
    if statement in REPLACES:
        # The control: it is the pragma that refuses REPLACE; without it the row changes.
        assert rewritten_on_a_copy_without_the_pragma(sql, params, table) == FORGED[table][1]
