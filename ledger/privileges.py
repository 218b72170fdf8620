"""The privileges of a PostgreSQL application role that owns nothing.

A table's owner may do anything to it, ``ALTER TABLE ... DISABLE TRIGGER`` included, so
an application connected as the role that ran the migrations could switch the ledger's
append-only guard (``ledger/guard.py``) off. The remedy is two roles: the owner runs
``migrate``; the server connects as an application role holding only what the product
needs, granted by ``manage.py grant_app_role``:

- on the ledger tables (``LEDGER_TABLES``): SELECT and INSERT, nothing else;
- on every other table of an installed model (so new apps and models are covered without
  a change here) and on the database cache's tables: SELECT, INSERT, UPDATE, DELETE. The
  ledger locks character and score rows (``SELECT ... FOR NO KEY UPDATE``), which needs
  UPDATE on those tables, and those only;
- ``django_migrations``: SELECT (``runserver`` and ``migrate --check`` read it);
- USAGE on the sequences of the tables it may insert into, and on the schema.

Each table's privileges are revoked first, so the result is exactly this list whatever
was granted before. Tables of the schema that are none of these (a leftover of an old
version, a table of another program) get nothing and are reported.
"""

import re
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import connections

from ledger.guard import LEDGER_TABLES
from pipeworks.transactions import atomic_commit

LEDGER_PRIVILEGES = ("SELECT", "INSERT")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
MIGRATIONS_TABLE = "django_migrations"
# Checked after granting: none may reach the role on a ledger table, not even through
# PUBLIC or a role it belongs to.
LEDGER_FORBIDDEN = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

GRANT_APP_ROLE_POSTGRESQL_ONLY = (
    "grant_app_role is for PostgreSQL only; this database is {vendor}, which has no roles"
)
GRANT_APP_ROLE_BAD_NAME = (
    "{role!r} is not a plain role name (letters, digits and _, not starting with a digit)"
)
GRANT_APP_ROLE_UNKNOWN_ROLE = (
    'role "{role}" does not exist: create it first (CREATE ROLE {role} LOGIN PASSWORD ...)'
)
GRANT_APP_ROLE_IS_CURRENT_USER = (
    'role "{role}" is the role running this command, which runs migrate and owns the '
    "tables; the application needs a role of its own"
)
GRANT_APP_ROLE_SUPERUSER = 'role "{role}" is a superuser: no privilege can be taken from it'
GRANT_APP_ROLE_OWNS = (
    'role "{role}" owns table {table}, or is a member of its owner {owner}: it could '
    "disable the ledger's triggers"
)
GRANT_APP_ROLE_STILL_MAY = (
    'role "{role}" may still {privilege} {table} (through PUBLIC or a role it is a member '
    "of); revoke that grant"
)
GRANT_APP_ROLE_NOT_MIGRATED = "table {table} does not exist: run migrate first"


class AppRoleError(Exception):
    """The role cannot be made an application role that owns nothing; nothing was changed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class AppRolePlan:
    """The statements that give ``role`` the product's privileges, and what they cover."""

    role: str
    privileges: dict[str, tuple[str, ...]]  # table -> privileges granted
    sequences: list[str]
    statements: list[str]
    unmanaged_tables: list[str] = field(default_factory=list)  # in the schema, left alone

    def summary(self) -> str:
        ledger = [table for table in self.privileges if table in LEDGER_TABLES]
        full = [t for t, p in self.privileges.items() if p == TABLE_PRIVILEGES]
        read = [t for t, p in self.privileges.items() if p == ("SELECT",)]
        return (
            f'role "{self.role}": {", ".join(LEDGER_PRIVILEGES)} only on the ledger tables '
            f"({', '.join(ledger)}); {', '.join(TABLE_PRIVILEGES)} on {len(full)} other "
            f"tables; SELECT on {', '.join(read)}; USAGE on {len(self.sequences)} sequences"
        )


def product_tables() -> dict[str, tuple[str, ...]]:
    """Return every table the product uses, with the privileges the application needs."""
    tables = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or not model._meta.managed:
            continue
        table = model._meta.db_table
        tables[table] = LEDGER_PRIVILEGES if table in LEDGER_TABLES else TABLE_PRIVILEGES
    for cache in settings.CACHES.values():
        if cache["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
            tables[cache["LOCATION"]] = TABLE_PRIVILEGES
    tables[MIGRATIONS_TABLE] = ("SELECT",)
    return dict(sorted(tables.items()))


def plan_app_role(*, role: str, using: str = "default") -> AppRolePlan:
    """Return the GRANT statements for ``role`` on the migrated database, without running them.

    Args:
        role: The application role; it must exist to be granted to (checked by
            ``check_app_role``), not to be planned for.
        using: The database alias, connected as the owner of the tables.

    Raises:
        AppRoleError: Not PostgreSQL, a role name that is not plain, or a product table
            missing from the database (not migrated).

    Returns:
        The plan: statements in order, the privileges per table, the tables left alone.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise AppRoleError([GRANT_APP_ROLE_POSTGRESQL_ONLY.format(vendor=connection.vendor)])
    if not ROLE_NAME.fullmatch(role):
        raise AppRoleError([GRANT_APP_ROLE_BAD_NAME.format(role=role)])
    quote = connection.ops.quote_name
    wanted = product_tables()
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        missing = [table for table in wanted if table not in existing]
        if missing:
            raise AppRoleError([GRANT_APP_ROLE_NOT_MIGRATED.format(table=t) for t in missing])
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
        sequences = {
            table: sorted(
                sequence["name"]
                for sequence in connection.introspection.get_sequences(cursor, table)
            )
            for table, privileges in wanted.items()
            if "INSERT" in privileges
        }
    grantee = quote(role)
    statements = [f"GRANT USAGE ON SCHEMA {quote(schema)} TO {grantee}"]
    for table, privileges in wanted.items():
        statements += [
            f"REVOKE ALL ON TABLE {quote(table)} FROM {grantee}",
            f"GRANT {', '.join(privileges)} ON TABLE {quote(table)} TO {grantee}",
        ]
        for sequence in sequences.get(table, []):
            statements += [
                f"REVOKE ALL ON SEQUENCE {quote(sequence)} FROM {grantee}",
                f"GRANT USAGE ON SEQUENCE {quote(sequence)} TO {grantee}",
            ]
    return AppRolePlan(
        role=role,
        privileges=wanted,
        sequences=[name for names in sequences.values() for name in names],
        statements=statements,
        unmanaged_tables=sorted(existing - set(wanted)),
    )


def check_app_role(*, role: str, using: str = "default") -> list[str]:
    """Return why ``role`` cannot be an application role that owns nothing (empty: it can).

    The role must exist, not be the connected role, not be a superuser, and neither own
    a product table nor be a member of a role that does.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = %s",
            [role],
        )
        row = cursor.fetchone()
        if row is None:
            return [GRANT_APP_ROLE_UNKNOWN_ROLE.format(role=role)]
        superuser, is_current = row
        if is_current:
            return [GRANT_APP_ROLE_IS_CURRENT_USER.format(role=role)]
        if superuser:
            return [GRANT_APP_ROLE_SUPERUSER.format(role=role)]
        cursor.execute(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
            "WHERE c.relname = ANY(%s) AND pg_table_is_visible(c.oid) "
            "AND pg_has_role(%s, c.relowner, 'MEMBER') ORDER BY c.relname",
            [list(product_tables()), role],
        )
        return [
            GRANT_APP_ROLE_OWNS.format(role=role, table=table, owner=owner)
            for table, owner in cursor.fetchall()
        ]


def _ledger_privileges_left(cursor, role: str) -> list[str]:
    cursor.execute(
        "SELECT t.name, p.privilege FROM unnest(%s::text[]) AS t(name), "
        "unnest(%s::text[]) AS p(privilege) "
        "WHERE has_table_privilege(%s, t.name, p.privilege) ORDER BY 1, 2",
        [list(LEDGER_TABLES), list(LEDGER_FORBIDDEN), role],
    )
    return [
        GRANT_APP_ROLE_STILL_MAY.format(role=role, privilege=privilege, table=table)
        for table, privilege in cursor.fetchall()
    ]


def grant_app_role(*, role: str, using: str = "default") -> AppRolePlan:
    """Give ``role`` exactly the product's privileges, in one transaction.

    Run it as the owner of the tables after every ``migrate`` (a new table gets its
    privileges then: no ``ALTER DEFAULT PRIVILEGES`` is relied on).

    Args:
        role: The existing application role (the server's ``DATABASE_URL`` user).
        using: The database alias, connected as the owner of the tables.

    Raises:
        AppRoleError: Any problem of ``plan_app_role`` or ``check_app_role``, or a ledger
            privilege beyond SELECT and INSERT still reaching the role afterwards (through
            PUBLIC or a role it belongs to); nothing is changed then.

    Returns:
        The plan that was carried out.
    """
    with atomic_commit(using=using):
        plan = plan_app_role(role=role, using=using)
        problems = check_app_role(role=role, using=using)
        if problems:
            raise AppRoleError(problems)
        with connections[using].cursor() as cursor:
            for statement in plan.statements:
                cursor.execute(statement)
            problems = _ledger_privileges_left(cursor, role)
        if problems:
            raise AppRoleError(problems)  # leaving the block rolls the grants back
    return plan
