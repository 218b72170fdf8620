"""The provenance migration keeps every ledger row and the append-only guard.

A ledger is built on the schema before provenance (``ledger 0003``) in a fresh database
of the suite's engine, the project is migrated to the latest schema by ``manage.py
migrate`` in a separate process, and then: every old row is exactly as it was, with
NULL (read back as "unknown") provenance; the triggers still refuse UPDATE and DELETE;
``verify_ledger`` and ``check --database default`` are clean.
"""

import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg.types.json import Jsonb

from ledger.services import apply_event
from tests.factories import CharacterFactory

pytestmark = pytest.mark.usefixtures("synced")

BEFORE_PROVENANCE = ("ledger", "0003_delta_character_axis_index")
# Parents first, so every foreign key finds its row.
TABLES = (
    "world",
    "axis",
    "axis_value",
    "characters",
    "character_axis_score",
    "event_type",
    "event",
    "event_entity_axis_delta",
    "event_metadata",
)
LEDGER_TABLES = ("event", "event_entity_axis_delta", "event_metadata")
PROVENANCE_COLUMNS = {
    "actor_user_id",
    "actor_name",
    "source",
    "request_id",
    "occurred_at",
    "policy_hash",
    "reverses_id",
}


class FreshDatabase:
    """An empty database of the suite's engine, beside the test database."""

    def __init__(self, tmp_path: Path):
        self.vendor = connection.vendor
        params = connection.settings_dict
        if self.vendor == "sqlite":
            self.path = tmp_path / "before-provenance.sqlite3"
            self.url = f"sqlite:///{self.path}"
        else:
            self.name = f"pipeworks_migration_{uuid.uuid4().hex[:8]}"
            self.server = {
                "host": params["HOST"] or "127.0.0.1",
                "port": params["PORT"] or 5432,
                "user": params["USER"],
                "password": params["PASSWORD"] or None,
            }
            with closing(psycopg.connect(dbname="postgres", autocommit=True, **self.server)) as c:
                c.execute(f'CREATE DATABASE "{self.name}"')
            auth = self.server["user"] + (
                f":{self.server['password']}" if self.server["password"] else ""
            )
            self.url = f"postgres://{auth}@{self.server['host']}:{self.server['port']}/{self.name}"

    def connect(self):
        if self.vendor == "sqlite":
            return closing(sqlite3.connect(self.path, isolation_level=None))
        return closing(psycopg.connect(dbname=self.name, autocommit=True, **self.server))

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "PIPEWORKS_WORLDS_DIR": str(settings.PIPEWORKS_WORLDS_DIR),
        }
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def columns(self, table: str) -> list[str]:
        with self.connect() as db:
            if self.vendor == "sqlite":
                return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            return [
                row[0]
                for row in db.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = %s ORDER BY ordinal_position",
                    [table],
                )
            ]

    def rows(self, table: str, columns: list[str]) -> list[tuple]:
        with self.connect() as db:
            return db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1").fetchall()

    def insert(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        marks = ", ".join(["?" if self.vendor == "sqlite" else "%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        with self.connect() as db:
            if self.vendor == "sqlite":
                db.executemany(sql, rows)
                return
            adapted = [
                tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in row) for row in rows
            ]
            with db.cursor() as cursor:
                cursor.executemany(sql, adapted)
            if "id" in columns:
                db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )

    def refuses(self, statement: str) -> bool:
        with self.connect() as db:
            try:
                db.execute(statement)
            except (sqlite3.DatabaseError, psycopg.DatabaseError) as exc:
                return "append-only" in str(exc)
        return False

    def drop(self) -> None:
        if self.vendor == "postgresql":
            with closing(psycopg.connect(dbname="postgres", autocommit=True, **self.server)) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture
def fresh_database(tmp_path):
    database = FreshDatabase(tmp_path)
    yield database
    database.drop()


def copy_rows(database: FreshDatabase) -> dict[str, list[tuple]]:
    """Copy the test database's ledger into ``database`` (at its older schema).

    Returns what was copied, by table, in the older schema's columns.
    """
    copied = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            columns = database.columns(table)
            cursor.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1")
            rows = [tuple(row) for row in cursor.fetchall()]
            database.insert(table, columns, rows)
            copied[table] = (columns, database.rows(table, columns))
    return copied


def test_migrating_an_old_ledger_keeps_every_row_and_the_guard(fresh_database):
    hero = CharacterFactory(name="hero", scores={"wealth": 0.3})
    rival = CharacterFactory(name="rival")
    for delta in (0.2, -0.1, 0.9):
        apply_event(
            world_id="alpha",
            event_type="loot",
            deltas={hero.pk: {"wealth": delta}, rival.pk: {"luck": -delta / 2}},
            metadata={"chest": str(delta)},
            idempotency_key=f"loot-{delta}",
        )
    migrated = fresh_database.manage("migrate", "--no-input", *BEFORE_PROVENANCE)
    assert migrated.returncode == 0, migrated.stderr
    assert not PROVENANCE_COLUMNS & set(fresh_database.columns("event"))
    copied = copy_rows(fresh_database)
    assert len(copied["event"][1]) == 5  # two creations, three loots

    migrated = fresh_database.manage("migrate", "--no-input")

    assert migrated.returncode == 0, migrated.stderr
    assert PROVENANCE_COLUMNS <= set(fresh_database.columns("event"))
    for table, (columns, rows) in copied.items():
        assert fresh_database.rows(table, columns) == rows, table
    new_columns = sorted(PROVENANCE_COLUMNS)
    assert set(fresh_database.rows("event", new_columns)) == {(None,) * len(new_columns)}
    for table in LEDGER_TABLES:
        assert fresh_database.refuses(f"UPDATE {table} SET id = id")
        assert fresh_database.refuses(f"DELETE FROM {table}")
    verified = fresh_database.manage("verify_ledger")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "clean" in verified.stdout
    checked = fresh_database.manage("check", "--database", "default")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Old events read back with provenance "unknown".
    old_event = copied["event"][1][-1][0]
    shown = fresh_database.manage(
        "shell",
        "--verbosity",
        "0",
        "-c",
        "from ledger.selectors import serialize_events; "
        f"e = serialize_events([{old_event}])[0]; "
        "print(e['actor']['name'], e['source'], e['occurred_at'])",
    )
    assert shown.stdout.split() == ["unknown", "unknown", "None"], shown.stderr
