"""A busy PostgreSQL connection's health check without a round trip, per request.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` on a reused connection before a
request's first query, so that a connection the server ended (a restart,
``pg_terminate_backend``, PgBouncer restarting or closing an idle client) is replaced
before the request uses it. That is one more round trip on every request, paid in the
worker's and the server's CPU.

A server that ends a connection says so on its socket: an error message (``FATAL:
terminating connection``), then the end of the stream. A peer that went away without a
word (a host rebooted, an address moved to another host after a failover, a NAT that
forgot the connection) says nothing until the client sends, and only ``SELECT 1`` finds
it. So at the start of a request, a connection that served a request less than
``QUIET_CHECK_SECONDS`` ago, is idle, and has nothing to read is marked checked, and
Django skips its ``SELECT 1``; any other (unused for longer, anything waiting on its
socket, any doubt) gets Django's check, which replaces it if it fails. Under load every
connection is busy, so the round trip goes; after a pause the first request still pays it.

Also here: a connection whose prepared statements went stale under a schema change
forgets them (``replan_stale_statements``).
"""

import select
import time

from django.core.signals import request_finished, request_started
from django.db import NotSupportedError, connections
from django.db.backends.signals import connection_created
from psycopg.pq import TransactionStatus

# PostgreSQL's answer to a prepared statement whose result columns changed type since it
# was prepared (another connection ran ALTER COLUMN ... TYPE): feature_not_supported.
STALE_PLAN_SQLSTATE = "0A000"
STALE_PLAN_MESSAGE = "cached plan must not change result type"

QUIET_CHECK_SECONDS = 5.0


def check_idle_connections(**kwargs) -> None:
    """Mark each recently used, idle PostgreSQL connection with a quiet socket as checked.

    Runs on ``request_started``, after Django's ``close_old_connections`` has reset the
    check (its receiver is connected when ``django.db`` is imported, before any app's).
    """
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        if (
            connection.vendor == "postgresql"
            and connection.health_check_enabled
            and not connection.health_check_done
            and connection.connection is not None
            and now - getattr(connection, "pipeworks_used_at", -QUIET_CHECK_SECONDS)
            < QUIET_CHECK_SECONDS
            and _quiet(connection.connection)
        ):
            connection.health_check_done = True


def note_used_connections(**kwargs) -> None:
    """Stamp each open connection with the end of the request it served."""
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            connection.pipeworks_used_at = now


def _quiet(raw) -> bool:
    """Whether a psycopg connection is idle, open, and has nothing waiting on its socket."""
    try:
        if raw.closed or raw.info.transaction_status != TransactionStatus.IDLE:
            return False
        poller = select.poll()
        poller.register(raw.fileno(), select.POLLIN)
        return not poller.poll(0)
    except Exception:  # noqa: BLE001 (any doubt: Django's own check decides)
        return False


def replan_stale_statements(execute, sql, params, many, context):
    """Run a statement again after its prepared plan went stale under a schema change.

    psycopg forgets what it prepared at a ROLLBACK or a DDL statement of its own
    connection, not at another connection's ``ALTER COLUMN ... TYPE``: until then the
    statement fails on every call with ``cached plan must not change result type``. In
    a transaction the failure stands (nothing is retried mid-transaction) and the
    rollback that follows makes psycopg forget. Outside one (autocommit: the reads of a
    request) nothing would, so the connection drops its prepared statements here
    (``DEALLOCATE ALL``, which psycopg sees and forgets its own) and runs the statement
    once more, unprepared.
    """
    try:
        return execute(sql, params, many, context)
    except NotSupportedError as exc:
        connection = context["connection"]
        stale = getattr(
            exc.__cause__, "sqlstate", None
        ) == STALE_PLAN_SQLSTATE and STALE_PLAN_MESSAGE in str(exc)
        if not stale or not connection.get_autocommit():
            raise
        connection.connection.execute("DEALLOCATE ALL")
        return execute(sql, params, many, context)


def install_replan(sender, connection, **kwargs) -> None:
    """Wrap the statements of each PostgreSQL connection that prepares any."""
    if (
        connection.vendor == "postgresql"
        and connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold") is not None
        and replan_stale_statements not in connection.execute_wrappers
    ):
        connection.execute_wrappers.insert(0, replan_stale_statements)


def connect() -> None:
    request_started.connect(check_idle_connections, dispatch_uid="pipeworks.connections.check")
    request_finished.connect(note_used_connections, dispatch_uid="pipeworks.connections.used")
    connection_created.connect(install_replan, dispatch_uid="pipeworks.connections.replan")
