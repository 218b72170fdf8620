"""API writes are throttled per API key (else per user); reads never are.

The rate is ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api-writes"]``; a throttled write
gets 429 in the API's error shape with ``Retry-After``.
"""

import types

import pytest
import redis.client
from rest_framework.test import APIClient

from access.throttles import ApiWriteThrottle
from ledger.models import Event
from tests.api.conftest import GAME_MASTER, api_key_for, events_url, make_user, state_url
from tests.factories import CharacterFactory

pytestmark = pytest.mark.usefixtures("synced", "empty_cache", "clock")


@pytest.fixture
def staff_user(db):
    """A staff user with a game master's permissions."""
    return make_user(is_staff=True, permissions=GAME_MASTER)


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    return session_client(staff_user)


@pytest.fixture
def hero(synced):
    return CharacterFactory(name="hero", scores={"wealth": 0.3})


@pytest.fixture
def write_rate(settings):
    """Lower the API write rate to 3 a minute."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api-writes": "3/min"},
    }


def write(client, character_id):
    return client.post(
        events_url(character_id),
        {"event_type": "tick", "deltas": {"wealth": 0.01}},
        format="json",
    )


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_writes_over_the_rate_get_429_in_the_api_error_shape_with_retry_after(
    write_rate, staff_client, hero
):
    assert [write(staff_client, hero.pk).status_code for _ in range(3)] == [201] * 3

    response = write(staff_client, hero.pk)

    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "throttled"
    assert body["field"] is None
    assert body["detail"].startswith("Request was throttled.")
    assert set(body) == {"detail", "code", "field"}
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Event.objects.filter(event_type__name="tick").count() == 3


def test_a_throttled_client_may_write_again_after_retry_after(
    write_rate, staff_client, hero, clock
):
    for _ in range(3):
        write(staff_client, hero.pk)
    wait = int(write(staff_client, hero.pk)["Retry-After"])

    clock.now += wait - 1
    assert write(staff_client, hero.pk).status_code == 429
    clock.now += 1
    assert write(staff_client, hero.pk).status_code == 201


def test_reads_are_never_throttled(write_rate, staff_client, hero):
    for _ in range(3):
        write(staff_client, hero.pk)
    assert write(staff_client, hero.pk).status_code == 429

    assert [staff_client.get(state_url(hero.pk)).status_code for _ in range(10)] == [200] * 10


def test_each_user_has_a_count_of_their_own(write_rate, staff_client, hero):
    other = session_client(make_user(is_staff=True, permissions=GAME_MASTER))
    for _ in range(3):
        write(staff_client, hero.pk)
    assert write(staff_client, hero.pk).status_code == 429

    assert write(other, hero.pk).status_code == 201


def test_each_api_key_has_a_count_of_its_own(write_rate, staff_user, hero):
    first = key_client(api_key_for(staff_user))
    second = key_client(api_key_for(staff_user))
    for _ in range(3):
        assert write(first, hero.pk).status_code == 201
    assert write(first, hero.pk).status_code == 429

    assert write(second, hero.pk).status_code == 201


def test_the_throttle_key_is_the_credential_else_the_user():
    throttle = ApiWriteThrottle()
    user = types.SimpleNamespace(is_authenticated=True, pk=7)
    key = make_model_instance()

    assert throttle.get_cache_key(types.SimpleNamespace(auth=key, user=user), None) == (
        "auth.group:42"
    )
    assert throttle.get_cache_key(types.SimpleNamespace(auth=None, user=user), None) == "user:7"
    assert throttle.get_cache_key(types.SimpleNamespace(auth="token", user=user), None) == "user:7"


def make_model_instance():
    from django.contrib.auth.models import Group

    return Group(pk=42, name="stand-in for an API key")


def test_the_default_rate_is_generous(settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api-writes"] == "6000/min"
    assert ApiWriteThrottle().num_requests == 6000


def test_no_rate_means_no_throttle(settings, staff_client, hero):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api-writes": None},
    }

    assert [write(staff_client, hero.pk).status_code for _ in range(5)] == [201] * 5


def test_a_cache_outage_lets_writes_through(write_rate, staff_client, hero, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr("access.throttles.get_usage", down)

    assert [write(staff_client, hero.pk).status_code for _ in range(5)] == [201] * 5


def test_with_redis_each_write_is_counted_in_one_round_trip_and_limited(
    redis_cache, write_rate, staff_user, hero, clock, monkeypatch
):
    first = key_client(api_key_for(staff_user))
    second = key_client(api_key_for(staff_user))
    sent = []
    execute = redis.client.Pipeline.execute

    def counted(pipeline, *args, **kwargs):
        sent.append([command[0][0] for command in pipeline.command_stack])
        return execute(pipeline, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)

    statuses = [write(first, hero.pk).status_code for _ in range(4)]
    refused = write(first, hero.pk)

    assert statuses == [201, 201, 201, 429]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert sent == [["SET", "INCRBY"]] * 5  # one round trip per write
    assert write(second, hero.pk).status_code == 201  # a count of its own
    clock.now += 61  # the next window
    assert write(first, hero.pk).status_code == 201
