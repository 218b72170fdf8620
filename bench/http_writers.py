"""Concurrent writers over HTTP on PostgreSQL: gunicorn with 4 workers, 4 client processes.

Run by ``bench/run.py`` (``make bench``) in a process of its own. It prepares a database
of its own with ``tests/live.py`` (migrate, sync the fixture world ``alpha``, characters,
a staff token), grows its ledger first (a benchmark must not start from empty tables),
starts gunicorn and has each client POST one-delta events to
``/admin/characters/<id>/axis-events``, one after the other, each request on a new
connection (``tests.live.post``). Two patterns: every client on characters of its own
(``disjoint``), every client on one character (``shared``: they queue on its row locks).
Prints one JSON document on stdout; ``verify_ledger`` replays the ledger at the end.
"""

import argparse
import json
import multiprocessing
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.live import Gunicorn, manage, post, prepare  # noqa: E402

WORLDS_DIR = ROOT / "tests" / "fixtures" / "worlds"
WORKERS = 4
CLIENTS = 4


def client(url, token, character_ids, count, start_at, seed):
    """POST ``count`` events, starting at ``start_at``; return (latencies ms, statuses, end)."""
    rng = random.Random(seed)
    bodies = [
        (rng.choice(character_ids), {"event_type": "bench", "deltas": {"wealth": delta}})
        for delta in (round(rng.uniform(-0.05, 0.05), 4) for _ in range(count))
    ]
    time.sleep(max(0.0, start_at - time.time()))
    latencies, statuses = [], {}
    for character_id, body in bodies:
        started = time.perf_counter()
        status, _ = post(url, token, f"/admin/characters/{character_id}/axis-events", body)
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
    return latencies, statuses, time.time()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_pattern(pool, server, token, pools, count):
    start_at = time.time() + 2.0  # every client has started and imported by then
    futures = [
        pool.submit(client, server.url, token, pools[c], count, start_at, seed=c + count)
        for c in range(CLIENTS)
    ]
    results = [future.result() for future in futures]
    latencies = [ms for result in results for ms in result[0]]
    statuses = {}
    for result in results:
        for status, n in result[1].items():
            statuses[str(status)] = statuses.get(str(status), 0) + n
    elapsed = max(result[2] for result in results) - start_at
    return {
        "events": len(latencies),
        "rate": statuses.get("201", 0) / elapsed,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "statuses": statuses,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True, help="Dropped and re-created.")
    parser.add_argument("--characters", type=int, default=1000)
    parser.add_argument("--history", type=int, default=100_000, help="Events before measuring.")
    parser.add_argument("--events", type=int, default=250, help="Events per client and run.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--conn-max-age", default="0,60", help="Gunicorn configurations.")
    args = parser.parse_args()

    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    name = args.database_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {"DATABASE_URL": args.database_url, "PIPEWORKS_WORLDS_DIR": str(WORLDS_DIR)}
    token = prepare(env, characters=args.characters)
    manage(
        env,
        "generate_ledger",
        "--i-know-this-is-not-production",
        "--world",
        "alpha",
        "--existing",
        "--events",
        str(args.history),
    )
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        character_ids = [row[0] for row in conn.execute("SELECT id FROM characters ORDER BY id")]
    pools = {
        "disjoint": [character_ids[c::CLIENTS] for c in range(CLIENTS)],
        "shared": [character_ids[:1]] * CLIENTS,
    }
    results = {
        "workers": WORKERS,
        "clients": CLIENTS,
        "characters": len(character_ids),
        "history": args.history,
        "events_per_client": args.events,
        "runs": args.runs,
        "configs": {},
    }
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProcessPoolExecutor(CLIENTS, mp_context=context) as pool,
    ):
        for max_age in args.conn_max_age.split(","):
            server = Gunicorn(
                {**env, "CONN_MAX_AGE": max_age},
                workers=WORKERS,
                log_path=Path(tmp) / f"gunicorn-{max_age}.log",
            )
            try:
                # Warm every worker (imports, registry cache, prepared statements).
                run_pattern(pool, server, token, pools["disjoint"], 10)
                figures = {pattern: [] for pattern in pools}
                for run in range(args.runs):
                    order = list(pools) if run % 2 == 0 else list(pools)[::-1]
                    for pattern in order:
                        figures[pattern].append(
                            run_pattern(pool, server, token, pools[pattern], args.events)
                        )
            finally:
                server.stop()
            results["configs"][max_age] = figures
    results["verify"] = manage(env, "verify_ledger", "-v0").strip().splitlines()[-1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
