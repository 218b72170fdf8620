"""Read replicas for real: gunicorn over a private primary and its streaming replica.

A private primary (``tests/pgcluster.py``) and a replica made from it with
``pg_basebackup -R`` run on free loopback ports; the product runs under gunicorn with
``DATABASE_URL`` at the primary and ``DATABASE_REPLICA_URL`` at the replica. Where a read
was answered from is proved by pausing the replica's replay (``pg_wal_replay_pause()``):
an event written then is on the primary only, so a read that lacks it came from the
replica, and one that has it came from the primary. Runs in the PostgreSQL pass (the
``postgres`` marker); ``REQUIRE_POSTGRES=1`` makes missing server binaries a failure.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from itertools import count
from pathlib import Path

import pytest

from pipeworks.replica_reads import RETRIED_ON_PRIMARY
from pipeworks.replicas import REPLICA_RESTORED, REPLICA_SKIPPED
from tests.live import LIVE_SECRET_KEY, ROOT, Gunicorn, manage, post
from tests.pgcluster import fail_without_binaries, private_cluster, private_replica
from tests.test_pg_app_role import PASSWORD, logged_in

pytestmark = pytest.mark.postgres

FIXTURE_WORLDS = Path(__file__).parent / "fixtures" / "worlds"
DATABASE = "pipeworks"
MAX_LAG = 4.0
CHECK_SECONDS = 0.25
WINDOW = 2.0  # read your writes
READS = 8  # enough for every one of 4 workers to answer some
_keys = count()


@pytest.fixture(scope="module")
def deployed():
    """A primary with the product migrated and synced, a caught-up replica, two API keys."""
    fail_without_binaries()
    with private_cluster() as primary:
        primary.psql(f"CREATE DATABASE {DATABASE}")
        with private_replica(primary) as replica:
            env = {
                "DATABASE_URL": primary.url(dbname=DATABASE),
                "DATABASE_REPLICA_URL": replica.url(dbname=DATABASE),
                "PIPEWORKS_WORLDS_DIR": str(FIXTURE_WORLDS),
                "SECRET_KEY": os.environ.get("SECRET_KEY") or LIVE_SECRET_KEY,
                "DEBUG": "0",
            }
            # migrate with the replica configured: no migration goes near it.
            manage(env, "migrate", "-v0")
            manage(env, "sync_policies", "alpha", "-v0")
            created = manage(
                env,
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model; "
                "from django.contrib.auth.models import Group; "
                "from worlds.services import create_character; "
                f"user = get_user_model().objects.create_user('gm', password='{PASSWORD}', "
                "is_staff=True); "
                "user.groups.add(Group.objects.get(name='Game masters')); "
                "print(create_character(world_id='alpha', name='Ada').pk)",
            )
            keys = {
                name: manage(env, "create_api_key", "--owner", "gm", "--name", name, *flags)
                .strip()
                .splitlines()[-1]
                for name, flags in [("writer", ["--apply"]), ("reader", [])]
            }
            yield primary, replica, env, int(created.strip().splitlines()[-1]), keys


@pytest.fixture
def replica_restored(deployed):
    """Whatever a test did to the replica, the next one finds it running and caught up."""
    yield
    _, replica, *_ = deployed
    if replica.postmaster_pid() is None:
        replica.start()
    replica.resume_replay()
    replica.wait_caught_up()


def server_env(env: dict, **extra: str) -> dict:
    return {
        **env,
        "PIPEWORKS_REPLICA_MAX_LAG": str(MAX_LAG),
        "PIPEWORKS_REPLICA_CHECK_SECONDS": str(CHECK_SECONDS),
        "PIPEWORKS_READ_YOUR_WRITES_SECONDS": str(WINDOW),
        **extra,
    }


def write(server, key: str, character: int) -> int:
    status, body = post(
        server.url,
        key,
        f"/admin/characters/{character}/axis-events",
        {
            "event_type": "loot_found",
            "deltas": {"wealth": 0.001},
            "idempotency_key": f"replica-{next(_keys)}",
        },
    )
    assert status == 201, body
    return body["event_id"]


def events_seen(server, key: str, character: int, **headers: str) -> set[int]:
    """GET the character's events with an API key; return their ids (the answer was 200)."""
    request = urllib.request.Request(
        f"{server.url}/admin/characters/{character}/axis-events?limit=100",
        headers={"Authorization": f"Api-Key {key}", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"GET answered {error.code}: {error.read()[:500]!r}") from None
    return {event["event_id"] for event in body["events"]}


def page(client, path: str) -> str:
    with client.opener.open(client.url + path, timeout=30) as response:
        assert response.status == 200
        return response.read().decode()


def on(cluster, event_id: int) -> bool:
    rows = cluster.psql("SELECT count(*) FROM event WHERE id = %s", db=DATABASE, params=[event_id])
    return rows == [(1,)]


def replica_behind(primary, replica, server, keys, character) -> tuple[int, int, float]:
    """Write an event the replica replays, pause replay, write one it does not.

    Returns both ids and when the first was written: the replica's lag counts from it.
    """
    replayed = write(server, keys["writer"], character)
    written_at = time.monotonic()
    replica.wait_caught_up()
    replica.pause_replay()
    fresh = write(server, keys["writer"], character)
    assert on(primary, fresh) and not on(replica, fresh)
    return replayed, fresh, written_at


def assert_reads_from_replica(server, keys, character, replayed: int, fresh: int) -> None:
    for _ in range(READS):
        seen = events_seen(server, keys["reader"], character)
        assert replayed in seen and fresh not in seen


def check_output(env: dict) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_reads_go_to_the_replica_writes_and_their_writers_to_the_primary(
    deployed, replica_restored, tmp_path
):
    primary, replica, env, character, keys = deployed
    server = Gunicorn(server_env(env), workers=4, log_path=tmp_path / "gunicorn.log")
    try:
        session = logged_in(server.url)
        logged_in_at = time.monotonic()
        time.sleep(max(0.0, WINDOW + 0.2 - (time.monotonic() - logged_in_at)))

        replayed, fresh, written_at = replica_behind(primary, replica, server, keys, character)

        # The writer reads its write at once: read your writes, from the primary.
        assert fresh in events_seen(server, keys["writer"], character)
        # Everyone else reads the replica, which has the earlier event and not this one.
        assert_reads_from_replica(server, keys, character, replayed, fresh)
        # ... unless they ask for the primary.
        assert fresh in events_seen(server, keys["reader"], character, **{"X-Read-From": "primary"})
        # The inspector's character page is read from the replica too.
        inspector = page(session, f"/admin/worlds/character/{character}/change/")
        assert f'data-event="{replayed}"' in inspector
        assert f'data-event="{fresh}"' not in inspector
        # The change feed waits for the primary's writers, so it reads the primary.
        feed = json.loads(page(session, "/admin/worlds/alpha/events?limit=500"))
        assert fresh in {event["event_id"] for event in feed["events"]}
        assert time.monotonic() - written_at < MAX_LAG, "too slow to prove anything"
    finally:
        server.stop()
        log = (tmp_path / "gunicorn.log").read_text()
    assert "Internal Server Error" not in log and "Traceback" not in log, log[-3000:]


def test_a_lagging_or_stopped_replica_is_skipped_and_used_again_when_well(
    deployed, replica_restored, tmp_path
):
    primary, replica, env, character, keys = deployed
    log_path = tmp_path / "gunicorn.log"
    server = Gunicorn(server_env(env), workers=4, log_path=log_path)
    try:
        session = logged_in(server.url)

        # Lag past the bound: the replica is skipped, reads see the primary's events.
        replayed, fresh, written_at = replica_behind(primary, replica, server, keys, character)
        time.sleep(max(0.0, MAX_LAG + CHECK_SECONDS + 0.5 - (time.monotonic() - written_at)))
        for _ in range(READS):
            assert fresh in events_seen(server, keys["reader"], character)
        index = page(session, "/admin/")
        assert 'class="replica-replica1"' in index
        assert "no: its replay lag" in index
        assert REPLICA_SKIPPED % ("replica1", "its replay lag") in log_path.read_text()

        # Caught up again: used again.
        replica.resume_replay()
        replica.wait_caught_up()
        time.sleep(CHECK_SECONDS + 0.3)
        replayed, fresh, _ = replica_behind(primary, replica, server, keys, character)
        assert_reads_from_replica(server, keys, character, replayed, fresh)
        replica.resume_replay()
        replica.wait_caught_up()
        # The worker that skipped it logs its return at its next probe; which worker serves
        # a request is the kernel's choice, so read until that worker has served one.
        restored = REPLICA_RESTORED.split("%s")[0] + "replica1 used again"
        deadline = time.monotonic() + 30
        while restored not in log_path.read_text() and time.monotonic() < deadline:
            events_seen(server, keys["reader"], character)
            time.sleep(0.2)
        assert restored in log_path.read_text()

        # Stopped mid-run: every read still answers (from the primary), writes too.
        replica.stop()
        for _ in range(READS):
            assert fresh in events_seen(server, keys["reader"], character)
        written = write(server, keys["writer"], character)
        assert written in events_seen(server, keys["writer"], character)
        assert "cannot be reached" in page(session, "/admin/")
        assert "pipeworks.W001" in check_output(env)

        # Started again: used again.
        replica.start()
        replica.wait_caught_up()
        time.sleep(CHECK_SECONDS + 0.3)
        replayed, fresh, _ = replica_behind(primary, replica, server, keys, character)
        assert_reads_from_replica(server, keys, character, replayed, fresh)
    finally:
        server.stop()
    log = log_path.read_text()
    assert "Internal Server Error" not in log and "Traceback" not in log, log[-3000:]


def test_a_replica_failing_under_a_request_is_retried_on_the_primary(
    deployed, replica_restored, tmp_path
):
    """With probes far apart, the worker still trusts the replica after it stopped.

    One worker: it has probed the replica while it ran, so its first read after the stop
    fails on the replica. (A second worker that had served nothing yet would probe the
    stopped replica first and skip it, and the kernel may give it every read.)
    """
    primary, replica, env, character, keys = deployed
    log_path = tmp_path / "gunicorn.log"
    env = server_env(env, PIPEWORKS_REPLICA_CHECK_SECONDS="600")
    server = Gunicorn(env, workers=1, log_path=log_path)
    try:
        replayed, fresh, _ = replica_behind(primary, replica, server, keys, character)
        assert_reads_from_replica(server, keys, character, replayed, fresh)

        replica.stop()
        for _ in range(READS):
            assert fresh in events_seen(server, keys["reader"], character)
    finally:
        server.stop()
    log = log_path.read_text()
    assert RETRIED_ON_PRIMARY.split("%s")[0] + "replica1 failed during GET" in log
    assert "Internal Server Error" not in log and "Traceback" not in log, log[-3000:]


def test_check_warns_when_a_replica_alias_points_at_a_primary(deployed, replica_restored):
    primary, _, env, *_ = deployed

    assert "pipeworks.W00" not in check_output(env)
    at_primary = check_output({**env, "DATABASE_REPLICA_URL": primary.url(dbname=DATABASE)})
    assert "pipeworks.W002" in at_primary
