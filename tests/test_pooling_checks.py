"""Prepared statements and the pooling system checks (``pipeworks/pooling.py``) without a
PgBouncer.

The checks against a real PgBouncer are in ``tests/test_pgbouncer_live.py``; these pin
their rules on both engines: prepared statements are on unless behind transaction
pooling, warn only there, and a database answering on its own URL's port (the suite's)
draws no warning.
"""

import json
import socket
import subprocess
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection

from ledger.services import apply_event
from pipeworks.pooling import (
    CHECK_PREPARED_BEHIND_POOLER,
    PROBE_CONNECT_TIMEOUT,
    check_prepared_statements,
    check_undeclared_pooler,
)
from tests.factories import CharacterFactory
from tests.live import settings_in_child

POSTGRES = "django.db.backends.postgresql"
SHOW_THRESHOLDS = (
    "{alias: database.get('OPTIONS', {}).get('prepare_threshold', 'unset') "
    "for alias, database in settings.DATABASES.items()}"
)


def thresholds_with(**env: str) -> subprocess.CompletedProcess:
    """The settings' prepare_threshold of each database, in a process with this environment."""
    return settings_in_child(SHOW_THRESHOLDS, **env)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, 5),
        ({"PIPEWORKS_PGBOUNCER": "off"}, 5),
        ({"PIPEWORKS_PGBOUNCER": "session"}, 5),
        ({"PIPEWORKS_PGBOUNCER": "transaction"}, "unset"),
        ({"PIPEWORKS_PG_PREPARE_THRESHOLD": "off"}, "unset"),
        ({"PIPEWORKS_PG_PREPARE_THRESHOLD": "0"}, 0),
        # Asked for behind transaction pooling: set, and pipeworks.W004 warns about it.
        ({"PIPEWORKS_PGBOUNCER": "transaction", "PIPEWORKS_PG_PREPARE_THRESHOLD": "5"}, 5),
    ],
)
def test_prepared_statements_are_on_unless_behind_transaction_pooling(env, expected):
    result = thresholds_with(
        DATABASE_URL="postgres://u@db:5432/x",
        DATABASE_REPLICA_URL="postgres://u@r1:5433/x",
        **env,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"default": expected, "replica1": expected}


def test_a_prepare_threshold_in_the_database_url_wins():
    result = thresholds_with(DATABASE_URL="postgres://u@db:5432/x?prepare_threshold=2")

    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["default"] in (2, "2")


def test_sqlite_gets_no_prepare_threshold():
    result = thresholds_with(DATABASE_URL="sqlite:///db-thresholds.sqlite3")

    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"default": "unset"}


@pytest.mark.parametrize("value", ["sometimes", "-1", "\u00b2", "5.5"])
def test_a_bad_prepare_threshold_stops_the_start_naming_the_setting(value):
    result = thresholds_with(
        DATABASE_URL="postgres://u@db:5432/x", PIPEWORKS_PG_PREPARE_THRESHOLD=value
    )

    assert result.returncode != 0
    assert "PIPEWORKS_PG_PREPARE_THRESHOLD must be 'off' or a whole number" in result.stderr


@pytest.mark.postgres
@pytest.mark.usefixtures("synced")
def test_apply_event_statements_are_prepared_on_the_connection():
    threshold = django_settings.PIPEWORKS_PG_PREPARE_THRESHOLD
    assert threshold is not None, "the suite runs PostgreSQL with prepared statements"
    character = CharacterFactory(scores={"wealth": 0.5})

    for _ in range(threshold + 1):
        apply_event(world_id="alpha", event_type="tick", deltas={character.pk: {"wealth": 0.01}})

    assert connection.connection.prepare_threshold == threshold
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("INSERT INTO event" in statement for statement in prepared), prepared


def aliases(settings, **options):
    """A settings DATABASES with one more PostgreSQL alias on a unix socket (never dialled:
    the port comparison skips sockets); the suite's own databases prepare nothing here."""
    databases = {
        alias: {
            **database,
            "OPTIONS": {
                key: value
                for key, value in database.get("OPTIONS", {}).items()
                if key != "prepare_threshold"
            },
        }
        for alias, database in settings.DATABASES.items()
    }
    databases["pooled"] = {"ENGINE": POSTGRES, "HOST": "/run/nowhere", "OPTIONS": options}
    return databases


@pytest.mark.parametrize(
    ("mode", "options", "warned"),
    [
        ("transaction", {"prepare_threshold": 5}, True),
        ("transaction", {"prepare_threshold": 0}, True),
        ("transaction", {}, False),
        ("transaction", {"prepare_threshold": None}, False),
        ("session", {"prepare_threshold": 5}, False),
        ("off", {"prepare_threshold": 5}, False),
    ],
)
def test_prepared_statements_warn_only_behind_transaction_pooling(settings, mode, options, warned):
    settings.PIPEWORKS_PGBOUNCER = mode
    settings.DATABASES = aliases(settings, **options)

    ids = [message.id for message in check_prepared_statements(None)]

    assert ids == (["pipeworks.W004"] if warned else [])
    if warned:
        assert check_prepared_statements(None)[0].msg == CHECK_PREPARED_BEHIND_POOLER.format(
            alias="pooled", threshold=options["prepare_threshold"]
        )


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_database_answering_on_its_own_port_draws_no_warning(settings):
    settings.PIPEWORKS_PGBOUNCER = ""

    assert check_undeclared_pooler(None, databases=["default"]) == []


def test_the_pooler_probe_is_a_database_check_and_gives_up_on_a_silent_server(settings):
    """Only ``migrate`` and ``check --database`` run it; a server that accepts the TCP
    connection and never answers (a hung pooler) costs its connect timeout, no more."""
    assert "database" in check_undeclared_pooler.tags
    assert check_undeclared_pooler(None) == []  # no databases asked for: no connection
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings.PIPEWORKS_PGBOUNCER = ""
        settings.DATABASES = {
            "silent": {
                "ENGINE": POSTGRES,
                "HOST": "127.0.0.1",
                "PORT": silent.getsockname()[1],
                "NAME": "pipeworks",
            }
        }
        started = time.monotonic()

        assert check_undeclared_pooler(None, databases=["silent"]) == []
        assert time.monotonic() - started < PROBE_CONNECT_TIMEOUT + 3
