"""Write benchmarks for one database engine: apply_event against the raw-SQL floor.

Run by ``bench/run.py`` (``make bench``) in a process of its own per engine, against a
database that ``run.py`` prepared (migrated, synced, holding a generated ledger).
Prints one JSON document of figures on stdout.
"""

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.floor import Floor  # noqa: E402
from ledger.provenance import Actor  # noqa: E402
from ledger.services import apply_event, apply_events  # noqa: E402
from ledger.verification import verify_ledger  # noqa: E402
from worlds.models import Character  # noqa: E402

WORLD = "pipeworks_web"
AXES = {1: ["wealth"], 3: ["wealth", "health", "demeanor"]}
BENCH_ACTOR = Actor(name="bench-server", user_id=1)


def requests(rng, character_ids, k, count):
    return [
        (
            {
                rng.choice(character_ids): {
                    axis: round(rng.uniform(-0.1, 0.1), 4) for axis in AXES[k]
                }
            },
            {"source": "bench", "seq": str(i)},
        )
        for i in range(count)
    ]


def timed(apply, batch):
    started = time.perf_counter()
    for deltas, metadata in batch:
        apply(deltas, metadata)
    return len(batch) / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tick", type=int, default=2000, help="Events in one batch.")
    args = parser.parse_args()

    db = settings.DATABASES["default"]
    vendor = connection.vendor
    if vendor == "sqlite":
        floor = Floor(vendor=vendor, dsn=db["NAME"], synchronous=settings.SQLITE_SYNCHRONOUS)
    else:
        floor = Floor(vendor=vendor, dsn=os.environ["DATABASE_URL"])
    rng = random.Random(42)
    character_ids = list(Character.objects.filter(world=WORLD).values_list("pk", flat=True))

    def product(deltas, metadata):
        # With the provenance an API request records: a user, the channel, a request id.
        apply_event(
            world_id=WORLD,
            event_type="bench",
            deltas=deltas,
            metadata=metadata,
            actor=BENCH_ACTOR,
            source="api",
            request_id=uuid.uuid4().hex,
        )

    def raw(deltas, metadata):
        floor.apply(WORLD, "bench", deltas, metadata)

    product(*requests(rng, character_ids, 1, 1)[0])  # creates the event type, warms caches
    results = {"engine": vendor, "runs": args.runs, "events_per_run": args.events}
    for k in AXES:
        floor_rates, product_rates = [], []
        for run in range(args.runs):
            # Alternate which goes first, so drift on the machine hits both alike.
            order = [(raw, floor_rates), (product, product_rates)]
            for apply, rates in order if run % 2 == 0 else reversed(order):
                rates.append(timed(apply, requests(rng, character_ids, k, args.events)))
        results[f"floor_k{k}"] = floor_rates
        results[f"apply_event_k{k}"] = product_rates
        with CaptureQueriesContext(connection) as ctx:
            product(*requests(rng, character_ids, k, 1)[0])
        results[f"queries_k{k}"] = len(ctx.captured_queries)
    floor.close()

    # A world tick: one event per character, in one apply_events call, against the same
    # events applied one apply_event call each.
    tick_size = min(len(character_ids), args.tick)
    batch_rates, single_rates = [], []
    for _ in range(args.runs):
        tick = [
            {
                "event_type": "bench",
                "deltas": {cid: {"wealth": round(rng.uniform(-0.1, 0.1), 4)}},
                "metadata": {"source": "tick"},
            }
            for cid in rng.sample(character_ids, tick_size)
        ]
        started = time.perf_counter()
        apply_events(world_id=WORLD, events=tick)
        batch_rates.append(tick_size / (time.perf_counter() - started))
        singles = tick[: max(1, tick_size // 10)]
        started = time.perf_counter()
        for event in singles:
            apply_event(world_id=WORLD, **event)
        single_rates.append(len(singles) / (time.perf_counter() - started))
    results["tick_size"] = tick_size
    results["batch"] = batch_rates
    results["batch_single"] = single_rates
    verification = verify_ledger()
    results["verify_clean"] = verification.clean
    results["verify_deltas"] = verification.deltas
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
