"""Probes for load balancers and orchestrators: ``/healthz`` (liveness), ``/readyz`` (readiness).

Both answer without authentication, so both reveal nothing but what a probe needs:
``/healthz`` only that the process answers (it touches nothing else, so a database outage
does not get healthy processes restarted); ``/readyz`` whether the database answers, every
migration is applied and every world's registry is in sync with its policy files, each as
a boolean, with 503 (and ``Retry-After``) unless all three hold. No world names, versions
or errors: those are for staff (``manage.py check``, the admin). They live in ``worlds``
because readiness is about the worlds' registries.
"""

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from pipeworks.replicas import read_from_primary
from worlds.selectors import (
    SyncState,
    get_registry_hashes,
    list_policy_reports,
    registry_sync_state,
)

RETRY_AFTER_SECONDS = 5

# Migrations are never unapplied under a running server: once found applied, it stays so.
_migrated = False


@never_cache
@require_safe
def healthz(request):
    """The process answers."""
    return JsonResponse({"status": "ok"})


@read_from_primary  # readiness is the primary's: it takes the writes
@never_cache
@require_safe
def readyz(request):
    """The database answers, migrations are applied, registries match their files."""
    checks = {"database": _database_answers()}
    checks["migrations"] = checks["database"] and _migrations_applied()
    checks["policies"] = checks["migrations"] and _registries_in_sync()
    ready = all(checks.values())
    response = JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )
    if not ready:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _migrations_applied() -> bool:
    global _migrated
    if not _migrated:
        try:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError:
            return False
        _migrated = not plan
    return _migrated


def _registries_in_sync() -> bool:
    hashes = get_registry_hashes()
    if hashes is None:
        return False
    return all(
        registry_sync_state(report, hashes.get(report.world_id)) == SyncState.IN_SYNC
        for report in list_policy_reports()
    )
