"""API credentials and grants are served from the shared cache, and every revocation is
seen by the very next request: a deleted, revoked or expired key, a deactivated owner, a
permission or group taken away, a world limit added, a logout.

Each test first makes a request that fills the cache and checks that the next one reads
no access row from the database (so the refusal that follows is the cache's doing, not a
miss), then changes a row and expects the next request to be refused. The cache is the
one the workers share: the database table by default, Redis in ``redis_cache`` (which
also shows a revocation made by another process reaching this one).
"""

import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from access.credentials import GENERATION_KEY, REVOKE_FAILED, revoke_cached_credentials
from access.models import ApiKey, WorldMembership
from access.roles import GAME_MASTERS
from tests.api.conftest import GAME_MASTER, PASSWORD, make_user, state_url
from tests.factories import CharacterFactory

# The rows of grants (a session's own user row is read on every request, as before).
ACCESS_TABLES = ("api_key", "api_key_worlds", "auth_permission", "world_membership")


@pytest.fixture
def hero(synced):
    return CharacterFactory(name="hero", scores={"wealth": 0.3})


def key_client(owner, **options) -> tuple[APIClient, ApiKey]:
    from access.services import create_api_key

    options.setdefault("may_apply", True)
    api_key, key = create_api_key(
        owner=owner,
        name="game server",
        expires_at=timezone.now() + timedelta(days=1),
        **options,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client, api_key


def access_queries(client, url) -> tuple[int, list[str]]:
    """Return the status of a GET and the statements it sent to the access tables."""
    with CaptureQueriesContext(connection) as captured:
        status = client.get(url).status_code
    sql = [query["sql"] for query in captured]
    return status, [text for text in sql if any(f'"{table}"' in text for table in ACCESS_TABLES)]


def assert_served_from_cache(client, url) -> None:
    client.get(url)  # fills the cache (a change earlier in the test may have emptied it)
    status, queries = access_queries(client, url)
    assert status == 200
    assert queries == []


@pytest.fixture
def owner(db):
    return make_user(is_staff=False, permissions=GAME_MASTER)


def test_a_warm_request_reads_no_access_row_and_a_cold_one_reads_them(owner, hero):
    client, _ = key_client(owner)

    cold_status, cold = access_queries(client, state_url(hero.pk))
    warm_status, warm = access_queries(client, state_url(hero.pk))

    assert cold_status == warm_status == 200
    assert len(cold) == 5  # the key with its owner, 2 x permissions, world limits, key worlds
    assert warm == []


def test_a_deleted_key_is_refused_on_the_next_request(owner, hero):
    client, api_key = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    api_key.delete()

    assert client.get(state_url(hero.pk)).status_code == 401


@pytest.mark.parametrize("how", ["save", "queryset update"])
def test_a_revoked_key_is_refused_on_the_next_request(owner, hero, how):
    client, api_key = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    if how == "save":
        api_key.revoked = True
        api_key.save()
    else:
        ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)

    assert client.get(state_url(hero.pk)).status_code == 401


def test_a_key_expiring_while_cached_is_refused_by_the_clock(owner, hero):
    client, api_key = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    later = api_key.expiry_date + timedelta(seconds=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: later)
        response = client.get(state_url(hero.pk))

    assert response.status_code == 401
    assert response.json()["detail"] == "The API key has expired."


def test_a_deactivated_owner_is_refused_on_the_next_request(owner, hero):
    client, _ = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    owner.is_active = False
    owner.save()

    assert client.get(state_url(hero.pk)).status_code == 401


def test_a_permission_taken_from_the_owner_is_refused_on_the_next_request(owner, hero):
    client, _ = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    owner.user_permissions.remove(Permission.objects.get(codename="view_event"))

    assert client.get(state_url(hero.pk)).status_code == 403


def test_a_permission_taken_from_the_owners_group_is_refused_on_the_next_request(hero):
    owner = make_user(is_staff=False)
    owner.groups.add(Group.objects.get(name=GAME_MASTERS))
    client, _ = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    Group.objects.get(name=GAME_MASTERS).permissions.remove(
        Permission.objects.get(codename="view_event")
    )

    assert client.get(state_url(hero.pk)).status_code == 403


def test_an_owner_removed_from_their_group_is_refused_on_the_next_request(hero):
    owner = make_user(is_staff=False)
    owner.groups.add(Group.objects.get(name=GAME_MASTERS))
    client, _ = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    owner.groups.clear()

    assert client.get(state_url(hero.pk)).status_code == 403


def test_a_world_limit_added_applies_on_the_next_request(owner, hero, foreign_world):
    client, _ = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    WorldMembership.objects.create(user=owner, world_id=foreign_world)

    assert client.get(state_url(hero.pk)).status_code == 403


def test_a_key_limited_to_other_worlds_is_refused_on_the_next_request(owner, hero, foreign_world):
    client, api_key = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    api_key.worlds.set([foreign_world])

    assert client.get(state_url(hero.pk)).status_code == 403


@pytest.fixture
def foreign_world(synced):
    return "beta"


def test_a_logged_out_session_is_refused_on_the_next_request(hero):
    user = make_user(is_staff=True, permissions=GAME_MASTER)
    client = APIClient()
    assert client.login(username=user.username, password=PASSWORD)
    assert_served_from_cache(client, state_url(hero.pk))

    client.logout()

    assert client.get(state_url(hero.pk)).status_code == 401


def test_a_session_users_permission_taken_away_is_refused_on_the_next_request(hero):
    user = make_user(is_staff=True, permissions=GAME_MASTER)
    client = APIClient()
    client.force_login(user)
    assert_served_from_cache(client, state_url(hero.pk))

    user.user_permissions.clear()

    assert client.get(state_url(hero.pk)).status_code == 403


def test_revocations_go_through_the_shared_redis_cache(redis_cache, owner, hero):
    client, api_key = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))
    before = redis_cache.get(GENERATION_KEY)

    api_key.revoked = True
    api_key.save()

    assert redis_cache.get(GENERATION_KEY) not in (None, before)
    assert client.get(state_url(hero.pk)).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_revocation_by_another_process_reaches_this_one(redis_cache, synced):
    """Another process (a command, an admin worker) moves the generation in Redis; this
    process then reads the rows again, and sees what changed in the database."""
    hero = CharacterFactory(name="hero")
    owner = make_user(is_staff=False, permissions=GAME_MASTER)
    client, api_key = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))
    # Changed in SQL, as another process would: no signal here; the cache still answers.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE api_key SET revoked = %s WHERE id = %s", [True, api_key.pk])
    assert client.get(state_url(hero.pk)).status_code == 200

    shell = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-v0",
            "-c",
            "from access.credentials import revoke_cached_credentials; revoke_cached_credentials()",
        ],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DEBUG": "1",
            "REDIS_URL": settings.CACHES["default"]["LOCATION"],
            "DATABASE_URL": "sqlite://",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stderr

    assert client.get(state_url(hero.pk)).status_code == 401


def test_a_cache_that_fails_is_read_around_not_trusted(owner, hero, monkeypatch):
    client, api_key = key_client(owner)
    assert_served_from_cache(client, state_url(hero.pk))

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(caches["default"], "get_many", broken)
    monkeypatch.setattr(caches["default"], "set", broken)
    status, queries = access_queries(client, state_url(hero.pk))
    assert status == 200
    assert len(queries) == 5  # read from the database
    ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)  # the revocation is not lost

    assert client.get(state_url(hero.pk)).status_code == 401


def test_revoke_cached_credentials_moves_the_generation(db):
    cache = caches["default"]
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    before = cache.get(GENERATION_KEY)

    revoke_cached_credentials()

    assert cache.get(GENERATION_KEY) not in (None, before)


@pytest.mark.postgres
def test_a_generation_move_failing_in_the_cache_table_leaves_the_change_whole(
    owner, monkeypatch, caplog
):
    """With the database cache the move runs in the caller's transaction; a failing
    statement of the cache (a cull's deadlock, a timeout) must not abort it (PostgreSQL
    refuses every later statement of an aborted transaction)."""
    cache = caches["default"]
    assert isinstance(cache, DatabaseCache)

    def failing_set(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")

    monkeypatch.setattr(cache, "set", failing_set)
    with transaction.atomic():
        revoke_cached_credentials()
        owner.is_active = False
        owner.save(update_fields=["is_active"])  # still possible: the transaction is whole

    assert REVOKE_FAILED.split("%s")[0] in caplog.text
    owner.refresh_from_db()
    assert owner.is_active is False
