"""Test-suite plumbing: lift the ledger's append-only guard for one transaction.

Django empties every table after a ``transaction=True`` test, and the guard's triggers
refuse that. The product has no such escape hatch; this one lives with the tests.
"""

from contextlib import contextmanager

from django.db import connections, transaction

from ledger.guard import LEDGER_TABLES, install_sql, uninstall_sql


@contextmanager
def ledger_maintenance(using: str = "default"):
    """Lift the append-only guard for the body of one transaction, then restore it.

    The guard is back before the transaction commits (DDL is transactional on both
    engines, so no other connection ever sees the ledger unguarded), and a rollback
    restores it too.
    """
    connection = connections[using]
    with transaction.atomic(using=using):
        _set_guard(connection, enabled=False)
        yield
        _set_guard(connection, enabled=True)


def _set_guard(connection, *, enabled: bool) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses while deferred foreign-key checks are pending: run them
            # now, then defer again for the rest of the transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            action = "ENABLE" if enabled else "DISABLE"
            for table in LEDGER_TABLES:
                cursor.execute(f"ALTER TABLE {table} {action} TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            # SQLite cannot disable a trigger; dropping and re-creating it inside the
            # transaction is just as invisible to other connections.
            sql = install_sql if enabled else uninstall_sql
            for statement in sql(connection.vendor):
                cursor.execute(statement)
