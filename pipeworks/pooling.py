"""System checks for a connection pooler in front of PostgreSQL (docs/scaling.md).

Behind PgBouncer in transaction pooling mode nothing may outlive a transaction; the
product keeps nothing past one there (``PIPEWORKS_PG_PREPARE_THRESHOLD`` is off by
default, server-side cursors only inside a transaction). Two configurations break that,
and the system checks warn:

- ``pipeworks.W004``: transaction pooling with psycopg's prepared statements turned on
  (``prepare_threshold`` in a database's ``OPTIONS``): PgBouncer before 1.22 sends a
  statement prepared on one server connection to another, which does not know it (1.22
  tracks them with ``max_prepared_statements``, and takes psycopg's ``DEALLOCATE ALL``);
- ``pipeworks.W005``: ``PIPEWORKS_PGBOUNCER`` unset while the server that answers is not
  the one ``DATABASE_URL`` names: the check compares the server's own port
  (``inet_server_port()``) with the URL's. They differ behind any pooler or proxy, so
  the warning asks which it is; setting ``PIPEWORKS_PGBOUNCER`` (``off`` for a proxy
  that keeps sessions) says it is known and silences the check, which then never
  connects for it. It is a database check: ``migrate`` and ``manage.py check
  --database default`` run it, other commands do not connect for it.
"""

import psycopg
from django.conf import settings
from django.core.checks import Tags, Warning, register
from psycopg.conninfo import make_conninfo

POSTGRESQL = "django.db.backends.postgresql"
PROBE_CONNECT_TIMEOUT = 2  # seconds; a server that takes longer is another check's concern

CHECK_PREPARED_BEHIND_POOLER = (
    "database {alias!r} prepares statements (OPTIONS prepare_threshold={threshold}) behind a "
    "PgBouncer in transaction pooling mode (PIPEWORKS_PGBOUNCER=transaction): PgBouncer "
    "before 1.22 runs them on server connections that never prepared them"
)
CHECK_UNDECLARED_POOLER = (
    "database {alias!r} is answered by a server on port {server_port}, not the port "
    "{url_port} its URL names: a pooler or proxy is in between"
)


@register()
def check_prepared_statements(app_configs, **kwargs):
    """Warn about prepared statements behind transaction pooling (no connection needed)."""
    if settings.PIPEWORKS_PGBOUNCER != "transaction":
        return []
    messages = []
    for alias, database in settings.DATABASES.items():
        threshold = database.get("OPTIONS", {}).get("prepare_threshold")
        if database["ENGINE"] == POSTGRESQL and threshold is not None:
            messages.append(
                Warning(
                    CHECK_PREPARED_BEHIND_POOLER.format(alias=alias, threshold=threshold),
                    hint="Set PIPEWORKS_PG_PREPARE_THRESHOLD=off (its default there) and drop "
                    "prepare_threshold from DATABASE_URL, or use PgBouncer 1.22+ with "
                    "max_prepared_statements.",
                    id="pipeworks.W004",
                )
            )
    return messages


@register(Tags.database)
def check_undeclared_pooler(app_configs, databases=None, **kwargs):
    """Warn when a database answers on another port than its URL's and nobody said why.

    A database check: Django runs it for ``migrate`` and ``check --database ALIAS`` only,
    so other commands never connect for it; the probe has its own connect timeout.
    """
    if settings.PIPEWORKS_PGBOUNCER != "":
        return []
    messages = []
    for alias in databases or []:
        database = settings.DATABASES[alias]
        if database["ENGINE"] != POSTGRESQL or not database.get("HOST"):
            continue
        if database["HOST"].startswith("/"):
            continue  # a unix socket: no port to compare
        server_port = _server_port(database)
        url_port = int(database.get("PORT") or 5432)
        if server_port is not None and server_port != url_port:
            messages.append(
                Warning(
                    CHECK_UNDECLARED_POOLER.format(
                        alias=alias, server_port=server_port, url_port=url_port
                    ),
                    hint="Say what it is: PIPEWORKS_PGBOUNCER=transaction for PgBouncer "
                    "in transaction pooling mode (prepared statements, on by default, are "
                    "then off: there they fail on other server connections), 'session' in "
                    "session mode, 'off' for a proxy that keeps sessions.",
                    id="pipeworks.W005",
                )
            )
    return messages


def _server_port(database: dict) -> int | None:
    """The port the answering server listens on; None if it cannot be asked within the
    timeout (no warning: ``migrate`` and the commands tell about a server that is down)."""
    conninfo = make_conninfo(
        host=database["HOST"],
        port=str(database.get("PORT") or 5432),
        dbname=database.get("NAME") or "postgres",
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        connect_timeout=str(PROBE_CONNECT_TIMEOUT),
    )
    try:
        with psycopg.connect(conninfo, autocommit=True) as probe:
            return probe.execute("SELECT inet_server_port()").fetchone()[0]
    except psycopg.Error:
        return None
