"""A busy PostgreSQL connection is checked on its socket, not with ``SELECT 1``.

``pipeworks.connections`` marks a connection that served a request moments ago, is
idle and has nothing to read as checked at the start of a request, so Django skips its
round trip; a connection the server ended has its farewell waiting on the socket, and
one unused for longer may have lost a silent peer: both are left to Django's check,
which replaces a dead one before the request uses it.
"""

import io
import json
import select
import subprocess
import sys
import time

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db import NotSupportedError, close_old_connections, connection, transaction

from pipeworks import connections
from pipeworks.connections import (
    QUIET_CHECK_SECONDS,
    check_idle_connections,
    note_used_connections,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid: int) -> None:
    """End a backend from another connection, and wait until its client can tell."""
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    poller = select.poll()
    poller.register(connection.connection.fileno(), select.POLLIN)
    deadline = time.monotonic() + 5
    while not poller.poll(50):
        assert time.monotonic() < deadline, "the terminated backend never said so"


def new_request() -> None:
    """What Django does between requests: the check is due again."""
    note_used_connections()
    connection.close_if_unusable_or_obsolete()
    assert connection.health_check_done is False


@pytest.fixture
def production_receivers():
    """Django's ``close_old_connections`` before the product's check, as in a server (the
    test client reconnects it after every request it sends, which puts it last)."""
    request_started.disconnect(check_idle_connections, dispatch_uid="pipeworks.connections.check")
    request_started.disconnect(close_old_connections)
    request_started.connect(close_old_connections)
    connections.connect()
    yield


def get(path: str) -> tuple[str, bytes]:
    """One request through Django's WSGI handler, as a server sends it (the test client
    skips the connection handling of a request's start)."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = status

    body = b"".join(WSGIHandler()(environ, start_response))
    return answer["status"], body


def test_the_check_runs_after_djangos_reset_in_a_server_process():
    code = (
        "from django.core.signals import request_started as s;"
        "import json; print(json.dumps([r().__name__ for _, r, *rest in s.receivers]))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", code],
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    names = json.loads(result.stdout)
    assert names.index("close_old_connections") < names.index("check_idle_connections")


def test_a_busy_healthy_connection_is_checked_without_a_round_trip(monkeypatch):
    backend_pid()
    new_request()

    check_idle_connections()

    assert connection.health_check_done is True
    monkeypatch.setattr(connection, "is_usable", lambda: pytest.fail("SELECT 1 was sent"))
    assert backend_pid() > 0


def test_a_connection_unused_for_a_while_is_left_to_djangos_check():
    backend_pid()
    new_request()
    connection.pipeworks_used_at -= QUIET_CHECK_SECONDS

    check_idle_connections()

    assert connection.health_check_done is False


def test_a_connection_the_server_ended_is_left_to_djangos_check():
    pid = backend_pid()
    terminate(pid)
    new_request()

    check_idle_connections()

    assert connection.health_check_done is False
    assert backend_pid() != pid  # Django's check found it dead and connected again


def test_a_request_on_a_busy_connection_sends_no_select_1(
    settings, synced, production_receivers, monkeypatch
):
    settings.ALLOWED_HOSTS = ["testserver"]
    get("/readyz")
    monkeypatch.setattr(connection, "is_usable", lambda: pytest.fail("SELECT 1 was sent"))

    status, body = get("/readyz")

    assert status.startswith("200"), body


def test_a_request_after_the_server_ended_its_connection_is_served(
    settings, synced, production_receivers
):
    settings.ALLOWED_HOSTS = ["testserver"]
    get("/readyz")
    pid = backend_pid()
    terminate(pid)

    status, body = get("/readyz")

    assert status.startswith("200"), body
    assert backend_pid() != pid


# -- prepared statements gone stale under another connection's schema change ----------------

PROBE_SELECT = "SELECT id, label FROM replan_probe ORDER BY id"


@pytest.fixture
def probe_table():
    """A table of its own, whose column type another connection changes."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE replan_probe (id integer, label varchar(10))")
        cursor.execute("INSERT INTO replan_probe VALUES (1, 'one')")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS replan_probe")


def prepared_probe() -> None:
    """Run the probe's SELECT until psycopg has prepared it on this connection."""
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    for _ in range(threshold + 1):
        with connection.cursor() as cursor:
            cursor.execute(PROBE_SELECT)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement = %s", [PROBE_SELECT]
        )
        assert cursor.fetchone() == (1,)


def change_label_type() -> None:
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("ALTER TABLE replan_probe ALTER COLUMN label TYPE text")


def test_each_preparing_postgresql_connection_carries_the_replan_wrapper():
    connection.ensure_connection()

    assert connections.replan_stale_statements in connection.execute_wrappers


def test_a_read_whose_prepared_plan_went_stale_is_run_again(probe_table):
    prepared_probe()
    change_label_type()

    with connection.cursor() as cursor:
        cursor.execute(PROBE_SELECT)
        rows = cursor.fetchall()

    assert rows == [(1, "one")]
    with connection.cursor() as cursor:
        cursor.execute(PROBE_SELECT)
        assert cursor.fetchall() == [(1, "one")]


def test_in_a_transaction_the_stale_plan_fails_and_its_rollback_heals_the_connection(
    probe_table,
):
    prepared_probe()
    change_label_type()

    with pytest.raises(NotSupportedError, match="cached plan must not change result type"):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(PROBE_SELECT)

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(PROBE_SELECT)
            assert cursor.fetchall() == [(1, "one")]
