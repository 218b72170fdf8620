"""System check: the append-only triggers must be in the database."""

from django.core.checks import Error, Tags, register
from django.db import DatabaseError, connections
from django.db.migrations.recorder import MigrationRecorder

from ledger.guard import missing_triggers

GUARD_MIGRATION = ("ledger", "0002_append_only_triggers")


@register(Tags.database)
def check_append_only_guard(app_configs, databases=None, **kwargs):
    """Fail when the guard's migration ran but its triggers are gone or disabled.

    A database check, as Django's own: it runs when a database is asked for
    (``check --database default``, ``migrate``, the test runner), not on a plain
    ``check``. Before that migration has run (a new database) there is nothing to check
    yet, and ``migrate`` must still be able to run.
    """
    messages = []
    for alias in databases or []:
        try:
            applied = MigrationRecorder(connections[alias]).applied_migrations()
            if GUARD_MIGRATION not in applied:
                continue
            missing = missing_triggers(alias)
        except DatabaseError:
            continue
        if missing:
            messages.append(
                Error(
                    f"the ledger's append-only triggers are missing or disabled in database "
                    f"{alias!r}: {', '.join(missing)}",
                    hint="Re-create them: `manage.py migrate ledger 0001 && manage.py migrate "
                    "ledger` (this touches no ledger row).",
                    id="ledger.E001",
                )
            )
    return messages
