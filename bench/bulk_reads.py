"""Loading many characters: one bulk call per 500 against one request per character.

Run by ``bench/run.py`` (``make bench``, section ``bulk``) against a database it prepared
(migrated, synced, a generated ledger of at least ``--characters`` characters in the
world ``pipeworks_web``). Requests go in-process through ``django.test.Client`` (the whole
middleware stack, no network), as a superuser. In each run, alternating which goes
first: ``--characters`` single ``GET /admin/characters/{id}/axis-state`` requests, then
the same characters through ``GET /admin/worlds/{world}/characters`` (pages of 500 with
``after``, and the same with ``ids=``). Prints one JSON document: the time of each way
per run, the queries per request, and the ratio of single to bulk.
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

from ledger.selectors import MAX_CHARACTER_STATES  # noqa: E402
from worlds.models import Character  # noqa: E402

WORLD = "pipeworks_web"


def get(client, url):
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code}\n{response.content[:2000]!r}")
    return response.json()


def singles(client, ids):
    for character_id in ids:
        get(client, f"/admin/characters/{character_id}/axis-state")
    return len(ids)


def pages(client, ids):
    loaded, after = 0, ids[0] - 1
    while loaded < len(ids):
        limit = min(MAX_CHARACTER_STATES, len(ids) - loaded)
        body = get(client, f"/admin/worlds/{WORLD}/characters?after={after}&limit={limit}")
        loaded += len(body["characters"])
        after = body["next_after"]
    return loaded


def by_ids(client, ids):
    loaded = 0
    for start in range(0, len(ids), MAX_CHARACTER_STATES):
        chunk = ",".join(str(i) for i in ids[start : start + MAX_CHARACTER_STATES])
        loaded += len(get(client, f"/admin/worlds/{WORLD}/characters?ids={chunk}")["characters"])
    return loaded


WAYS = {"single requests": singles, "bulk pages": pages, "bulk ids": by_ids}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--characters", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    ids = list(Character.objects.filter(world=WORLD).order_by("pk").values_list("pk", flat=True))[
        : args.characters
    ]
    if len(ids) < args.characters:
        raise SystemExit(f"the world has {len(ids)} characters, fewer than {args.characters}")

    figures = {"engine": connection.vendor, "characters": len(ids), "ways": {}}
    for name, way in WAYS.items():
        way(client, ids[:10])  # warm the caches and the connection
        with CaptureQueriesContext(connection) as ctx:
            way(client, ids[:2])
        figures["ways"][name] = {"queries for 2 characters": len(ctx.captured_queries), "ms": []}
    names = list(WAYS)
    for run in range(args.runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            started = time.perf_counter()
            assert WAYS[name](client, ids) == len(ids)
            figures["ways"][name]["ms"].append((time.perf_counter() - started) * 1000)
    single = statistics.median(figures["ways"]["single requests"]["ms"])
    for name in ("bulk pages", "bulk ids"):
        figures["ways"][name]["speed-up"] = single / statistics.median(figures["ways"][name]["ms"])
    json.dump(figures, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
