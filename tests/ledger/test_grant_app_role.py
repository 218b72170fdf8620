"""`manage.py grant_app_role`: the statements it prints and what it refuses.

On the suite's own database it only prints, or refuses before changing anything: roles
are cluster-wide, so granting to a real role is proven on a private cluster
(``tests/test_pg_app_role.py``).
"""

import io
import re

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from ledger.guard import LEDGER_TABLES
from ledger.privileges import (
    GRANT_APP_ROLE_BAD_NAME,
    GRANT_APP_ROLE_NOT_MIGRATED,
    GRANT_APP_ROLE_POSTGRESQL_ONLY,
    GRANT_APP_ROLE_UNKNOWN_ROLE,
    LEDGER_PRIVILEGES,
    TABLE_PRIVILEGES,
    product_tables,
)


def grant(*args) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("grant_app_role", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_the_ledger_tables_get_select_and_insert_and_every_other_model_table_dml():
    tables = product_tables()

    assert {table: tables[table] for table in LEDGER_TABLES} == dict.fromkeys(
        LEDGER_TABLES, LEDGER_PRIVILEGES
    )
    assert LEDGER_PRIVILEGES == ("SELECT", "INSERT")
    # The ledger's row locks (SELECT ... FOR NO KEY UPDATE) need UPDATE on these.
    assert tables["characters"] == tables["character_axis_score"] == TABLE_PRIVILEGES
    assert tables["pipeworks_cache"] == TABLE_PRIVILEGES  # the settings' database cache
    assert tables["django_migrations"] == ("SELECT",)
    models = {model._meta.db_table for model in apps.get_models(include_auto_created=True)}
    assert models <= set(tables)
    assert {table for table, privileges in tables.items() if "UPDATE" not in privileges} == {
        *LEDGER_TABLES,
        "django_migrations",
    }


@pytest.mark.sqlite
@pytest.mark.django_db
def test_grant_app_role_is_postgresql_only():
    with pytest.raises(CommandError, match=re.escape("for PostgreSQL only")) as refused:
        grant("app", "--execute")

    assert str(refused.value) == GRANT_APP_ROLE_POSTGRESQL_ONLY.format(vendor="sqlite")


@pytest.mark.postgres
@pytest.mark.django_db
def test_grant_app_role_prints_a_transaction_of_grants_without_running_it():
    stdout, _ = grant("app")

    statements = [line for line in stdout.splitlines() if not line.startswith("--")]
    assert statements[0] == "BEGIN;" and statements[-1] == "COMMIT;"
    for table in LEDGER_TABLES:
        assert f'REVOKE ALL ON TABLE "{table}" FROM "app";' in statements
        assert f'GRANT SELECT, INSERT ON TABLE "{table}" TO "app";' in statements
        assert f'GRANT USAGE ON SEQUENCE "{table}_id_seq" TO "app";' in statements
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "characters" TO "app";' in statements
    assert 'GRANT SELECT ON TABLE "django_migrations" TO "app";' in statements
    granted = [line for line in statements if line.startswith("GRANT") and " TABLE " in line]
    assert len(granted) == len(product_tables())
    # The role does not exist on this server: printed as a warning, nothing was run.
    assert f"-- WARNING: {GRANT_APP_ROLE_UNKNOWN_ROLE.format(role='app')}" in stdout
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'app'")
        assert cursor.fetchone() == (0,)


@pytest.mark.postgres
@pytest.mark.django_db
def test_grant_app_role_reports_tables_that_are_not_the_products():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE stray_table (id int)")

    stdout, stderr = grant("app")

    assert "left alone (not a table of the product): stray_table" in stderr
    assert "stray_table" not in stdout


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "message"),
    [
        ("app; DROP TABLE event", GRANT_APP_ROLE_BAD_NAME.format(role="app; DROP TABLE event")),
        ("9app", GRANT_APP_ROLE_BAD_NAME.format(role="9app")),
        ("no_such_role_here", GRANT_APP_ROLE_UNKNOWN_ROLE.format(role="no_such_role_here")),
    ],
    ids=["injection", "leading digit", "unknown role"],
)
def test_grant_app_role_refuses_and_changes_nothing(role, message):
    with pytest.raises(CommandError) as refused:
        grant(role, "--execute")

    assert str(refused.value) == message


@pytest.mark.postgres
@pytest.mark.django_db
def test_grant_app_role_refuses_the_role_running_it():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (current,) = cursor.fetchone()

    with pytest.raises(CommandError, match=re.escape(f'role "{current}" is the role running')):
        grant(current, "--execute")


@pytest.mark.postgres
@pytest.mark.django_db
def test_grant_app_role_before_migrate_names_the_missing_table(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "not_created_cache",
        }
    }

    with pytest.raises(CommandError) as refused:
        grant("app")

    assert str(refused.value) == GRANT_APP_ROLE_NOT_MIGRATED.format(table="not_created_cache")
