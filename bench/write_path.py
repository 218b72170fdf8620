"""The write path: apply_event against today's floor and the minimal floor, in one run.

Run by ``bench/run.py`` (section ``write_path``) in a process of its own per engine,
against a database holding the world ``write_bench`` (``write_world``: 8 axes) with 1,000
characters and some history. One event per transaction on one random character, k = 1
and 3 random axes, deltas of +-0.01, 2 metadata keys; the three writers take turns, the
first of each run rotating, so drift on the machine hits them alike. Prints one JSON
document of figures on stdout.
"""

import argparse
import json
import os
import random
import shutil
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORLD = "write_bench"
SOURCE_WORLD = ROOT / "data" / "worlds" / "pipeworks_web"
EXTRA_AXES = ("stamina", "focus")  # pipeworks_web has 6 axes; the world has 8
KS = (1, 3)


def write_world(worlds_dir: Path) -> Path:
    """Write the world ``write_bench`` into ``worlds_dir``: pipeworks_web and 2 numeric axes."""
    target = Path(worlds_dir) / WORLD
    shutil.copytree(SOURCE_WORLD, target)
    axes_file = target / "policies" / "axes.yaml"
    text = axes_file.read_text().rstrip("\n") + "\n"
    for axis in EXTRA_AXES:
        text += f"  {axis}:\n    ordering:\n      type: numeric\n"
    axes_file.write_text(text)
    return target


def main():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")
    import django

    django.setup()

    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from axes.models import Axis
    from bench.floor import Floor
    from bench.minimal_floor import MinimalFloor
    from ledger.provenance import Actor
    from ledger.services import apply_event
    from ledger.verification import verify_ledger
    from worlds.models import Character

    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    vendor = connection.vendor
    if vendor == "sqlite":
        # synchronous=FULL on both sides: the product's default, and the floors'.
        assert settings.SQLITE_SYNCHRONOUS == "FULL"
        dsn = settings.DATABASES["default"]["NAME"]
    else:
        dsn = os.environ["DATABASE_URL"]
    actor = Actor(name="bench-server", user_id=1)
    rng = random.Random(15)
    character_ids = list(Character.objects.filter(world=WORLD).values_list("pk", flat=True))
    axes = sorted(Axis.objects.filter(world=WORLD, is_active=True).values_list("name", flat=True))
    assert len(axes) == 8, axes

    def events(k, count):
        return [
            (
                rng.choice(character_ids),
                {axis: rng.choice((-0.01, 0.01)) for axis in rng.sample(axes, k)},
                {"source": "bench", "seq": str(i)},
            )
            for i in range(count)
        ]

    def product(character_id, deltas, metadata):
        # With the provenance an API request records: a user, the channel, a request id.
        apply_event(
            world_id=WORLD,
            event_type="bench",
            deltas={character_id: deltas},
            metadata=metadata,
            actor=actor,
            source="api",
            request_id=uuid.uuid4().hex,
        )

    product(*events(1, 1)[0])  # creates the event type, warms the caches
    today = Floor(vendor=vendor, dsn=dsn)
    minimal = MinimalFloor(vendor=vendor, dsn=dsn, world_id=WORLD, event_type="bench")

    def today_floor(character_id, deltas, metadata):
        today.apply(WORLD, "bench", {character_id: deltas}, metadata)

    def minimal_floor(character_id, deltas, metadata):
        minimal.apply(
            character_id,
            deltas,
            metadata,
            actor_user_id=actor.user_id,
            actor_name=actor.name,
            request_id=uuid.uuid4().hex,
        )

    writers = {"apply_event": product, "floor": today_floor, "minimal": minimal_floor}
    results = {
        "engine": vendor,
        "runs": args.runs,
        "events_per_run": args.events,
        "characters": len(character_ids),
        "axes": len(axes),
    }
    for k in KS:
        rates = {name: [] for name in writers}
        for run in range(args.runs):
            names = list(writers)
            names = names[run % len(names) :] + names[: run % len(names)]
            for name in names:
                batch = events(k, args.events)
                started = time.perf_counter()
                for event in batch:
                    writers[name](*event)
                rates[name].append(len(batch) / (time.perf_counter() - started))
        for name, values in rates.items():
            results[f"{name}_k{k}"] = values
        with CaptureQueriesContext(connection) as ctx:
            product(*events(k, 1)[0])
        results[f"queries_k{k}"] = len(ctx.captured_queries)
    today.close()
    minimal.close()
    verification = verify_ledger()
    results["verify_clean"] = verification.clean
    results["verify_deltas"] = verification.deltas
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
