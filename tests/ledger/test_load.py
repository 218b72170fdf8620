"""The ledger under real load: gunicorn workers, client processes, a killed worker.

Every answer the clients got is checked against the database afterwards, and the whole
ledger is replayed with `verify_ledger`.
"""

import multiprocessing
import random
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing

import psycopg
import pytest
from django.db import connection

from tests.live import Gunicorn, fire, manage, prepare, scratch_postgres

SHARED, TRADERS, OWN = 1, (2, 3), (4, 5, 6, 7)
CHANGES = [0.07, -0.05, 0.3, -0.4, 0.01]


def client_jobs(client: int, rounds: int) -> list[tuple[str, dict]]:
    """A client's requests: on the shared character, on its own, and two-way trades."""
    rng = random.Random(client)
    jobs = []
    for n in range(rounds):
        for character, tag in ((SHARED, "s"), (OWN[client % len(OWN)], "o")):
            jobs.append(
                (
                    f"/admin/characters/{character}/axis-events",
                    {
                        "event_type": "load",
                        "deltas": {"wealth": rng.choice(CHANGES)},
                        "idempotency_key": f"c{client}-{tag}{n}",
                    },
                )
            )
        pair = TRADERS if client % 2 else TRADERS[::-1]  # opposite orders: a deadlock trap
        jobs.append(
            (
                "/admin/events",
                {
                    "world_id": "alpha",
                    "event_type": "trade",
                    "deltas": [
                        {"character_id": pair[0], "axis_name": "wealth", "delta": 0.05},
                        {"character_id": pair[1], "axis_name": "health", "delta": -0.05},
                    ],
                    "idempotency_key": f"c{client}-t{n}",
                },
            )
        )
    return jobs


def run_clients(server, token, *, clients, rounds, during=None):
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(clients, mp_context=context) as pool:
        futures = [
            pool.submit(fire, server.url, token, client_jobs(c, rounds)) for c in range(clients)
        ]
        if during is not None:
            during()
        return [result for future in futures for result in future.result()]


def ledger_rows(query):
    events = {key: event_id for event_id, key in query("SELECT id, idempotency_key FROM event")}
    counts = dict(
        query(
            "SELECT idempotency_key, COUNT(*) FROM event WHERE idempotency_key IS NOT NULL "
            "GROUP BY idempotency_key"
        )
    )
    empty = query(
        "SELECT COUNT(*) FROM event e WHERE NOT EXISTS "
        "(SELECT 1 FROM event_entity_axis_delta d WHERE d.event_id = e.id)"
    )[0][0]
    return events, counts, empty


def assert_ledger_matches_answers(results, query, env, *, lost_allowed):
    events, counts, empty = ledger_rows(query)
    statuses = {status for _, status, _ in results}
    allowed = {201, 0} if lost_allowed else {201}
    assert statuses <= allowed, f"unexpected statuses {statuses - allowed}"
    acknowledged = [(key, event_id) for key, status, event_id in results if status == 201]
    assert acknowledged, "no request succeeded"
    for key, event_id in acknowledged:
        assert counts.get(key) == 1, f"{key} is in the ledger {counts.get(key, 0)} times"
        assert events[key] == event_id
    assert all(count == 1 for count in counts.values())
    assert empty == 0, "an event without deltas: a partial write"
    assert "clean" in manage(env, "verify_ledger", "-v0")


def postgres_query(url):
    def query(sql):
        with closing(psycopg.connect(url)) as conn:
            return conn.execute(sql).fetchall()

    return query


@pytest.mark.postgres
def test_concurrent_clients_through_four_gunicorn_workers_on_postgresql(tmp_path, worlds_dir):
    with scratch_postgres(connection.settings_dict, "pipeworks_load") as url:
        env = {"DATABASE_URL": url, "PIPEWORKS_WORLDS_DIR": str(worlds_dir)}
        token = prepare(env, characters=8)
        server = Gunicorn(env, workers=4, log_path=tmp_path / "gunicorn.log")
        try:
            results = run_clients(server, token, clients=4, rounds=15)
        finally:
            server.stop()
        assert len(results) == 4 * 15 * 3
        assert_ledger_matches_answers(results, postgres_query(url), env, lost_allowed=False)
        log = (tmp_path / "gunicorn.log").read_text()
        assert "deadlock" not in log.lower()
        assert "Traceback" not in log


@pytest.mark.postgres
def test_a_worker_killed_mid_run_loses_no_acknowledged_event(tmp_path, worlds_dir):
    with scratch_postgres(connection.settings_dict, "pipeworks_kill") as url:
        env = {"DATABASE_URL": url, "PIPEWORKS_WORLDS_DIR": str(worlds_dir)}
        token = prepare(env, characters=8)
        server = Gunicorn(env, workers=4, log_path=tmp_path / "gunicorn.log")
        killed = []

        def kill_a_worker():
            time.sleep(1.0)
            killed.append(server.kill_worker())

        try:
            results = run_clients(server, token, clients=4, rounds=25, during=kill_a_worker)
        finally:
            server.stop()
        assert killed
        assert_ledger_matches_answers(results, postgres_query(url), env, lost_allowed=True)


def test_concurrent_clients_on_sqlite_wait_instead_of_failing(tmp_path, worlds_dir):
    database = tmp_path / "load.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{database}", "PIPEWORKS_WORLDS_DIR": str(worlds_dir)}
    token = prepare(env, characters=8)
    server = Gunicorn(env, workers=2, log_path=tmp_path / "gunicorn.log")
    try:
        results = run_clients(server, token, clients=2, rounds=10)
    finally:
        server.stop()

    def query(sql):
        with closing(sqlite3.connect(database)) as conn:
            return conn.execute(sql).fetchall()

    assert_ledger_matches_answers(results, query, env, lost_allowed=False)
    assert "database is locked" not in (tmp_path / "gunicorn.log").read_text()
