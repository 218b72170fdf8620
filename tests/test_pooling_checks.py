"""The pooling system checks (``pipeworks/pooling.py``) without a PgBouncer.

The checks against a real PgBouncer are in ``tests/test_pgbouncer_live.py``; these pin
their rules on both engines: prepared statements warn only behind transaction pooling,
and a database answering on its own URL's port (the suite's) draws no warning.
"""

import socket
import time

import pytest

from pipeworks.pooling import (
    CHECK_PREPARED_BEHIND_POOLER,
    PROBE_CONNECT_TIMEOUT,
    check_prepared_statements,
    check_undeclared_pooler,
)

POSTGRES = "django.db.backends.postgresql"


def aliases(settings, **options):
    """A settings DATABASES with one more PostgreSQL alias on a unix socket (never dialled:
    the port comparison skips sockets)."""
    databases = dict(settings.DATABASES)
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
