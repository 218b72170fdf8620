"""A persistent PostgreSQL connection's health check without a round trip, per request.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` on a reused connection before a
request's first query, so that a connection the server ended (a restart,
``pg_terminate_backend``, PgBouncer restarting or closing an idle client) is replaced
before the request uses it. That is one more round trip on every request, paid in the
worker's and the server's CPU: a tenth of an API write's time.

A server that ends a connection says so on its socket first: an error message (``FATAL:
terminating connection``), then the end of the stream. Between requests a healthy idle
connection has nothing to read. So at the start of each request, a connection whose
socket has nothing to read is marked checked, and Django skips its ``SELECT 1``; one with
anything to read (or any doubt) is left to Django's check, which replaces it if it
fails. A peer that vanished without a word (a host power loss, a dropped route) is missed
by both checks alike until TCP gives up.
"""

import select

from django.core.signals import request_started
from django.db import connections
from psycopg.pq import TransactionStatus


def check_idle_connections(**kwargs) -> None:
    """Mark each idle PostgreSQL connection with a quiet socket as health-checked.

    Runs on ``request_started``, after Django's own receiver has reset the check flag.
    """
    for connection in connections.all(initialized_only=True):
        if (
            connection.vendor == "postgresql"
            and connection.health_check_enabled
            and not connection.health_check_done
            and connection.connection is not None
            and _quiet(connection.connection)
        ):
            connection.health_check_done = True


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
    request_started.connect(check_idle_connections, dispatch_uid="pipeworks.connections")
