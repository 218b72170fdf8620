"""Drift runs as cron starts them: real ``manage.py apply_drift`` processes on a scratch database.

Several runs started at the same moment apply each period exactly once per character, and a
run SIGKILLed midway (after its first committed chunk) is finished by the next run without
applying anything twice. The concurrent runs are held at a gate first: the test takes the
lock every run needs (the world's ``drift_state`` row on PostgreSQL, the database's write
lock on SQLite) and releases it once they all wait for it.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from ledger.services.drift import drift_score
from tests.live import ROOT, manage, scratch_postgres
from worlds.policies import Drift

WORLD = "alpha"
RULES = {  # alpha's axes: wealth (default 0), health (0.8), luck (0.25)
    "wealth": ("{ rate: 0.01, every: 1h }", Drift(0.01, 3600)),
    "health": ("{ rate: 0.02, every: 1h, toward: 0.5 }", Drift(0.02, 3600, 0.5)),
    "luck": ("{ rate: -0.005, every: 1h }", Drift(-0.005, 3600)),
}
CHARACTERS = 120
# On SQLite a run pauses between chunks (drift.SQLITE_CHUNK_PAUSE), so few chunks keep the
# tests short there, and enough of them make the runs take turns and the kill land midway.
CHUNK = 8  # 15 chunks
KILL_CHUNK = 10  # 12 chunks: the poll sees the first commit long before the run ends
PERIODS = 5
UNTIL = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

SCORES = (
    "SELECT s.character_id, a.name, s.axis_score FROM character_axis_score s "
    "JOIN axis a ON a.id = s.axis_id WHERE s.world_id = 'alpha'"
)
DRIFT_DELTAS = (
    "SELECT d.character_id, a.name, COUNT(*) FROM event_entity_axis_delta d "
    "JOIN event e ON e.id = d.event_id JOIN event_type t ON t.id = e.event_type_id "
    "JOIN axis a ON a.id = d.axis_id WHERE t.name = 'drift' GROUP BY d.character_id, a.name"
)
DRIFT_STATE = "SELECT run_plan, run_after FROM drift_state WHERE world_id = 'alpha'"


class Database:
    """A scratch database of one engine, read and locked from the test process."""

    def __init__(self, url: str, worlds_dir: Path):
        self.url = url
        self.env = {
            "DATABASE_URL": url,
            "PIPEWORKS_WORLDS_DIR": str(worlds_dir),
            "PIPEWORKS_DRIFT_CHUNK": str(CHUNK),
        }
        self.sqlite = url.startswith("sqlite")

    def connect(self):
        if self.sqlite:
            return closing(sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30))
        return psycopg.connect(self.url)

    def query(self, sql: str) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(sql).fetchall()

    @contextmanager
    def gate(self) -> Iterator[None]:
        """Hold the lock every drift run of the world takes first, until the block ends."""
        if self.sqlite:
            with closing(
                sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            ) as conn:
                conn.execute("BEGIN IMMEDIATE")
                yield
                conn.execute("ROLLBACK")
        else:
            with psycopg.connect(self.url) as conn:
                conn.execute(f"{DRIFT_STATE} FOR UPDATE")
                yield
                conn.rollback()

    def wait_at_gate(self, processes: list[subprocess.Popen]) -> None:
        """Return once every process waits for the gate's lock (or fail after 60 s)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert all(p.poll() is None for p in processes), "a run exited at the gate"
            if self._waiting(processes) >= len(processes):
                time.sleep(0.5)  # SQLite: let each reach its busy-wait, not just connect
                return
            time.sleep(0.05)
        raise TimeoutError("the drift runs did not reach the gate")

    def _waiting(self, processes: list[subprocess.Popen]) -> int:
        if not self.sqlite:
            return self.query(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )[0][0]
        # A run opens the database only for the command's own queries: the world list,
        # then apply_drift, whose first write transaction waits for the gate.
        name = self.url.removeprefix("sqlite:///")
        opened = 0
        for process in processes:
            fds = Path(f"/proc/{process.pid}/fd")
            try:
                targets = {os.readlink(fd) for fd in fds.iterdir()}
            except (FileNotFoundError, ProcessLookupError):
                continue
            opened += name in targets
        return opened


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.sqlite),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def database(request, tmp_path, worlds_dir) -> Iterator[Database]:
    """World alpha with three drifting axes, its characters, clocks PERIODS periods back."""
    axes = worlds_dir / WORLD / "policies" / "axes.yaml"
    text = axes.read_text()
    for axis, (rule, _) in RULES.items():
        text = text.replace(f"  {axis}:\n", f"  {axis}:\n    drift: {rule}\n", 1)
    axes.write_text(text)
    if request.param == "postgres":
        with scratch_postgres(connection.settings_dict, "pipeworks_drift") as url:
            yield prepared(Database(url, worlds_dir))
    else:
        yield prepared(Database(f"sqlite:///{tmp_path / 'drift.sqlite3'}", worlds_dir))


def prepared(db: Database) -> Database:
    manage(db.env, "migrate", "-v0")
    manage(db.env, "sync_policies", WORLD, "-v0")
    manage(
        db.env,
        "generate_ledger",
        "--i-know-this-is-not-production",
        "--world",
        WORLD,
        "--characters",
        str(CHARACTERS),
        "--events",
        str(3 * CHARACTERS),
        "-v0",
    )
    # Every character existed before the first period; the clocks stand PERIODS back.
    manage(
        db.env,
        "shell",
        "-c",
        "from datetime import datetime, timedelta; "
        "from ledger.models import DriftClock; from worlds.models import Character; "
        f"until = datetime.fromisoformat({UNTIL.isoformat()!r}); "
        f"assert DriftClock.objects.filter(world_id={WORLD!r}).update("
        f"applied_until=until - timedelta(hours={PERIODS})) == {len(RULES)}; "
        f"Character.objects.filter(world_id={WORLD!r}).update("
        "created_at=until - timedelta(days=1))",
    )
    # A run with nothing due creates the world's drift_state row (the gate locks it).
    manage(db.env, "apply_drift", WORLD, "--until", (UNTIL - timedelta(days=1)).isoformat())
    return db


def start_run(db: Database, chunk: int = CHUNK) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "apply_drift",
            WORLD,
            "--until",
            UNTIL.isoformat(),
            "--format",
            "json",
        ],
        cwd=ROOT,
        env={**os.environ, **db.env, "PIPEWORKS_DRIFT_CHUNK": str(chunk)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def expected_scores(before: list[tuple]) -> dict[tuple[int, str], float]:
    """Each score after PERIODS periods of its axis's rule, computed as one run does."""
    return {
        (character_id, axis): drift_score(score, RULES[axis][1], PERIODS)[0]
        if axis in RULES
        else score
        for character_id, axis, score in before
    }


def deltas_reported(stdout: str) -> int:
    """The deltas a run says it wrote (``--format json``)."""
    return sum(run["deltas"] for run in json.loads(stdout))


def assert_drifted_exactly_once(db: Database, before: list[tuple], reported: int) -> None:
    """Scores are the single-run expectation; one drift delta per character and axis moved."""
    expected = expected_scores(before)
    assert {(c, axis): score for c, axis, score in db.query(SCORES)} == expected
    old = {(c, axis): score for c, axis, score in before}
    moved = {key for key, score in expected.items() if score != old[key]}
    counts = {(c, axis): n for c, axis, n in db.query(DRIFT_DELTAS)}
    assert counts == dict.fromkeys(moved, 1)
    assert len(moved) > 2 * CHARACTERS  # nearly every character moved on every axis
    assert reported == len(moved)
    assert db.query(DRIFT_STATE) == [(None, None)]
    clocks = db.query("SELECT COUNT(*) FROM drift_clock WHERE world_id = 'alpha'")[0][0]
    assert clocks == len(RULES)
    assert "clean" in manage(db.env, "verify_ledger", "-v0")


def stop(processes: list[subprocess.Popen]) -> Callable[[], None]:
    def kill_all():
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    return kill_all


def test_runs_started_at_the_same_moment_apply_each_period_once_per_character(database, request):
    db = database
    before = db.query(SCORES)
    with db.gate():
        runs = [start_run(db) for _ in range(3)]
        request.addfinalizer(stop(runs))
        db.wait_at_gate(runs)
    outputs = [run.communicate(timeout=120) for run in runs]

    for run, (_, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr
    reported = [deltas_reported(stdout) for stdout, _ in outputs]
    assert_drifted_exactly_once(db, before, sum(reported))
    # The runs took turns: PostgreSQL serves the waiters on a row lock in order; on SQLite
    # a run pauses after each chunk, longer than a waiting writer sleeps between tries.
    assert sum(1 for deltas in reported if deltas) > 1, reported


def test_a_run_killed_midway_is_finished_by_the_next_without_applying_twice(database):
    db = database
    before = db.query(SCORES)
    run = start_run(db, chunk=KILL_CHUNK)
    try:
        deadline = time.monotonic() + 60
        while not db.query(DRIFT_STATE)[0][1]:  # the first chunk is committed
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no chunk was committed"
            time.sleep(0.002)
        # Killed between two chunks or during one (that chunk's transaction is lost).
        run.send_signal(signal.SIGKILL)
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()

    plan, after = db.query(DRIFT_STATE)[0]
    assert plan is not None and 0 < after < max(c for c, _, _ in before), "not killed midway"
    # Each committed chunk is whole, and the cursor says exactly which characters they were.
    old = {(c, axis): score for c, axis, score in before}
    moved = {key for key, score in expected_scores(before).items() if score != old[key]}
    partial = {(c, axis) for c, axis, _ in db.query(DRIFT_DELTAS)}
    assert partial == {(c, axis) for c, axis in moved if c <= after}

    rerun = start_run(db)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert_drifted_exactly_once(db, before, len(partial) + deltas_reported(stdout))
