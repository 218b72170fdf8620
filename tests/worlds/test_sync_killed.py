"""A sync_policies process killed midway leaves the registry exactly as it was.

Runs real processes against a database of their own (not the test database): a SQLite
file, and on PostgreSQL a scratch database.
"""

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing

import psycopg
import pytest
from django.db import connection

from tests.live import ROOT, manage, scratch_postgres

TABLES = {
    "world": "world_id, policy_hash, policy_version, synced_at",
    "axis": "id, name, ordering_json, default_score, is_active",
    "axis_value": "id, axis_id, value, min_score, max_score, ordinal",
    "characters": "id, state_seed, state_version, current_state_json",
    "character_axis_score": "id, axis_score",
    "event": "id",
}


def kill_sync_midway(env):
    """Start a sync that re-derives thousands of snapshots; SIGKILL it mid-transaction."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sync_policies"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        if "snapshots" in line:  # progress: the transaction is writing snapshots now
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    return process.returncode


def scenario(env, worlds_dir, dump):
    manage(env, "migrate", "-v0")
    manage(env, "sync_policies")
    manage(
        env,
        "generate_ledger",
        "--i-know-this-is-not-production",  # DEBUG is the test runner's
        "--world",
        "alpha",
        "--characters",
        "4000",
        "--events",
        "4000",
    )
    thresholds = worlds_dir / "alpha/policies/thresholds.yaml"
    thresholds.write_text(
        thresholds.read_text()
        .replace("ailing: { min: 0.0, max: 0.5 }", "ailing: { min: 0.0, max: 0.6 }")
        .replace("hale: { min: 0.5, max: 1.0 }", "hale: { min: 0.6, max: 1.0 }")
    )
    before = dump()

    assert kill_sync_midway(env) == -signal.SIGKILL

    assert dump() == before
    # And the files still sync afterwards.
    manage(env, "sync_policies")
    assert dump() != before


def dump_with(cursor_factory):
    def dump():
        with cursor_factory() as cursor:
            state = {}
            for table, columns in TABLES.items():
                cursor.execute(f"SELECT {columns} FROM {table} ORDER BY 1")
                state[table] = [tuple(map(str, row)) for row in cursor.fetchall()]
            return state

    return dump


def test_killed_sync_leaves_the_sqlite_registry_untouched(tmp_path, worlds_dir):
    database = tmp_path / "killed.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{database}", "PIPEWORKS_WORLDS_DIR": str(worlds_dir)}

    def cursor():
        return closing(sqlite3.connect(database).cursor())

    scenario(env, worlds_dir, dump_with(cursor))


@pytest.mark.postgres
def test_killed_sync_leaves_the_postgresql_registry_untouched(tmp_path, worlds_dir):
    with scratch_postgres(connection.settings_dict, "pipeworks_killed_sync") as url:
        env = {"DATABASE_URL": url, "PIPEWORKS_WORLDS_DIR": str(worlds_dir)}
        scenario(env, worlds_dir, dump_with(lambda: closing(psycopg.connect(url).cursor())))
