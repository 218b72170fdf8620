"""API writes over HTTP against the same writes in-process, in one run, on PostgreSQL.

Run by ``bench/run.py`` (section ``http``) in a process of its own. It prepares a database
of its own with ``tests/live.py`` (migrate, sync the fixture world ``alpha``, characters,
a game master's API key), grows its ledger first, and starts gunicorn with 4 workers.
Then, for 4 and 16 client processes, each pattern (``disjoint``: every client on
characters of its own; ``shared``: every client on one character) is measured twice,
alternating which goes first:

- ``http``: each client keeps one persistent connection (``http.client``, as a game
  server's HTTP client would) and POSTs one-delta events to
  ``/admin/characters/<id>/axis-events`` with its API key, one after the other;
- ``inprocess``: as many processes call ``apply_event`` directly, with the provenance an
  API request records (the key's actor, source ``api``, a request id).

Then a world tick: ``POST /admin/events:batch`` of 2,000 one-delta events against
``apply_events`` of the same events in-process, ``--batches`` pairs per run (each pair
the same events, its order alternating). The client reconnects whenever the server
closes the connection (a sync worker closes every one), and counts how many connections
it opened, so the figures show whether keep-alive held. Prints one JSON document on
stdout; ``verify_ledger`` replays the ledger at the end.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.live import Gunicorn, manage, prepare  # noqa: E402

WORLDS_DIR = ROOT / "tests" / "fixtures" / "worlds"
WORKERS = 4
# What a deployment runs (README, "Deploying"): threads keep idle keep-alive connections
# without holding a worker; sync workers close every connection after its answer.
DEFAULT_GUNICORN = "--worker-class gthread --threads 2 --keep-alive 75"


class KeepAliveClient:
    """One persistent HTTP/1.1 connection that reopens when the server closed it."""

    def __init__(self, url: str, token: str):
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {token}"}
        self.connection = None
        self.connections = 0

    def post(self, path: str, body: dict) -> int:
        payload = json.dumps(body).encode()
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
                self.connections += 1
            try:
                self.connection.request("POST", path, payload, self.headers)
                response = self.connection.getresponse()
                response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle connection before this request: reopen once.
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
                continue
            if response.will_close:
                self.connection.close()
                self.connection = None
            return response.status
        raise AssertionError("unreachable")


def one_delta_events(character_ids, count, seed):
    rng = random.Random(seed)
    return [(rng.choice(character_ids), round(rng.uniform(-0.05, 0.05), 4)) for _ in range(count)]


def http_client(url, token, character_ids, count, start_at, seed):
    """POST ``count`` one-delta events over one persistent connection."""
    events = one_delta_events(character_ids, count, seed)
    client = KeepAliveClient(url, token)
    time.sleep(max(0.0, start_at - time.time()))
    latencies, statuses = [], {}
    for character_id, delta in events:
        started = time.perf_counter()
        status = client.post(
            f"/admin/characters/{character_id}/axis-events",
            {"event_type": "bench", "deltas": {"wealth": delta}},
        )
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return latencies, statuses, time.time(), client.connections


_django_ready = False


def _setup_django():
    global _django_ready
    if not _django_ready:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")
        import django

        django.setup()
        _django_ready = True


def inprocess_client(key_prefix, character_ids, count, start_at, seed):
    """Call ``apply_event`` ``count`` times with an API request's provenance."""
    _setup_django()
    from ledger.provenance import Actor
    from ledger.services import apply_event

    actor = Actor(name=f"load (key {key_prefix})", user_id=1, key=key_prefix)
    events = one_delta_events(character_ids, count, seed)
    time.sleep(max(0.0, start_at - time.time()))
    latencies = []
    for character_id, delta in events:
        started = time.perf_counter()
        apply_event(
            world_id="alpha",
            event_type="bench",
            deltas={character_id: {"wealth": delta}},
            actor=actor,
            source="api",
            request_id=uuid.uuid4().hex,
        )
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, {"201": len(latencies)}, time.time(), 0


def tick_events(character_ids, size, seed):
    rng = random.Random(seed)
    return [
        {"character_id": cid, "axis_name": "wealth", "delta": round(rng.uniform(-0.05, 0.05), 4)}
        for cid in rng.sample(character_ids, size)
    ]


def http_batch(url, token, deltas):
    """POST one batch of one-delta events; return (seconds, status)."""
    body = {
        "world_id": "alpha",
        "events": [{"event_type": "bench", "deltas": [delta]} for delta in deltas],
    }
    client = KeepAliveClient(url, token)
    started = time.perf_counter()
    status = client.post("/admin/events:batch", body)
    return time.perf_counter() - started, status


def inprocess_batch(key_prefix, deltas):
    """``apply_events`` of the same events, with an API request's provenance."""
    _setup_django()
    from ledger.provenance import Actor
    from ledger.services import apply_events

    events = [
        {
            "event_type": "bench",
            "deltas": {delta["character_id"]: {delta["axis_name"]: delta["delta"]}},
        }
        for delta in deltas
    ]
    started = time.perf_counter()
    apply_events(
        world_id="alpha",
        events=events,
        actor=Actor(name=f"load (key {key_prefix})", user_id=1, key=key_prefix),
        source="api",
        request_id=uuid.uuid4().hex,
    )
    return time.perf_counter() - started, 201


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_pattern(pool, clients, job, pools, count):
    """Run ``clients`` processes of ``job`` (a function and its leading arguments)."""
    function, *lead = job
    start_at = time.time() + 2.0  # every client has started and imported by then
    futures = [
        pool.submit(function, *lead, pools[c % len(pools)], count, start_at, c * 7919 + count)
        for c in range(clients)
    ]
    results = [future.result() for future in futures]
    latencies = [ms for result in results for ms in result[0]]
    statuses = {}
    for result in results:
        for status, n in result[1].items():
            statuses[status] = statuses.get(status, 0) + n
    elapsed = max(result[2] for result in results) - start_at
    return {
        "events": len(latencies),
        "rate": statuses.get("201", 0) / elapsed,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "statuses": statuses,
        "connections": sum(result[3] for result in results),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True, help="Dropped and re-created.")
    parser.add_argument("--characters", type=int, default=1000)
    parser.add_argument("--history", type=int, default=100_000, help="Events before measuring.")
    parser.add_argument("--events", type=int, default=150, help="Events per client and run.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", default="4,16")
    parser.add_argument("--tick", type=int, default=2000, help="Events in one batch.")
    parser.add_argument(
        "--batches",
        type=int,
        default=3,
        help="Batches per mode and run: one request is short, and one pair per run is noisy.",
    )
    parser.add_argument("--gunicorn", default=DEFAULT_GUNICORN, help="Gunicorn options.")
    args = parser.parse_args()

    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    name = args.database_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        "DATABASE_URL": args.database_url,
        "PIPEWORKS_WORLDS_DIR": str(WORLDS_DIR),
        # One key writes every event: the default limit (6000/min) would answer 429s.
        "PIPEWORKS_API_WRITE_RATE": "1000000/min",
    }
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    token = prepare(env, characters=args.characters)
    key_prefix = token.partition(".")[0]
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
    # The in-process writers run as the same settings as the server (CONN_MAX_AGE included).
    os.environ.update(env)
    clients = [int(n) for n in args.clients.split(",")]
    results = {
        "workers": WORKERS,
        "gunicorn": args.gunicorn,
        "cache": "redis" if env.get("REDIS_URL") else "database",
        "clients": clients,
        "characters": len(character_ids),
        "history": args.history,
        "events_per_client": args.events,
        "runs": args.runs,
        "tick": args.tick,
        "batches": args.runs * args.batches,
        "single": {},
        "batch": {"http": [], "inprocess": []},
    }
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        server = Gunicorn(
            {**env, "GUNICORN_CMD_ARGS": args.gunicorn},
            workers=WORKERS,
            log_path=Path(tmp) / "gunicorn.log",
        )
        try:
            for n in clients:
                pools = {
                    "disjoint": [character_ids[c::n] for c in range(n)],
                    "shared": [character_ids[:1]],
                }
                modes = {
                    "http": (http_client, server.url, token),
                    "inprocess": (inprocess_client, key_prefix),
                }
                with ProcessPoolExecutor(n, mp_context=context) as pool:
                    # Warm every worker and client process (imports, caches, statements).
                    for job in modes.values():
                        run_pattern(pool, n, job, pools["disjoint"], 5)
                    figures = {
                        pattern: {mode: [] for mode in modes} for pattern in ("disjoint", "shared")
                    }
                    for run in range(args.runs):
                        order = list(modes) if run % 2 == 0 else list(modes)[::-1]
                        for pattern in figures:
                            for mode in order:
                                figures[pattern][mode].append(
                                    run_pattern(pool, n, modes[mode], pools[pattern], args.events)
                                )
                results["single"][str(n)] = figures
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                tick = min(args.tick, len(character_ids))
                pool.submit(inprocess_batch, key_prefix, tick_events(character_ids, 10, 0)).result()
                http_batch(server.url, token, tick_events(character_ids, 10, 0))
                for pair in range(args.runs * args.batches):
                    deltas = tick_events(character_ids, tick, pair)
                    order = ["http", "inprocess"] if pair % 2 == 0 else ["inprocess", "http"]
                    for mode in order:
                        if mode == "http":
                            seconds, status = http_batch(server.url, token, deltas)
                        else:
                            seconds, status = pool.submit(
                                inprocess_batch, key_prefix, deltas
                            ).result()
                        results["batch"][mode].append(
                            {"seconds": seconds, "rate": tick / seconds, "status": status}
                        )
        finally:
            server.stop()
    results["verify"] = manage(env, "verify_ledger", "-v0").strip().splitlines()[-1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
