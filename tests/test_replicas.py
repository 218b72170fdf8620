"""The read-replica router and its middleware decide where each read goes (both engines).

No replica server here (``tests/test_replicas_live.py`` has real ones): the router's and
the middleware's choices are observed as the alias they name, with the replica alias
``replica1`` configured through the settings and its health set by hand.
"""

import json
import logging
import subprocess
import time

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core import signing
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connection, router, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import resolve

from access.credentials import get_api_key
from access.models import ApiKey, LoginLockout
from ledger.models import Event
from pipeworks import replica_reads, replicas
from pipeworks.replica_reads import (
    READ_FROM_PRIMARY,
    RETRIED_ON_PRIMARY,
    WROTE_COOKIE,
    WROTE_SALT,
    ReplicaReadMiddleware,
    wants_primary,
    wrote_cache_key,
)
from pipeworks.replicas import (
    CHECK_REPLICA_UNREACHABLE,
    REPLICA_SKIPPED,
    ReplicaRouter,
    ReplicaStatus,
    check_replicas,
    reading_from,
    reads_from_primary,
)
from pipeworks.transactions import atomic_commit
from tests.api.conftest import GAME_MASTER, api_key_for, events_url, make_user
from tests.live import settings_in_child
from worlds.models import Character, World

REPLICA = "replica1"
MIDDLEWARE = "pipeworks.replica_reads.ReplicaReadMiddleware"


@pytest.fixture
def replica_configured(settings):
    """``replica1`` configured (router, middleware) and known to be healthy."""
    settings.PIPEWORKS_REPLICA_DATABASES = [REPLICA]
    settings.DATABASE_ROUTERS = ["pipeworks.replicas.ReplicaRouter"]
    middleware = [name for name in settings.MIDDLEWARE if name != MIDDLEWARE]
    middleware.insert(middleware.index("pipeworks.outage.DatabaseOutageMiddleware"), MIDDLEWARE)
    settings.MIDDLEWARE = middleware
    settings.PIPEWORKS_REPLICA_CHECK_SECONDS = 3600  # no probe: the status set below holds
    settings.PIPEWORKS_READ_YOUR_WRITES_SECONDS = 10
    replicas.forget_replica_statuses()
    set_health(available=True)
    yield
    replicas.forget_replica_statuses()


def set_health(*, available: bool, lag: float | None = 0.0) -> None:
    replicas._statuses[REPLICA] = ReplicaStatus(
        REPLICA, available, lag, "" if available else "down", time.monotonic()
    )


def decided(request) -> str:
    """Run ``request`` through the middleware and its view; return where a read went."""
    seen = []

    def view(request):
        seen.append(router.db_for_read(Event))
        return HttpResponse()

    middleware = ReplicaReadMiddleware(view)

    def resolved_and_viewed(request):
        # As Django's handler does: process_view with the resolved view, then the view.
        middleware.process_view(request, resolve(request.path).func, (), {})
        return view(request)

    middleware.get_response = resolved_and_viewed
    middleware(request)
    return seen[0]


# -- settings -----------------------------------------------------------------------------

SHOW_SETTINGS = (
    "{'databases': {a: {'options': d.get('OPTIONS', {}), 'test': d['TEST'], "
    "'port': d['PORT']} for a, d in settings.DATABASES.items()}, "
    "'routers': settings.DATABASE_ROUTERS, 'replicas': settings.PIPEWORKS_REPLICA_DATABASES, "
    f"'middleware': {MIDDLEWARE!r} in settings.MIDDLEWARE}}"
)


def settings_with(**env: str) -> subprocess.CompletedProcess:
    return settings_in_child(SHOW_SETTINGS, **env)


def test_without_a_replica_url_there_is_no_alias_router_or_middleware():
    shown = json.loads(settings_with(DATABASE_URL="postgres://u@db:5432/x").stdout)

    assert list(shown["databases"]) == [DEFAULT_DB_ALIAS]
    assert shown["routers"] == []
    assert shown["replicas"] == []
    assert shown["middleware"] is False


def test_each_replica_url_is_an_alias_mirroring_default_in_tests_with_options_merged():
    result = settings_with(
        DATABASE_URL="postgres://u@db:5432/x",
        DATABASE_REPLICA_URL="postgres://u@r1:5433/x?sslmode=require, postgres://u@r2:5434/x",
        PIPEWORKS_PG_SERVER_SIDE_BINDING="0",
    )
    shown = json.loads(result.stdout)

    assert shown["replicas"] == ["replica1", "replica2"]
    assert shown["routers"] == ["pipeworks.replicas.ReplicaRouter"]
    assert shown["middleware"] is True
    first, second = shown["databases"]["replica1"], shown["databases"]["replica2"]
    assert first["options"] == {
        "sslmode": "require",
        "server_side_binding": False,
        "prepare_threshold": 5,
        "connect_timeout": 2,
    }
    assert (first["port"], second["port"]) == (5433, 5434)
    assert first["test"]["MIRROR"] == second["test"]["MIRROR"] == "default"


def test_a_replica_url_needs_postgresql_on_both_sides():
    result = settings_with(
        DATABASE_URL="sqlite:///db-replica.sqlite3", DATABASE_REPLICA_URL="postgres://u@r1/x"
    )

    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL needs PostgreSQL streaming replicas" in result.stderr


# -- the router ---------------------------------------------------------------------------


def test_outside_a_request_every_read_goes_to_the_primary(replica_configured):
    assert ReplicaRouter().db_for_read(Character) == DEFAULT_DB_ALIAS
    assert Character.objects.all().db == DEFAULT_DB_ALIAS


def test_a_request_that_chose_a_replica_reads_the_ledger_there(replica_configured):
    with reading_from(REPLICA) as choice:
        assert Character.objects.all().db == REPLICA
        assert Event.objects.all().db == REPLICA
        assert World.objects.all().db == REPLICA
    assert choice.used


@pytest.mark.parametrize(
    "model",
    [User, Group, Permission, ContentType, Session, ApiKey, LoginLockout],
    ids=lambda model: model._meta.label,
)
def test_who_may_do_what_is_always_read_on_the_primary(replica_configured, model):
    with reading_from(REPLICA) as choice:
        assert router.db_for_read(model) == DEFAULT_DB_ALIAS
    assert not choice.used


@pytest.mark.django_db
def test_an_api_keys_worlds_are_read_on_the_primary(replica_configured, synced):
    """A key's world limits decide what it may do: a lagging replica must not supply them
    (they are cached for every later request, writes included)."""
    user = make_user(is_staff=True, permissions=GAME_MASTER)
    prefix = api_key_for(user, worlds=["alpha"]).partition(".")[0]
    caches["default"].clear()

    with reading_from(REPLICA) as choice, CaptureQueriesContext(connection) as on_primary:
        key = get_api_key(prefix, legacy=False)

    assert key._world_ids == frozenset({"alpha"})
    assert not choice.used  # nothing was read on the replica
    assert any("api_key_worlds" in query["sql"] for query in on_primary.captured_queries)


def test_the_database_cache_is_read_on_the_primary(replica_configured):
    with reading_from(REPLICA):
        assert router.db_for_read(caches["default"].cache_model_class) == DEFAULT_DB_ALIAS


@pytest.mark.django_db
@pytest.mark.parametrize("block", [transaction.atomic, atomic_commit])
def test_a_read_inside_a_transaction_goes_to_the_primary(replica_configured, block):
    with reading_from(REPLICA):
        assert Character.objects.all().db == REPLICA  # the test's own transaction is none
        with block():
            assert Character.objects.all().db == DEFAULT_DB_ALIAS
        assert Character.objects.all().db == REPLICA


def test_every_write_goes_to_the_primary_even_of_a_row_read_on_a_replica(replica_configured):
    character = Character(name="read there")
    character._state.db = REPLICA

    with reading_from(REPLICA):
        assert router.db_for_write(Character, instance=character) == DEFAULT_DB_ALIAS
    # Without a choice Django would fall back to the instance's database: not here.
    assert router.db_for_read(Character, instance=character) == DEFAULT_DB_ALIAS


def test_no_migration_runs_on_a_replica_and_rows_of_both_may_relate(replica_configured):
    assert ReplicaRouter().allow_migrate(REPLICA, "ledger") is False
    assert ReplicaRouter().allow_migrate(DEFAULT_DB_ALIAS, "ledger") is None
    world, character = World(world_id="w"), Character(name="c")
    world._state.db, character._state.db = REPLICA, DEFAULT_DB_ALIAS
    assert router.allow_relation(world, character) is True


# -- the middleware -----------------------------------------------------------------------


def test_a_read_of_a_client_that_did_not_write_goes_to_the_replica(replica_configured):
    assert decided(RequestFactory().get("/admin/")) == REPLICA
    assert decided(RequestFactory().head("/admin/")) == REPLICA


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_request_reads_the_primary(replica_configured, method):
    assert decided(getattr(RequestFactory(), method)("/admin/events")) == DEFAULT_DB_ALIAS


def test_a_client_may_ask_for_the_primary(replica_configured):
    request = RequestFactory().get("/admin/", headers={"X-Read-From": READ_FROM_PRIMARY})
    assert decided(request) == DEFAULT_DB_ALIAS
    request = RequestFactory().get("/admin/", headers={"X-Read-From": "anything else"})
    assert decided(request) == REPLICA


def test_a_replica_found_unavailable_sends_reads_to_the_primary(replica_configured):
    set_health(available=False, lag=60.0)

    assert decided(RequestFactory().get("/admin/")) == DEFAULT_DB_ALIAS


def test_the_feed_and_the_readiness_probe_read_the_primary(replica_configured):
    assert reads_from_primary(resolve("/admin/worlds/alpha/events").func)
    assert reads_from_primary(resolve("/readyz").func)
    assert not reads_from_primary(resolve("/admin/characters/1/axis-events").func)
    assert not reads_from_primary(resolve("/admin/").func)

    assert decided(RequestFactory().get("/admin/worlds/alpha/events")) == DEFAULT_DB_ALIAS
    assert decided(RequestFactory().get("/readyz")) == DEFAULT_DB_ALIAS
    assert decided(RequestFactory().get("/admin/characters/1/axis-events")) == REPLICA


@pytest.mark.django_db
def test_a_session_that_wrote_reads_the_primary_for_the_window(replica_configured, synced):
    from rest_framework.test import APIClient

    from tests.factories import CharacterFactory

    hero = CharacterFactory(name="hero")
    client = APIClient()
    client.force_login(make_user(is_staff=True, permissions=GAME_MASTER))

    response = client.post(
        events_url(hero.pk), {"event_type": "loot_found", "deltas": {"wealth": 0.1}}, "json"
    )

    assert response.status_code == 201, response.content
    cookie = response.cookies[WROTE_COOKIE]
    assert cookie["max-age"] == 10
    assert cookie["httponly"]
    request = RequestFactory().get("/admin/")
    request.COOKIES[WROTE_COOKIE] = cookie.value
    assert decided(request) == DEFAULT_DB_ALIAS


def test_an_expired_or_forged_write_mark_reads_the_replica(replica_configured, monkeypatch):
    with monkeypatch.context() as past:
        eleven_seconds_ago = time.time() - 11
        past.setattr(signing.time, "time", lambda: eleven_seconds_ago)
        old = signing.get_cookie_signer(salt=WROTE_COOKIE + WROTE_SALT).sign("1")
    request = RequestFactory().get("/admin/")
    request.COOKIES[WROTE_COOKIE] = old
    assert decided(request) == REPLICA

    request = RequestFactory().get("/admin/")
    request.COOKIES[WROTE_COOKIE] = "1:forged:signature"
    assert decided(request) == REPLICA


@pytest.mark.django_db
def test_an_api_key_that_wrote_reads_the_primary_and_only_that_key(replica_configured, synced):
    from rest_framework.test import APIClient

    from tests.factories import CharacterFactory

    hero = CharacterFactory(name="hero")
    user = make_user(is_staff=True, permissions=GAME_MASTER)
    writer, other = f"Api-Key {api_key_for(user)}", f"Api-Key {api_key_for(user)}"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=writer)

    response = client.post(
        events_url(hero.pk), {"event_type": "loot_found", "deltas": {"wealth": 0.1}}, "json"
    )

    assert response.status_code == 201, response.content
    assert WROTE_COOKIE not in response.cookies
    assert caches["default"].get(wrote_cache_key(writer)) is not None
    path = events_url(hero.pk)
    assert decided(RequestFactory().get(path, headers={"Authorization": writer})) == "default"
    assert decided(RequestFactory().get(path, headers={"Authorization": other})) == REPLICA


@pytest.mark.django_db
def test_a_refused_anonymous_write_leaves_no_mark(replica_configured, synced):
    from rest_framework.test import APIClient

    bogus = "Api-Key not.a-key"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bogus)

    response = client.post("/admin/events", {}, "json")

    assert response.status_code == 401
    assert WROTE_COOKIE not in response.cookies
    assert caches["default"].get(wrote_cache_key(bogus)) is None


def test_a_zero_window_turns_read_your_writes_off(replica_configured, settings):
    settings.PIPEWORKS_READ_YOUR_WRITES_SECONDS = 0
    request = RequestFactory().get("/admin/")
    request.COOKIES[WROTE_COOKIE] = signing.get_cookie_signer(salt=WROTE_COOKIE + WROTE_SALT).sign(
        "1"
    )

    assert not wants_primary(request)


def test_a_read_whose_replica_fails_mid_request_is_answered_again_from_the_primary(
    replica_configured, monkeypatch, caplog
):
    down = ReplicaStatus(REPLICA, False, None, "cannot be reached", time.monotonic())
    monkeypatch.setattr(replica_reads, "probe_replica", lambda alias: down)
    seen = []

    def view(request):
        seen.append(router.db_for_read(Event))
        # What the API and the outage page answer when the replica's connection fails.
        return HttpResponse(status=503 if seen[-1] == REPLICA else 200)

    with caplog.at_level(logging.WARNING, logger="pipeworks"):
        response = ReplicaReadMiddleware(view)(RequestFactory().get("/admin/"))

    assert response.status_code == 200
    assert seen == [REPLICA, DEFAULT_DB_ALIAS]
    assert RETRIED_ON_PRIMARY % (REPLICA, "GET", "/admin/") in caplog.messages


def test_a_failure_that_is_not_the_replicas_is_answered_as_it_is(replica_configured, monkeypatch):
    well = ReplicaStatus(REPLICA, True, 0.0, "", time.monotonic())
    monkeypatch.setattr(replica_reads, "probe_replica", lambda alias: well)
    seen = []

    def view(request):
        seen.append(router.db_for_read(Event))
        return HttpResponse(status=503)

    response = ReplicaReadMiddleware(view)(RequestFactory().get("/admin/"))

    assert response.status_code == 503
    assert seen == [REPLICA]


# -- health, the check and the admin -------------------------------------------------------


def test_a_replica_that_cannot_be_reached_is_skipped_with_one_warning(replica_configured, caplog):
    # ``replica1`` is no database of this test process: connecting to it fails.
    replicas.forget_replica_statuses()
    with caplog.at_level(logging.INFO, logger="pipeworks"):
        first = replicas.probe_replica(REPLICA)
        second = replicas.probe_replica(REPLICA)

    assert not first.available and not second.available
    assert first.reason.startswith("cannot be reached")
    skipped = [r for r in caplog.records if r.msg == REPLICA_SKIPPED]
    assert [r.levelno for r in skipped] == [logging.WARNING]
    assert decided(RequestFactory().get("/admin/")) == DEFAULT_DB_ALIAS


def test_check_warns_about_a_replica_it_cannot_reach(replica_configured, settings):
    settings.PIPEWORKS_REPLICA_CHECK_SECONDS = 1
    messages = check_replicas(None)

    assert [message.id for message in messages] == ["pipeworks.W001"]
    assert messages[0].msg.startswith(
        CHECK_REPLICA_UNREACHABLE.split("{error}")[0].format(alias=REPLICA)
    )


def test_check_warns_about_a_read_your_writes_window_shorter_than_the_lag(
    replica_configured, settings
):
    settings.PIPEWORKS_READ_YOUR_WRITES_SECONDS = 3
    settings.PIPEWORKS_REPLICA_MAX_LAG = 5

    assert "pipeworks.W003" in [message.id for message in check_replicas(None)]


def test_check_is_silent_without_replicas(settings):
    settings.PIPEWORKS_REPLICA_DATABASES = []

    assert check_replicas(None) == []


@pytest.mark.django_db
def test_the_admin_index_shows_each_replica_and_why_it_is_skipped(replica_configured, client):
    set_health(available=False)  # the page's own reads then go to the primary
    client.force_login(make_user(is_staff=True, permissions=GAME_MASTER))

    response = client.get("/admin/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="pipeworks-replicas"' in page
    assert f'class="replica-{REPLICA}"' in page
    assert "no: cannot be reached" in page


@pytest.mark.django_db
def test_without_replicas_the_admin_index_has_no_replica_panel(settings, client):
    settings.PIPEWORKS_REPLICA_DATABASES = []
    client.force_login(make_user(is_staff=True, permissions=GAME_MASTER))

    assert 'id="pipeworks-replicas"' not in client.get("/admin/").content.decode()
