"""The world statistics (the world page's tuning panels and ``GET /admin/worlds/{id}/stats``)
on a small and a large ledger whose default window holds the same number of events.

Runs in a process of its own against a database ``bench/run.py`` prepared
(section ``stats``): both ledgers have the same population (10,000 characters, or 2,000
with ``--quick``) and differ only in history; ``generate_ledger --span-days`` spreads
their events so the last 7 days hold about the same number of events (the small ledger
over 14 days: its genesis events in the first week, the rest in the window; the large
one over 700 days). Requests go in-process through ``django.test.Client`` as a superuser.
Prints one JSON document: per request, p50 and p99 latency of each run, the p50 of the
time spent in SQL, the queries of one request and the events its window holds; and the
two parts of the work timed alone (the distributions, the 7-day window statistics).
"""

import argparse
import json
import os
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

from bench.reads import get, percentile  # noqa: E402
from ledger.models import Event, EventEntityAxisDelta  # noqa: E402
from ledger.stats import window_statistics, world_distributions  # noqa: E402
from worlds.models import Character, World  # noqa: E402

WORLD = "pipeworks_web"
REQUESTS = {
    "world page": (f"/admin/worlds/world/{WORLD}/change/", True),
    "stats endpoint": (f"/admin/worlds/{WORLD}/stats", True),
    "stats endpoint, window 30d": (f"/admin/worlds/{WORLD}/stats?window=30d", False),
    "stats endpoint, window all": (f"/admin/worlds/{WORLD}/stats?window=all", False),
}
"""Name: (URL, default window). The wide windows are timed with fewer requests."""


def measure(args):
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    world = World.objects.get(pk=WORLD)
    results = {
        "engine": connection.vendor,
        "events": Event.objects.count(),
        "deltas": EventEntityAxisDelta.objects.count(),
        "characters": Character.objects.filter(world=world).count(),
        "requests": args.requests,
        "runs": args.runs,
        "endpoints": {},
        "parts": {},
    }
    for name, (url, _) in REQUESTS.items():
        get(client, url)  # warm: the registry cache, the database's buffers
        with CaptureQueriesContext(connection) as ctx:
            response = get(client, url)
        events = None
        if "/stats" in url:
            events = json.loads(response.content)["events"]
        results["endpoints"][name] = {
            "queries": len(ctx.captured_queries),
            "window_events": events,
            "bytes": len(response.content),
            "p50": [],
            "p99": [],
            "sql_p50": [],
        }

    sql = [0.0]

    def timed_sql(execute, *arguments):
        started = time.perf_counter()
        try:
            return execute(*arguments)
        finally:
            sql[0] += time.perf_counter() - started

    names = list(REQUESTS)
    for run in range(args.runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            url, default = REQUESTS[name]
            if not default and run:
                continue  # the wide windows: one run
            count = args.requests if default else args.wide_requests
            latencies, sql_times = [], []
            with connection.execute_wrapper(timed_sql):
                for _ in range(count):
                    sql[0] = 0.0
                    started = time.perf_counter()
                    get(client, url)
                    latencies.append((time.perf_counter() - started) * 1000)
                    sql_times.append(sql[0] * 1000)
            figures = results["endpoints"][name]
            figures["p50"].append(percentile(latencies, 0.50))
            figures["p99"].append(percentile(latencies, 0.99))
            figures["sql_p50"].append(percentile(sql_times, 0.50))

    for part, call in (
        ("distributions", lambda: world_distributions(world)),
        ("window 7d", lambda: window_statistics(world, window="7d")),
    ):
        times = []
        for _ in range(args.requests):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        results["parts"][part] = statistics.median(times)
    print(json.dumps(results))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=30, help="Per endpoint and run.")
    parser.add_argument("--wide-requests", type=int, default=5, help="For the 30d/all windows.")
    parser.add_argument("--runs", type=int, default=3)
    measure(parser.parse_args())


if __name__ == "__main__":
    main()
