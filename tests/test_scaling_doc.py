"""docs/scaling.md's list of keys stays true to the migrated schema.

The partitioning and Citus plans ("Every key of the world-scoped tables") list every
primary key, unique constraint or unique index and foreign key of the product's tables,
each with what it would become. This test reads the same from PostgreSQL's catalog
(``pg_constraint``, and ``pg_index`` for the conditional unique indexes Django creates
for conditional ``UniqueConstraint``) on the migrated test database: a migration that
adds, drops or changes one fails here until the plan says what happens to it.
"""

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

DOC = Path(settings.BASE_DIR) / "docs" / "scaling.md"
MARKER = "<!-- keys: checked against pg_constraint by tests/test_scaling_doc.py -->"
PROJECT_APPS = ("worlds", "axes", "ledger", "access")
ROW = re.compile(r"^\| `(?P<table>\w+)` \| `(?P<key>[^`]+)` \|")


def product_tables() -> set[str]:
    return {
        model._meta.db_table
        for label in PROJECT_APPS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    }


def documented_keys() -> set[tuple[str, str]]:
    """The (table, key) pairs of the table that follows the marker in docs/scaling.md."""
    text = DOC.read_text(encoding="utf-8")
    assert MARKER in text, f"{DOC.name} lost its list of keys (the marker {MARKER!r})"
    section = text.split(MARKER, 1)[1].split("\n#", 1)[0]
    rows = [ROW.match(line) for line in section.splitlines() if line.startswith("| `")]
    assert all(rows), "a row of the list of keys is not | `table` | `key` | ..."
    return {(row["table"], row["key"]) for row in rows}


def catalog_keys(tables: set[str]) -> set[tuple[str, str]]:
    """Every PK, UNIQUE and FK constraint of ``tables``, and their other unique indexes.

    Written as ``pg_get_constraintdef`` writes them, without Django's ``DEFERRABLE
    INITIALLY DEFERRED``; a unique index that backs no constraint as
    ``UNIQUE (columns) WHERE (predicate)``.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype IN ('p', 'u', 'f') AND conrelid::regclass::text = ANY(%s)",
            [sorted(tables)],
        )
        keys = {
            (table, definition.removesuffix(" DEFERRABLE INITIALLY DEFERRED"))
            for table, definition in cursor.fetchall()
        }
        cursor.execute(
            "SELECT indrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
            "WHERE indisunique AND indrelid::regclass::text = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [sorted(tables)],
        )
        for table, definition in cursor.fetchall():
            keys.add((table, "UNIQUE " + definition.split(" USING btree ", 1)[1]))
    return keys


def test_the_list_of_keys_is_the_schemas():
    tables = product_tables()
    documented, catalog = documented_keys(), catalog_keys(tables)
    assert sorted(catalog - documented) == [], "keys in the schema that the plan does not list"
    assert sorted(documented - catalog) == [], "keys the plan lists that the schema lacks"


def test_no_other_table_refers_to_the_world_scoped_tables():
    """Only the listed tables hold foreign keys into them, so the list is the whole story."""
    tables = product_tables()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid::regclass::text = ANY(%s) "
            "AND NOT conrelid::regclass::text = ANY(%s)",
            [sorted(tables), sorted(tables)],
        )
        assert cursor.fetchall() == []
