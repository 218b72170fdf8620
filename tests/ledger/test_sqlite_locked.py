"""SQLite: a write that waits past the busy timeout is told the truth, nothing was written.

Another process holds the write lock (``BEGIN IMMEDIATE``) longer than the product's busy
timeout (``PIPEWORKS_SQLITE_BUSY_TIMEOUT``); the product under gunicorn answers a 503
``database_error`` that says nothing was written, the ledger is unchanged, and the retry
with the same key once the lock is gone is applied once.
"""

import sqlite3
from contextlib import closing

import pytest

from tests.live import Gunicorn, post, prepare

pytestmark = pytest.mark.sqlite


def test_database_locked_past_the_busy_timeout_is_503_nothing_written(tmp_path, worlds_dir):
    database = tmp_path / "locked.sqlite3"
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "PIPEWORKS_WORLDS_DIR": str(worlds_dir),
        "PIPEWORKS_SQLITE_BUSY_TIMEOUT": "0.5",
    }
    token = prepare(env, characters=2)
    body = {"event_type": "loot", "deltas": {"wealth": 0.1}, "idempotency_key": "locked-1"}

    def ledger():
        with closing(sqlite3.connect(database)) as conn:
            return conn.execute("SELECT COUNT(*), MAX(id) FROM event").fetchone()

    before = ledger()
    server = Gunicorn(env, workers=1, log_path=tmp_path / "gunicorn.log")
    try:
        with closing(sqlite3.connect(database, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")
            status, answer = post(server.url, token, "/admin/characters/1/axis-events", body)
            holder.execute("ROLLBACK")
        assert ledger() == before
        retry_status, retry = post(server.url, token, "/admin/characters/1/axis-events", body)
    finally:
        server.stop()

    assert status == 503, answer
    assert answer["code"] == "database_error"
    assert "it was rolled back: nothing was written and a retry is safe" in answer["detail"]
    assert retry_status == 201
    assert ledger() == (before[0] + 1, retry["event_id"])
