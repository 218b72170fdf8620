"""The default cache is shared by every worker process: Redis, else a database table.

Login lockouts and throttles count in it; a per-process cache would multiply their limits
by the number of workers, so the settings never choose one and a check warns about one.
"""

import os
import socket
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.core.cache.backends.db import DatabaseCache
from django.core.checks import Warning, run_checks
from django.db import connection

from access.checks import ACCESS_CACHE_NOT_SHARED
from pipeworks.cache import RedisCache

CACHE_TABLE = "pipeworks_cache"
REDIS_URL = "redis://127.0.0.1:6379/15"
DATABASE_CACHE = "django.core.cache.backends.db.DatabaseCache"
REDIS_CACHE = "pipeworks.cache.RedisCache"
LOCMEM_CACHE = "django.core.cache.backends.locmem.LocMemCache"
DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"


def shell(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``manage.py shell -c code`` in a process of its own; DEBUG=1 needs no key."""
    inherited = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", code],
        cwd=settings.BASE_DIR,
        env={**inherited, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.django_db
def test_the_database_cache_works_through_the_table_the_migrations_create():
    cache = DatabaseCache(CACHE_TABLE, {})

    cache.set("attempts:alice", 1, timeout=60)
    cache.incr("attempts:alice")

    assert CACHE_TABLE in connection.introspection.table_names()
    assert cache.get("attempts:alice") == 2
    assert cache.get("attempts:bob") is None


@pytest.mark.parametrize(
    "env, backend, location",
    [({}, DATABASE_CACHE, CACHE_TABLE), ({"REDIS_URL": REDIS_URL}, REDIS_CACHE, REDIS_URL)],
    ids=["without REDIS_URL", "with REDIS_URL"],
)
def test_the_settings_choose_redis_with_redis_url_and_else_the_database(env, backend, location):
    result = shell(
        "from django.conf import settings; c = settings.CACHES['default'];"
        "print(c['BACKEND'], c['LOCATION'])",
        **env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [backend, location]


def test_a_count_kept_in_redis_is_shared_by_processes():
    # Redis runs on every machine of this project (CI starts it): no answer is a failure.
    assert redis_answers(), "no Redis at 127.0.0.1:6379: start it (see .ci/run)"
    key = f"test-shared-{uuid.uuid4().hex}"

    first = shell(
        f"from django.core.cache import cache; cache.set({key!r}, 1, 60)", REDIS_URL=REDIS_URL
    )
    second = shell(
        f"from django.core.cache import cache; print(cache.incr({key!r}))", REDIS_URL=REDIS_URL
    )
    third = shell(
        f"from django.core.cache import cache; print(cache.get({key!r})); cache.delete({key!r})",
        REDIS_URL=REDIS_URL,
    )

    assert first.returncode == second.returncode == third.returncode == 0, third.stderr
    assert second.stdout.split() == ["2"]
    assert third.stdout.split() == ["2"]


@pytest.mark.parametrize("backend", [LOCMEM_CACHE, DUMMY_CACHE])
def test_the_check_warns_about_a_per_process_cache_outside_development(settings, backend):
    settings.CACHES = {"default": {"BACKEND": backend}}

    messages = run_checks(tags=["caches"])

    assert messages == [
        Warning(
            ACCESS_CACHE_NOT_SHARED.format(backend=backend.rsplit(".", 1)[-1]),
            hint="Set REDIS_URL, or leave CACHES to the database cache of the settings.",
            id="access.W001",
        )
    ]


@pytest.mark.parametrize(
    "backend, debug, environment",
    [
        (LOCMEM_CACHE, True, "development"),
        (DATABASE_CACHE, False, "production"),
        (REDIS_CACHE, False, "production"),
    ],
    ids=["per-process cache in development", "database cache", "redis cache"],
)
def test_the_check_is_quiet_for_a_shared_cache_or_in_development(
    settings, backend, debug, environment
):
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": CACHE_TABLE}}
    settings.DEBUG = debug
    settings.PIPEWORKS_ENV = environment

    assert run_checks(tags=["caches"]) == []


def test_the_redis_cache_shares_one_client_per_server_between_calls_and_threads():
    assert redis_answers(), "no Redis at 127.0.0.1:6379: start it (see .ci/run)"
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": "pipeworks-test-client"})
    clients = []

    def use(i):
        cache.set(f"n{i}", i, timeout=60)
        clients.append(cache._cache.get_client(write=True))
        return cache.get(f"n{i}")

    with ThreadPoolExecutor(4) as pool:
        values = list(pool.map(use, range(20)))
    cache.delete_many([f"n{i}" for i in range(20)])

    assert values == list(range(20))
    assert len({id(client) for client in clients}) == 1
