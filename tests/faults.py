"""Faults at COMMIT, injected into the default connection, for the honest-failure tests.

A real lost COMMIT needs a server to lose (``tests/ledger/test_crash.py`` does that with a
private cluster). These tests need it at one exact statement instead: the next COMMIT of
the default connection fails as the driver reports it, after really committing or not.
Use with ``django_db(transaction=True)``: inside pytest-django's test transaction no
block is the outermost, so nothing commits.
"""

import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import psycopg.errors
from django.db import connections

from ledger.services import events

LOST = "server closed the connection unexpectedly"


@dataclass
class CommitFault:
    """How the COMMIT fails; ``commits`` counts those attempted once the fault was armed."""

    reaches_server: bool
    error: Exception
    armed: bool
    times: int = 1
    fired: int = 0
    commits: int = 0


def lost_connection(vendor: str) -> Exception:
    """The driver's error for a connection that broke (PostgreSQL: no SQLSTATE)."""
    if vendor == "postgresql":
        return psycopg.OperationalError(LOST)
    return sqlite3.OperationalError("database is locked")


def serialization_failure() -> Exception:
    """PostgreSQL refusing a COMMIT (SQLSTATE 40001): it rolled the transaction back."""
    return psycopg.errors.SerializationFailure("could not serialize access")


@contextmanager
def failing_commit(
    *,
    reaches_server: bool,
    error: Exception | None = None,
    after=(events, "_record"),
    times: int = 1,
):
    """Make the first ``times`` COMMITs after a call of ``after`` raise ``error``.

    ``reaches_server=True``: the COMMIT is carried out first, then its answer is lost (the
    case where a client told "failed" would apply the event twice). False: it never
    reaches the server, which rolls back. ``after`` (a module and a function name; by
    default the ledger's transaction body) aims the fault at one transaction: the COMMITs
    of a request before it (a throttle count, a cache write) pass; None: the next COMMIT.
    ``times=2`` also fails the server's own retry of a keyed write (``record_or_refuse``).
    """
    wrapper = connections["default"]
    fault = CommitFault(
        reaches_server, error or lost_connection(wrapper.vendor), armed=after is None, times=times
    )
    original = wrapper._commit
    if after is not None:
        module, name = after
        target = getattr(module, name)

        def arming(*args, **kwargs):
            fault.armed = True
            return target(*args, **kwargs)

        setattr(module, name, arming)

    def commit():
        if not fault.armed:
            return original()
        fault.commits += 1
        if fault.fired >= fault.times:
            return original()
        fault.fired += 1
        if fault.reaches_server:
            original()
        with wrapper.wrap_database_errors:  # as Django reports the driver's error
            raise fault.error

    wrapper._commit = commit
    try:
        yield fault
    finally:
        del wrapper._commit
        if after is not None:
            setattr(module, name, target)
