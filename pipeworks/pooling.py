"""System checks for a connection pooler in front of PostgreSQL (docs/scaling.md).

Behind PgBouncer in transaction pooling mode nothing may outlive a transaction; the
product keeps nothing past one (no statement prepared by name, server-side cursors only
inside a transaction). Two configurations break that, and ``manage.py check`` warns:

- ``pipeworks.W004``: transaction pooling with psycopg's prepared statements turned on
  (``prepare_threshold`` in a database's ``OPTIONS``): PgBouncer before 1.21 sends a
  statement prepared on one server connection to another, which does not know it;
- ``pipeworks.W005``: ``PIPEWORKS_PGBOUNCER`` unset while the server that answers is not
  the one ``DATABASE_URL`` names: the check compares the server's own port
  (``inet_server_port()``) with the URL's. They differ behind any pooler or proxy, so
  the warning asks which it is; setting ``PIPEWORKS_PGBOUNCER`` (``off`` for a proxy
  that keeps sessions) says it is known and silences the check, which then never
  connects for it.
"""

from django.conf import settings
from django.core.checks import Warning, register
from django.db import connections

CHECK_PREPARED_BEHIND_POOLER = (
    "database {alias!r} prepares statements (OPTIONS prepare_threshold={threshold}) behind a "
    "PgBouncer in transaction pooling mode (PIPEWORKS_PGBOUNCER=transaction): PgBouncer "
    "before 1.21 runs them on server connections that never prepared them"
)
CHECK_UNDECLARED_POOLER = (
    "database {alias!r} is answered by a server on port {server_port}, not the port "
    "{url_port} its URL names: a pooler or proxy is in between"
)


@register()
def check_pooling(app_configs, **kwargs):
    """Warn about prepared statements behind transaction pooling, or an undeclared pooler."""
    messages = []
    mode = settings.PIPEWORKS_PGBOUNCER
    for alias, database in settings.DATABASES.items():
        if database["ENGINE"] != "django.db.backends.postgresql":
            continue
        threshold = database.get("OPTIONS", {}).get("prepare_threshold")
        if mode == "transaction" and threshold is not None:
            messages.append(
                Warning(
                    CHECK_PREPARED_BEHIND_POOLER.format(alias=alias, threshold=threshold),
                    hint="Remove prepare_threshold (Django then prepares nothing), or use "
                    "PgBouncer 1.21+ with max_prepared_statements.",
                    id="pipeworks.W004",
                )
            )
        if mode == "" and database.get("HOST") and not database["HOST"].startswith("/"):
            server_port = _server_port(alias)
            url_port = int(database.get("PORT") or 5432)
            if server_port is not None and server_port != url_port:
                messages.append(
                    Warning(
                        CHECK_UNDECLARED_POOLER.format(
                            alias=alias, server_port=server_port, url_port=url_port
                        ),
                        hint="Say what it is: PIPEWORKS_PGBOUNCER=transaction for PgBouncer "
                        "in transaction pooling mode (then prepared statements are checked), "
                        "'session' in session mode, 'off' for a proxy that keeps sessions.",
                        id="pipeworks.W005",
                    )
                )
    return messages


def _server_port(alias: str) -> int | None:
    """The port the answering server listens on; None if it cannot be asked (no warning:
    ``pipeworks.W001`` and the commands' own errors tell about a server that is down)."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT inet_server_port()")
            return cursor.fetchone()[0]
    except Exception:  # noqa: BLE001 (a server that does not answer is another check's)
        return None
