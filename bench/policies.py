"""Policy sync benchmarks: a no-op sync of many worlds, and a change that re-derives snapshots.

Run by ``bench/run.py`` (``make bench``) in a process of its own, last on a database that
holds the big ledger (its ``pipeworks_web`` world has every generated character). In
process, so ``CaptureQueriesContext`` can count the statements.

1. ``--worlds`` copies of the fixture world ``alpha`` in a temporary PIPEWORKS_WORLDS_DIR:
   one sync creates them, then each further sync must write nothing; it is timed and its
   write statements (INSERT, UPDATE, DELETE) counted.
2. A copy of ``pipeworks_web`` whose wealth description changes on every run: each sync
   re-derives the snapshot of every character of the world; timed.

Prints one JSON document on stdout.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from worlds.models import Character  # noqa: E402
from worlds.services import sync_world_policies  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "worlds" / "alpha"
CHANGED_WORLD = "pipeworks_web"
WRITES = ("INSERT", "UPDATE", "DELETE")


def writes(captured):
    return sum(1 for query in captured if query["sql"].lstrip().upper().startswith(WRITES))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {"worlds": args.worlds, "runs": args.runs}
    with tempfile.TemporaryDirectory() as tmp:
        many = Path(tmp) / "many"
        for i in range(args.worlds):
            shutil.copytree(FIXTURE, many / f"bench_world_{i:03d}")
        with override_settings(PIPEWORKS_WORLDS_DIR=many):
            started = time.perf_counter()
            first = sync_world_policies()
            results["first_sync_seconds"] = time.perf_counter() - started
            results["first_sync_changed"] = sum(plan.changed for plan in first.plans)
            seconds, statements, written = [], [], []
            for _ in range(args.runs):
                with CaptureQueriesContext(connection) as ctx:
                    started = time.perf_counter()
                    again = sync_world_policies()
                    seconds.append(time.perf_counter() - started)
                assert not again.changed
                statements.append(len(ctx.captured_queries))
                written.append(writes(ctx.captured_queries))
            results["noop_seconds"] = seconds
            results["noop_statements"] = statements
            results["noop_writes"] = written

        one = Path(tmp) / "one"
        shutil.copytree(ROOT / "data" / "worlds" / CHANGED_WORLD, one / CHANGED_WORLD)
        axes_file = one / CHANGED_WORLD / "policies" / "axes.yaml"
        original = axes_file.read_text()
        marker = "description: Money, goods and property at hand."
        assert marker in original, "the wealth description moved; update bench/policies.py"
        results["characters"] = Character.objects.filter(world=CHANGED_WORLD).count()
        seconds, snapshots, written = [], [], []
        with override_settings(PIPEWORKS_WORLDS_DIR=one):
            for run in range(args.runs):
                axes_file.write_text(original.replace(marker, f"{marker} (bench {run})"))
                with CaptureQueriesContext(connection) as ctx:
                    started = time.perf_counter()
                    result = sync_world_policies(world_ids=[CHANGED_WORLD])
                    seconds.append(time.perf_counter() - started)
                (plan,) = result.plans
                assert plan.changed
                snapshots.append(plan.characters)
                written.append(writes(ctx.captured_queries))
        results["change_seconds"] = seconds
        results["change_snapshots"] = snapshots
        results["change_writes"] = written
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
