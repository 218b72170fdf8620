"""The database-level guard that keeps the ledger append-only.

Triggers on ``event``, ``event_entity_axis_delta`` and ``event_metadata`` refuse every
UPDATE and DELETE (and TRUNCATE on PostgreSQL), whoever issues it: the ORM, raw SQL, a
database console. The migration ``ledger.0002_append_only_triggers`` installs them; a
system check fails when they are missing.

The product has no way around them. The test suite, whose table flush between
transactional tests must empty the ledger, lifts them for one transaction with its own
helper (``tests/guard.py``), built from ``install_sql`` and ``uninstall_sql`` here.
"""

from django.db import connections

LEDGER_TABLES = ("event", "event_entity_axis_delta", "event_metadata")
APPEND_ONLY_MESSAGE = "the ledger is append-only"
PG_FUNCTION = "ledger_append_only"

_PG_INSTALL = f"""
CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
"""


def trigger_names(table: str, vendor: str) -> list[str]:
    """Return the names of the guard's triggers on ``table``."""
    if vendor == "postgresql":
        return [f"{table}_append_only", f"{table}_no_truncate"]
    return [f"{table}_no_update", f"{table}_no_delete"]


def install_sql(vendor: str) -> list[str]:
    """Return the statements that install the guard on every ledger table."""
    if vendor == "postgresql":
        statements = [_PG_INSTALL]
        for table in LEDGER_TABLES:
            row, truncate = trigger_names(table, vendor)
            statements += [
                f"CREATE TRIGGER {row} BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
                f"CREATE TRIGGER {truncate} BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()",
            ]
        return statements
    if vendor == "sqlite":
        statements = []
        for table in LEDGER_TABLES:
            for name, operation in zip(
                trigger_names(table, vendor), ("UPDATE", "DELETE"), strict=True
            ):
                statements.append(
                    f"CREATE TRIGGER {name} BEFORE {operation} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: {operation} on {table} "
                    "is refused'); END"
                )
        return statements
    raise NotImplementedError(f"no append-only guard for {vendor}")


def uninstall_sql(vendor: str) -> list[str]:
    """Return the statements that remove the guard (the migration's reverse)."""
    statements = [
        f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if vendor == "postgresql" else "")
        for table in LEDGER_TABLES
        for name in trigger_names(table, vendor)
    ]
    if vendor == "postgresql":
        statements.append(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    return statements


def missing_triggers(using: str = "default") -> list[str]:
    """Return the guard triggers that are absent or disabled in the database."""
    connection = connections[using]
    vendor = connection.vendor
    expected = [name for table in LEDGER_TABLES for name in trigger_names(table, vendor)]
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D' "
                "AND tgrelid = ANY(%s::regclass[])",
                [list(LEDGER_TABLES)],
            )
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cursor.fetchall()}
    return [name for name in expected if name not in present]
