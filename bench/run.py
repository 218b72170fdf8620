"""`make bench`: prepare benchmark databases, run every workload, write bench/results.md.

Each engine gets a fresh database (a temporary SQLite file; PostgreSQL database
``pipeworks_bench`` at ``BENCH_DATABASE_URL``), migrated, synced and holding a generated
ledger, so no figure is taken against empty tables. Each workload runs in a process of its
own and prints JSON. Figures with a target are printed as ratios against a baseline
measured in the same run, since absolute rates drift by up to 30% on these machines.

Sections (``--only`` picks some):

- ``writes``: ``bench/workloads.py``, apply_event against the raw-SQL floor, and batches.
- ``write_path``: ``bench/write_path.py``, apply_event against today's floor
  (``bench/floor.py``, its own statements) and the minimal floor
  (``bench/minimal_floor.py``, the fewest statements) on the world ``write_bench`` (8 axes,
  1,000 characters with some history), SQLite with ``synchronous=FULL`` on all sides. The
  PostgreSQL database (``pipeworks_bench_write_path``) is dropped afterwards.
- ``scale``: one ledger per engine, grown in stages (``SCALE_STAGES``); at each stage the
  reads (``bench/reads.py``) and/or the maintenance commands (``bench/maintenance.py``),
  then the policy sync workloads (``bench/policies.py``) on the biggest ledger.
- ``http``: concurrent writers through gunicorn on PostgreSQL (``bench/http_writers.py``),
  and API writes over keep-alive connections against the same writes in-process, 4 and 16
  clients, and the batch endpoint against ``apply_events`` (``bench/http_api.py``; with
  ``REDIS_URL`` in the environment the server caches in Redis).
- ``drift``: one ledger per engine with the world ``drift_bench`` (three drifting axes),
  grown in stages (``DRIFT_STAGES``); at each stage ``bench/drift.py measure``:
  apply_drift against apply_events, memory, catch-up rows, chunk sizes and the hold-up
  of writers during a run. The PostgreSQL database (``pipeworks_bench_drift``) is dropped
  afterwards.
- ``capacity``: the measured capacity model on servers of its own (PostgreSQL only,
  ``bench/capacity.py``): reads on a primary against a primary and its streaming
  replica, 16 writers straight to PostgreSQL and through PgBouncer, the PostgreSQL and
  gunicorn CPU they cost, and the ledger's bytes per row and per index.

The figures are written as Markdown by ``bench/report.py``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.drift import write_world  # noqa: E402
from bench.report import write_results  # noqa: E402
from bench.write_path import WORLD as WRITE_PATH_WORLD  # noqa: E402
from bench.write_path import write_world as write_path_world  # noqa: E402

PYTHON = sys.executable
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pipeworks_bench")
SECTIONS = ("writes", "write_path", "scale", "http", "drift", "stats", "capacity")
# Every process runs with DEBUG off, as production does (DEBUG records every query), so
# it needs a real SECRET_KEY; the scratch databases get this public bench-only one, and
# generate_ledger its --i-know-this-is-not-production flag.
BENCH_SECRET_KEY = "pipeworks-bench-only-not-a-secret-3d9b6e1f7a2c5e8b0d4f6a9c1e3b5d7f"  # noqa: S105

# The growing ledger: (label, generate_ledger arguments, measure reads, measure maintenance).
# Reads compare characters with the same history at both sizes: the 10k ledger has 100
# characters of ~110 events each, the 1M ledger 10,000 such characters (the ledger of
# PERFORMANCE-NOTES). With 10,000 characters at 10k events each would have one event,
# and the ratio would measure pages of 1 event against pages of 50, not the ledger.
# Maintenance compares a stable population (10,000 characters) whose histories grow
# tenfold (--existing), since its memory may grow with characters x axes, not events.
SCALE_STAGES = {
    "full": [
        ("10k", ["--characters", "100", "--events", "10000"], True, False),
        ("100k", ["--characters", "9900", "--events", "90000"], False, True),
        ("1M", ["--existing", "--events", "900000"], True, True),
    ],
    "quick": [
        ("10k", ["--characters", "100", "--events", "10000"], True, True),
        ("100k", ["--existing", "--events", "90000"], True, True),
    ],
}


# The drift stages: (characters in the world, extra `bench/drift.py measure` arguments).
# Memory must not grow more than 1.5x from the first stage to the last; the chunk sizes
# and the hold-up are measured on the biggest world only.
DRIFT_STAGES = {
    "full": [
        (10_000, []),
        (100_000, ["--chunks", "500,1000,2000,5000", "--holdup", "1000,2000"]),
    ],
    "quick": [
        (2_000, []),  # one whole chunk: the working set of a run is a chunk's
        (10_000, ["--chunks", "500,2000", "--holdup", "2000"]),
    ],
}


def run(args, env, capture=False):
    result = subprocess.run(
        [PYTHON, *args],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "0", "SECRET_KEY": BENCH_SECRET_KEY, **env},
        text=True,
        capture_output=capture,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(
            f"failed: {' '.join(args)}\n{result.stdout if capture else ''}{result.stderr or ''}"
        )
    return result.stdout


def migrate(env):
    run(["manage.py", "migrate", "-v0"], env)
    run(["manage.py", "sync_policies", "-v0"], env)


def prepare(env, characters, events):
    migrate(env)
    run(
        [
            "manage.py",
            "generate_ledger",
            "--i-know-this-is-not-production",
            "--characters",
            str(characters),
            "--events",
            str(events),
            "-v0",
        ],
        env,
    )


def postgres_env(url=PG_URL):
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return {"DATABASE_URL": url}


def drop_postgres(url):
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def vacuum_analyze(env):
    """On PostgreSQL, do what autovacuum does soon after a bulk load: fresh statistics."""
    if not env["DATABASE_URL"].startswith("postgres"):
        return
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def scale(env, engine, *, quick):
    """Grow one ledger stage by stage, measuring reads and maintenance; then policy sync."""
    figures = {"stages": [], "reads": {}, "maintenance": {}}
    migrate(env)
    for label, arguments, reads, maintenance in SCALE_STAGES["quick" if quick else "full"]:
        print(f"[{engine}] ledger to {label}: generate_ledger {' '.join(arguments)}", flush=True)
        started = time.perf_counter()
        run(
            ["manage.py", "generate_ledger", "--i-know-this-is-not-production", *arguments, "-v0"],
            env,
        )
        vacuum_analyze(env)
        figures["stages"].append((label, " ".join(arguments), time.perf_counter() - started))
        if reads:
            requests = "60" if quick else "200"
            print(f"[{engine}] reads at {label}: {requests} requests x 3 runs", flush=True)
            out = run(["bench/reads.py", "--requests", requests, "--runs", "3"], env, True)
            figures["reads"][label] = json.loads(out)
        if maintenance:
            print(f"[{engine}] verify_ledger and rebuild_scores at {label}", flush=True)
            out = run(["bench/maintenance.py", "--runs", "1" if quick else "3"], env, True)
            figures["maintenance"][label] = json.loads(out)
    print(f"[{engine}] policy sync: 100 worlds, then a change in pipeworks_web", flush=True)
    out = run(["bench/policies.py", "--worlds", "100", "--runs", "3"], env, True)
    figures["policies"] = json.loads(out)
    return figures


def drift(env, engine, tmp, *, quick):
    """Grow a world with three drifting axes stage by stage; measure drift at each."""
    worlds = Path(tmp) / f"drift-worlds-{engine}"
    write_world(worlds)
    env = {**env, "PIPEWORKS_WORLDS_DIR": str(worlds)}
    migrate(env)
    figures = {}
    have = 0
    for characters, arguments in DRIFT_STAGES["quick" if quick else "full"]:
        new = characters - have
        print(f"[{engine}] drift world to {characters:,} characters", flush=True)
        run(
            [
                "manage.py",
                "generate_ledger",
                "--i-know-this-is-not-production",
                "--world",
                "drift_bench",
                "--characters",
                str(new),
                "--events",
                str(2 * new),  # a genesis and about one more event per character
                "-v0",
            ],
            env,
        )
        have = characters
        vacuum_analyze(env)
        print(f"[{engine}] drift at {characters:,} characters {' '.join(arguments)}", flush=True)
        runs = "1" if quick else "3"
        out = run(["bench/drift.py", "measure", "--runs", runs, *arguments], env, True)
        figures[str(characters)] = json.loads(out)
    return figures


def write_path(env, engine, tmp, *, quick):
    """apply_event against both floors on a world of 8 axes and 1,000 characters."""
    worlds = Path(tmp) / f"write-path-worlds-{engine}"
    write_path_world(worlds)
    # synchronous=FULL on both sides, whatever the environment says.
    env = {**env, "PIPEWORKS_WORLDS_DIR": str(worlds), "PIPEWORKS_SQLITE_SYNCHRONOUS": "FULL"}
    migrate(env)
    print(f"[{engine}] write path: world {WRITE_PATH_WORLD}, 1,000 characters", flush=True)
    run(
        [
            "manage.py",
            "generate_ledger",
            "--i-know-this-is-not-production",
            "--world",
            WRITE_PATH_WORLD,
            "--characters",
            "1000",
            "--events",
            "20000",  # a genesis and about 19 more events per character
            "-v0",
        ],
        env,
    )
    vacuum_analyze(env)
    events = "300" if quick else "1000"
    print(f"[{engine}] write path: {events} events x 3 runs per writer and k", flush=True)
    out = run(["bench/write_path.py", "--events", events, "--runs", "3"], env, True)
    return json.loads(out)


# The statistics ledgers: (label, characters, events, days their events span). The same
# population, and about the same number of events in the default 7-day window: the small
# ledger's genesis events fill its first week, the rest the window; the large one's
# window holds 7/700 of its events.
STATS_STAGES = {
    "full": [("20k", 10_000, 20_000, 14), ("1M", 10_000, 1_000_000, 700)],
    "quick": [("4k", 2_000, 4_000, 14), ("200k", 2_000, 200_000, 700)],
}


def world_stats(engine, tmp, *, quick):
    """Measure the world statistics on a small and a large ledger, each in a fresh database."""
    figures = {}
    for label, characters, events, days in STATS_STAGES["quick" if quick else "full"]:
        if engine == "sqlite":
            env = {"DATABASE_URL": f"sqlite:///{tmp}/stats-{label}.sqlite3"}
        else:
            env = postgres_env(PG_URL + "_stats")
        try:
            migrate(env)
            print(f"[{engine}] statistics ledger {label}: {events:,} events over {days} days")
            started = time.perf_counter()
            run(
                [
                    "manage.py",
                    "generate_ledger",
                    "--i-know-this-is-not-production",
                    *("--characters", str(characters), "--events", str(events)),
                    *("--span-days", str(days), "-v0"),
                ],
                env,
            )
            vacuum_analyze(env)
            built = time.perf_counter() - started
            print(f"[{engine}] statistics at {label}", flush=True)
            out = run(["bench/stats.py", "--requests", "10" if quick else "30"], env, True)
            figures[label] = {**json.loads(out), "days": days, "built_s": built}
        finally:
            if engine != "sqlite":
                drop_postgres(env["DATABASE_URL"])
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Small sizes, for a smoke run.")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--only", default=",".join(SECTIONS), help="Sections to run.")
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "bench" / "results.md",
        help="Where to write the report (a partial run should not replace bench/results.md).",
    )
    args = parser.parse_args()
    sections = args.only.split(",")
    events = 200 if args.quick else 1000
    base = (200, 5000) if args.quick else (2000, 50000)

    report = {
        "writes": {},
        "write_path": {},
        "scale": {},
        "http": None,
        "drift": {},
        "stats": {},
        "capacity": None,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engines.split(","):
            if "writes" in sections:
                env = (
                    {"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3"}
                    if engine == "sqlite"
                    else postgres_env()
                )
                print(f"[{engine}] preparing: {base[0]} characters, {base[1]} events", flush=True)
                prepare(env, *base)
                print(f"[{engine}] write workloads: {events} events x 3 runs", flush=True)
                out = run(["bench/workloads.py", "--events", str(events), "--runs", "3"], env, True)
                report["writes"][engine] = json.loads(out)
            if "write_path" in sections:
                if engine == "sqlite":
                    env = {"DATABASE_URL": f"sqlite:///{tmp}/write_path.sqlite3"}
                else:
                    env = postgres_env(PG_URL + "_write_path")
                try:
                    report["write_path"][engine] = write_path(env, engine, tmp, quick=args.quick)
                finally:
                    if engine != "sqlite":
                        drop_postgres(env["DATABASE_URL"])
            if "scale" in sections:
                env = (
                    {"DATABASE_URL": f"sqlite:///{tmp}/scale.sqlite3"}
                    if engine == "sqlite"
                    else postgres_env()
                )
                report["scale"][engine] = scale(env, engine, quick=args.quick)
            if "drift" in sections:
                if engine == "sqlite":
                    env = {"DATABASE_URL": f"sqlite:///{tmp}/drift.sqlite3"}
                else:
                    env = postgres_env(PG_URL + "_drift")
                try:
                    report["drift"][engine] = drift(env, engine, tmp, quick=args.quick)
                finally:
                    if engine != "sqlite":
                        drop_postgres(env["DATABASE_URL"])
            if "stats" in sections:
                report["stats"][engine] = world_stats(engine, tmp, quick=args.quick)
    if "http" in sections and "postgresql" in args.engines.split(","):
        print("[postgresql] concurrent writers over HTTP: gunicorn, 4 workers, 4 clients")
        arguments = ["--database-url", PG_URL + "_http"]
        if args.quick:
            arguments += ["--history", "20000", "--events", "50", "--runs", "1"]
        else:
            arguments += ["--history", "100000", "--events", "150", "--runs", "3"]
        report["http"] = json.loads(run(["bench/http_writers.py", *arguments], {}, True))
        print("[postgresql] API writes over keep-alive HTTP against in-process, and the batch")
        arguments = ["--database-url", PG_URL + "_http_api"]
        if args.quick:
            arguments += ["--history", "20000", "--events", "50", "--runs", "1"]
        else:
            arguments += ["--history", "100000", "--events", "150", "--runs", "3"]
        report["http_api"] = json.loads(run(["bench/http_api.py", *arguments], {}, True))
    if "capacity" in sections and "postgresql" in args.engines.split(","):
        print("[postgresql] capacity: a private primary, its replica, PgBouncer, gunicorn")
        arguments = ["--events", "10000", "--seconds", "5", "--runs", "1"] if args.quick else []
        report["capacity"] = json.loads(run(["bench/capacity.py", *arguments], {}, True))
    report["minutes"] = (time.perf_counter() - started) / 60
    write_results(report, quick=args.quick, path=args.output)


if __name__ == "__main__":
    main()
