"""What PgBouncer's transaction pooling and its settings cost the write path.

Runnable alone: ``.venv/bin/python bench/pooling.py [--events 1000] [--rounds 3]``. It
starts a private PostgreSQL cluster and a private PgBouncer in transaction pooling mode
in front of it (``tests/pgcluster.py``, ``tests/pgbouncer.py``; never the machine's
servers), prepares one database (the fixture world ``alpha``, 100 characters), and times
``apply_event`` in-process (one delta on a random character, one event per transaction,
one connection) in a child process per configuration, all against the same database:

- ``direct``: straight to PostgreSQL with the product's defaults (server-side binding,
  statements prepared by name after 5 executions), the baseline of every ratio;
- ``direct_client_binding``: ``PIPEWORKS_PG_SERVER_SIDE_BINDING=0``;
- ``direct_unprepared``: ``PIPEWORKS_PG_PREPARE_THRESHOLD=off``, what PgBouncer 1.18 in
  transaction mode needs;
- ``pgbouncer``: through PgBouncer with the product's configuration for it
  (``PIPEWORKS_PGBOUNCER=transaction``: binding on, nothing prepared);
- ``pgbouncer_client_binding``: through PgBouncer, binding off.

Configurations take turns, the first rotating each round, so drift on the machine hits
them alike; each figure is the median of its rounds. Prints one JSON document on stdout
(``events_per_second`` per configuration, ``ratio`` against ``direct``).
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORLDS = ROOT / "tests" / "fixtures" / "worlds"
DATABASE = "pooling_bench"
CHARACTERS = 100
WARM_UP = 50


def child(events: int) -> None:
    """Time ``events`` apply_event calls with this process's settings; print events/s."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")
    import django

    django.setup()
    from ledger.provenance import Actor
    from ledger.services import apply_event
    from worlds.models import Character

    actor = Actor.command()
    characters = list(Character.objects.filter(world_id="alpha").values_list("pk", flat=True))
    rng = random.Random(events)

    def one() -> None:
        apply_event(
            world_id="alpha",
            event_type="bench_pooling",
            deltas={rng.choice(characters): {"wealth": rng.choice((0.01, -0.01))}},
            actor=actor,
        )

    for _ in range(WARM_UP):
        one()
    started = time.perf_counter()
    for _ in range(events):
        one()
    print(json.dumps({"events_per_second": events / (time.perf_counter() - started)}))


def run_child(env: dict, events: int) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--child", "--events", str(events)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["events_per_second"]


def manage(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=600,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.events)
        return

    sys.path.insert(0, str(ROOT))
    from tests.pgbouncer import private_pgbouncer, version
    from tests.pgcluster import private_cluster

    base = {
        "PIPEWORKS_WORLDS_DIR": str(WORLDS),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "pipeworks-bench-only-" + "x" * 40,
        "DEBUG": "0",
        "PIPEWORKS_PGBOUNCER": "off",
        "PGSSLMODE": "disable",
    }
    with private_cluster() as cluster, private_pgbouncer(cluster, pool_size=4) as bouncer:
        cluster.psql(f"CREATE DATABASE {DATABASE}")
        direct = cluster.url(dbname=DATABASE)
        pooled = bouncer.url(dbname=DATABASE)
        prepare = {**base, "DATABASE_URL": direct}
        manage(prepare, "migrate", "-v0")
        manage(prepare, "sync_policies", "alpha", "-v0")
        manage(
            prepare,
            "generate_ledger",
            "--i-know-this-is-not-production",
            "--world",
            "alpha",
            "--characters",
            str(CHARACTERS),
            "--events",
            str(CHARACTERS),
            "-v0",
        )
        configurations = {
            "direct": {"DATABASE_URL": direct},
            "direct_client_binding": {
                "DATABASE_URL": direct,
                "PIPEWORKS_PG_SERVER_SIDE_BINDING": "0",
            },
            "direct_unprepared": {
                "DATABASE_URL": direct,
                "PIPEWORKS_PG_PREPARE_THRESHOLD": "off",
            },
            "pgbouncer": {"DATABASE_URL": pooled, "PIPEWORKS_PGBOUNCER": "transaction"},
            "pgbouncer_client_binding": {
                "DATABASE_URL": pooled,
                "PIPEWORKS_PGBOUNCER": "transaction",
                "PIPEWORKS_PG_SERVER_SIDE_BINDING": "0",
            },
        }
        names = list(configurations)
        runs: dict[str, list[float]] = {name: [] for name in names}
        for round_number in range(options.rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                env = {**base, **configurations[name]}
                runs[name].append(run_child(env, options.events))
        pgbouncer_version = ".".join(map(str, version()))

    medians = {name: statistics.median(values) for name, values in runs.items()}
    print(
        json.dumps(
            {
                "benchmark": "pooling",
                "events_per_run": options.events,
                "rounds": options.rounds,
                "pgbouncer": pgbouncer_version,
                "load": os.getloadavg()[0],
                "events_per_second": {name: round(value, 1) for name, value in medians.items()},
                "ratio": {
                    name: round(value / medians["direct"], 3) for name, value in medians.items()
                },
                "runs": {name: [round(v, 1) for v in values] for name, values in runs.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
