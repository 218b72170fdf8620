"""Read benchmarks for one database engine: the API and the inspector on the current ledger.

Run by ``bench/run.py`` (``make bench``) in a process of its own, once per ledger size,
against a database it prepared. Requests go in-process through ``django.test.Client``
(the whole middleware stack, no network), logged in as a superuser with ``force_login``,
each to a random character. Prints one JSON document of figures on stdout: per endpoint,
p50 and p99 latency of each run, the p50 of the time spent in SQL, the queries one
request runs and the response size.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from ledger.models import Event, EventEntityAxisDelta  # noqa: E402
from worlds.models import Character  # noqa: E402

WORLD = "pipeworks_web"
ENDPOINTS = {
    "axis-events": lambda c, e: f"/admin/characters/{c}/axis-events?limit=50",
    "axis-state": lambda c, e: f"/admin/characters/{c}/axis-state",
    "axis-state as_of": lambda c, e: f"/admin/characters/{c}/axis-state?as_of={e}",
    "admin character page": lambda c, e: f"/admin/worlds/character/{c}/change/",
    "admin event list": lambda c, e: "/admin/ledger/event/",
}
QUERY_SAMPLES = 5


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def targets(rng, character_ids, count):
    """(character id, one of its event ids) for ``count`` random characters."""
    chosen = [rng.choice(character_ids) for _ in range(count)]
    result = []
    for character_id in chosen:
        events = list(
            EventEntityAxisDelta.objects.filter(character_id=character_id)
            .values_list("event_id", flat=True)
            .distinct()
        )
        result.append((character_id, rng.choice(events)))
    return result


def get(client, url):
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code}\n{response.content[:2000]!r}")
    return response


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200, help="Requests per endpoint and run.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    rng = random.Random(args.seed)
    character_ids = list(Character.objects.filter(world=WORLD).values_list("pk", flat=True))

    warm = targets(rng, character_ids, 5)
    results = {
        "engine": connection.vendor,
        "events": Event.objects.count(),
        "deltas": EventEntityAxisDelta.objects.count(),
        "characters": len(character_ids),
        "requests": args.requests,
        "runs": args.runs,
        "endpoints": {},
    }
    for name, url in ENDPOINTS.items():
        for character_id, event_id in warm:
            get(client, url(character_id, event_id))
        counts, sizes = set(), []
        for character_id, event_id in warm[:QUERY_SAMPLES]:
            with CaptureQueriesContext(connection) as ctx:
                response = get(client, url(character_id, event_id))
            counts.add(len(ctx.captured_queries))
            sizes.append(len(response.content))
        results["endpoints"][name] = {
            "queries": sorted(counts),
            "bytes": statistics.median(sizes),
            "p50": [],
            "p99": [],
            "sql_p50": [],
        }

    sql = [0.0]

    def timed_sql(execute, *args):
        started = time.perf_counter()
        try:
            return execute(*args)
        finally:
            sql[0] += time.perf_counter() - started

    names = list(ENDPOINTS)
    for run in range(args.runs):
        batch = targets(rng, character_ids, args.requests)
        # Rotate the order so drift on the machine does not always hit the same endpoint.
        for name in names[run % len(names) :] + names[: run % len(names)]:
            url = ENDPOINTS[name]
            latencies, sql_times = [], []
            with connection.execute_wrapper(timed_sql):
                for character_id, event_id in batch:
                    sql[0] = 0.0
                    started = time.perf_counter()
                    get(client, url(character_id, event_id))
                    latencies.append((time.perf_counter() - started) * 1000)
                    sql_times.append(sql[0] * 1000)
            figures = results["endpoints"][name]
            figures["p50"].append(percentile(latencies, 0.50))
            figures["p99"].append(percentile(latencies, 0.99))
            figures["sql_p50"].append(percentile(sql_times, 0.50))
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
