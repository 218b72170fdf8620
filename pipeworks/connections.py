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
"""

import select
import time

from django.core.signals import request_finished, request_started
from django.db import connections
from psycopg.pq import TransactionStatus

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


def connect() -> None:
    request_started.connect(check_idle_connections, dispatch_uid="pipeworks.connections.check")
    request_finished.connect(note_used_connections, dispatch_uid="pipeworks.connections.used")
