"""Server-to-server API keys: hashed at rest, shown once, expiring, revocable, many per
owner, limited to worlds and to read or write, never stronger than whoever made them."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from access.models import ApiKey, WorldMembership
from access.services import create_api_key
from ledger.models import Event
from tests.api.conftest import GAME_MASTER, READ, events_url, make_user, state_url
from tests.factories import CharacterFactory

hash_tokens = importlib.import_module("access.migrations.0005_hash_drf_tokens").hash_tokens

LOOT = {"event_type": "loot", "deltas": {"wealth": 0.1}}


@pytest.fixture
def hero(synced):
    return CharacterFactory(name="hero", scores={"wealth": 0.3})


@pytest.fixture
def service_account(db):
    """A game server's account: not staff, a game master's permissions."""
    return make_user(is_staff=False, permissions=GAME_MASTER)


def new_key(owner, **options) -> tuple[ApiKey, str]:
    options.setdefault("expires_at", timezone.now() + timedelta(days=1))
    return create_api_key(owner=owner, name="game server", **options)


def client_with(key: str, scheme: str = "Api-Key") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return client


def test_a_key_is_stored_only_as_a_hash(service_account):
    api_key, key = new_key(service_account)

    stored = ApiKey.objects.filter(pk=api_key.pk).values_list().get()
    assert key not in str(stored)
    assert key.split(".")[1] not in str(stored)
    assert api_key.hashed_key.startswith("sha512$$")


def test_a_service_account_key_writes_and_the_actor_is_the_key(service_account, hero):
    api_key, key = new_key(service_account, may_apply=True)

    response = client_with(key).post(events_url(hero.pk), LOOT, format="json")

    assert response.status_code == 201, response.content
    event = Event.objects.get(pk=response.json()["event_id"])
    assert event.actor_name == f"{service_account.username} (key {api_key.prefix})"
    assert (event.actor_user_id, event.actor_key) == (service_account.pk, api_key.prefix)
    # The same account cannot use the admin or a session: it is not staff.
    session = APIClient()
    session.force_login(service_account)
    assert session.get(state_url(hero.pk)).status_code == 403


def test_a_read_only_key_cannot_write_even_for_a_game_master(service_account, hero):
    _, key = new_key(service_account)
    client = client_with(key)

    assert client.get(state_url(hero.pk)).status_code == 200
    refused = client.post(events_url(hero.pk), LOOT, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this API key may not apply events"


def test_a_key_is_never_stronger_than_its_owner(hero):
    reader = make_user(is_staff=False, permissions=READ)
    _, key = new_key(reader, may_apply=True, may_reverse=True)

    response = client_with(key).post(events_url(hero.pk), LOOT, format="json")

    assert response.status_code == 403
    assert response.json()["detail"] == "you may not apply events"


def test_a_key_limited_to_a_world_cannot_touch_another(service_account, hero):
    _, key = new_key(service_account, may_apply=True, worlds=["beta"])

    response = client_with(key).post(events_url(hero.pk), LOOT, format="json")

    assert response.status_code == 403
    assert "world 'alpha'" in response.json()["detail"]
    worlds = client_with(key).get("/admin/worlds/").json()["worlds"]
    assert [world["world_id"] for world in worlds] == ["beta"]


def test_a_key_is_within_its_owners_world_limits_too(service_account, hero):
    WorldMembership.objects.create(user=service_account, world_id="beta")
    _, key = new_key(service_account, may_apply=True, worlds=["alpha"])

    assert client_with(key).get(state_url(hero.pk)).status_code == 403


def test_many_keys_per_owner_each_revocable(service_account, hero, admin_client):
    first, first_key = new_key(service_account)
    _, second_key = new_key(service_account)

    admin_client.post(
        reverse("admin:access_apikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [first.pk]},
    )

    assert client_with(first_key).get(state_url(hero.pk)).status_code == 401
    assert client_with(second_key).get(state_url(hero.pk)).status_code == 200
    entry = LogEntry.objects.get(object_id=first.pk)
    assert entry.get_change_message() == "Revoked"


def test_an_expired_key_is_refused(service_account, hero):
    api_key, key = new_key(service_account)
    ApiKey.objects.filter(pk=api_key.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))

    response = client_with(key).get(state_url(hero.pk))

    assert response.status_code == 401
    assert response.json()["detail"] == "The API key has expired."


def test_the_admin_shows_a_new_key_once_and_never_again(admin_client, service_account):
    response = admin_client.post(
        reverse("admin:access_apikey_add"),
        {
            "name": "world server",
            "owner": service_account.pk,
            "may_apply": "on",
            "expiry_date_0": (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%d"),
            "expiry_date_1": "12:00:00",
        },
    )

    assert response.status_code == 200, response.content
    key = response.context["key"]
    api_key = ApiKey.objects.get(name="world server")
    assert key.startswith(f"{api_key.prefix}.") and key in response.content.decode()
    assert api_key.created_by.username == "admin"
    for page in (
        admin_client.get(reverse("admin:access_apikey_changelist")),
        admin_client.get(reverse("admin:access_apikey_change", args=[api_key.pk])),
    ):
        assert page.status_code == 200
        assert key not in page.content.decode()
    assert key not in str(list(LogEntry.objects.values_list()))


@pytest.mark.parametrize(
    ("creator_permissions", "key_fields", "error_field"),
    [
        ((*READ, "access.add_apikey"), {"may_apply": "on"}, "may_apply"),
        ((*READ, "access.add_apikey"), {"may_reverse": "on"}, "may_reverse"),
        (("access.add_apikey",), {}, None),  # may not even read
    ],
)
def test_nobody_mints_a_key_stronger_than_their_own_rights(
    client, service_account, creator_permissions, key_fields, error_field
):
    creator = make_user(is_staff=True, permissions=creator_permissions)
    client.force_login(creator)

    response = client.post(
        reverse("admin:access_apikey_add"),
        {
            "name": "too strong",
            "owner": service_account.pk,
            "expiry_date_0": (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%d"),
            "expiry_date_1": "12:00:00",
            **key_fields,
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert (error_field or "__all__") in errors
    assert not ApiKey.objects.filter(name="too strong").exists()


def test_a_non_superuser_cannot_mint_a_key_for_another_staff_account(client, db):
    creator = make_user(is_staff=True, permissions=(*GAME_MASTER, "access.add_apikey"))
    other_staff = make_user(is_staff=True, permissions=GAME_MASTER)
    client.force_login(creator)

    response = client.post(
        reverse("admin:access_apikey_add"),
        {
            "name": "borrowed",
            "owner": other_staff.pk,
            "expiry_date_0": (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%d"),
            "expiry_date_1": "12:00:00",
        },
    )

    assert "owner" in response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_a_world_limited_creator_must_limit_the_key_to_their_worlds(
    client, service_account, synced
):
    creator = make_user(is_staff=True, permissions=(*GAME_MASTER, "access.add_apikey"))
    WorldMembership.objects.create(user=creator, world_id="beta")
    client.force_login(creator)
    form = {
        "name": "scoped",
        "owner": service_account.pk,
        "expiry_date_0": (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%d"),
        "expiry_date_1": "12:00:00",
    }

    unlimited = client.post(reverse("admin:access_apikey_add"), form)
    limited = client.post(reverse("admin:access_apikey_add"), {**form, "worlds": ["beta"]})

    assert "worlds" in unlimited.context["adminform"].form.errors
    assert limited.status_code == 200 and "key" in limited.context
    assert list(ApiKey.objects.get().worlds.values_list("pk", flat=True)) == ["beta"]


def test_drf_tokens_become_hashed_legacy_keys_that_keep_working(hero, service_account):
    token = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "user_id integer NOT NULL, created timestamp NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [token, service_account.pk, timezone.now()],
        )

    hash_tokens(apps, SimpleNamespace(connection=connection))

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # the plain text is gone
    legacy = ApiKey.objects.get(legacy=True)
    assert token not in str(ApiKey.objects.filter(pk=legacy.pk).values_list().get())
    assert client_with(token, "Token").get(state_url(hero.pk)).status_code == 200
    response = client_with(token, "Token").post(events_url(hero.pk), LOOT, format="json")
    assert response.status_code == 201
    assert client_with(token, "Api-Key").get(state_url(hero.pk)).status_code == 401


def test_create_api_key_prints_a_working_key(service_account, hero):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "create_api_key",
        "--owner",
        service_account.username,
        "--name",
        "cli",
        "--apply",
        stdout=out,
    )

    key = out.getvalue().strip()
    assert client_with(key).post(events_url(hero.pk), LOOT, format="json").status_code == 201


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--owner", "nobody"], "no user 'nobody'"),
        (["--world", "atlantis"], "unknown world(s): atlantis"),
        (["--expires-in-days", "0"], "--expires-in-days must be at least 1"),
    ],
)
def test_create_api_key_refuses_bad_arguments_and_writes_nothing(
    service_account, synced, arguments, message
):
    from django.core.management import CommandError, call_command

    options = {"--owner": service_account.username, "--name": "cli"}
    for flag, value in zip(arguments[::2], arguments[1::2], strict=True):
        options[flag] = value

    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("create_api_key", *[item for pair in options.items() for item in pair])

    assert not ApiKey.objects.exists()
