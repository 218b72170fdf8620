"""Every URL of the project is closed to anyone who is not staff.

The routes are enumerated from the project's URL resolver (the API's, the admin's and
every ModelAdmin's), so a route added later is checked without touching this file. Each
one is requested with GET, GET asking for HTML and POST by:

- an anonymous visitor: 401 or 403, or a redirect to the admin login page;
- a signed-in user who is not staff: 403;
- either of them asking the JSON API for HTML only: 406, before any authentication;
- staff in every role (no permissions, inspector, game master, a game master limited to
  another world, superuser): anything but a 5xx; and a POST by an inspector, or by a game
  master of another world, changes nothing.

Only the admin login page answers anonymous and non-staff visitors with a page: it is
the way in, and it shows no data.

At the end, one test per security finding: each failed before its fix.
"""

import os
import re
import sqlite3
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from access.models import LoginLockout, WorldMembership
from ledger.services import apply_event
from pipeworks.commands import NOT_PRODUCTION_FLAG
from pipeworks.settings import DEV_SECRET_KEY
from tests.api.conftest import GAME_MASTER, PASSWORD, READ, api_key_for, make_user
from tests.conftest import table_state
from tests.factories import CharacterFactory, UserFactory
from worlds.models import Character

LOGIN_URL = "/admin/login/"
# Routes anyone may open; each maps to what it answers them.
PUBLIC = {"admin/login/": "the admin login form"}
# Probes anyone may call (GET, HEAD); they reveal three booleans at most.
PROBES = {"healthz", "readyz"}
METHODS = ["get", "get-html", "post"]


def enumerate_routes(patterns=None, prefix: str = "") -> list[str]:
    """Return the full route of every URL pattern, in resolution order."""
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = URLResolver._join_route(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            routes.extend(enumerate_routes(pattern.url_patterns, route))
        else:
            assert isinstance(pattern, URLPattern)
            routes.append(route)
    return routes


ROUTES = enumerate_routes()

_PATH_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^)]*)\)")


@pytest.fixture
def targets(synced):
    """One real object of every model the admin lists, and the ids the routes take."""
    hero = CharacterFactory(name="hero", scores={"wealth": 0.3})
    event = apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    group = Group.objects.create(name="inspectors")
    WorldMembership.objects.create(group=group, world_id="beta")
    holder = UserFactory(username="token-holder")
    api_key_for(holder)
    LoginLockout.objects.create(
        kind="username", value="holder", failures=10, locked_until=timezone.now()
    )
    LogEntry.objects.create(
        user=holder, object_repr="inspectors", action_flag=ADDITION, change_message="[]"
    )
    return {"character": hero, "event": event}


def concrete_urls(route: str, targets: dict) -> list[str]:
    """Return URLs that exercise ``route``, its parameters filled with real values."""
    parts = route.split("/")
    character = targets["character"]

    def path_value(match: re.Match) -> str:
        name = match["name"]
        if name == "character_id":
            return str(character.pk)
        if name == "event_id":
            return str(targets["event"].pk)
        if name == "world_id":
            return character.world_id
        if name == "content_type_id":
            return str(ContentType.objects.get_for_model(Character).pk)
        if name == "object_id" and route.startswith("admin/r/"):
            return str(character.pk)
        if name in {"object_id", "id"}:  # admin/<app_label>/<model_name>/<object_id>/...
            model = ContentType.objects.get_by_natural_key(parts[1], parts[2]).model_class()
            instance = model._default_manager.order_by("pk").first()
            assert instance is not None, f"no {model.__name__} to open {route}"
            return str(instance.pk)
        raise AssertionError(f"{route}: no value for the path parameter {name!r}; add one")

    if "(?P<" not in route:
        return ["/" + _PATH_PARAMETER.sub(path_value, route)]
    (group,) = _REGEX_GROUP.finditer(route)
    if group["name"] == "app_label":
        values = group["body"].split("|")
    elif group["name"] == "url":
        values = ["no-such-page/"]
    else:
        raise AssertionError(f"{route}: no value for the regex group {group['name']!r}")
    template = route.replace("^", "").replace("$", "")
    return ["/" + template.replace(group.group(0), value) for value in values]


def request(client: Client, method: str, url: str):
    if method == "get":
        return client.get(url)
    if method == "get-html":
        return client.get(url, HTTP_ACCEPT="text/html")
    return client.post(url, {})


def assert_probe_reveals_nothing(response, method: str) -> None:
    """A probe answers GET with its status (and readiness checks) only, and refuses POST."""
    if method == "post":
        assert response.status_code == 405
        return
    assert response.status_code in (200, 503)
    body = response.json()
    assert set(body) <= {"status", "checks"}
    assert set(body.get("checks", {})) <= {"database", "migrations", "policies"}


def is_refused(response, method: str) -> bool:
    if response.status_code in (401, 403):
        return True
    if method == "get-html" and response.status_code == 406:
        # The JSON API negotiates the format before it authenticates: a client that
        # takes only HTML hears "not acceptable", with no data, whoever it is.
        return b"not_acceptable" in response.content
    return response.status_code == 302 and response["Location"].startswith(LOGIN_URL)


def test_the_enumeration_sees_every_part_of_the_project():
    assert len(ROUTES) > 60
    assert len(set(ROUTES)) == len(ROUTES)
    expected = {
        "admin/characters/<str:character_id>/axis-state",
        "admin/events:batch",
        "admin/worlds/<str:world_id>/policy",
        "admin/",
        "admin/login/",
        "admin/worlds/character/<path:object_id>/refresh-snapshot/",
        "admin/ledger/event/<path:object_id>/change/",
        "admin/(?P<url>.*)$",
        "api/schema/",
        "api/docs/",
    }
    assert expected <= set(ROUTES)


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_refuses_anonymous_visitors(targets, route):
    urls = concrete_urls(route, targets)
    assert any(resolve(url.split("?")[0]).route == route for url in urls), (
        f"no URL built for {route} reaches it"
    )
    for url in urls:
        for method in METHODS:
            response = request(Client(), method, url)

            if route in PUBLIC:
                assert response.status_code == 200, (method, url)
                assert b'id="login-form"' in response.content
            elif route in PROBES:
                assert_probe_reveals_nothing(response, method)
            elif route == "admin/logout/":
                # Django sends an anonymous logout to the index, which sends it to login.
                assert response.status_code == 302 and response["Location"] == "/admin/"
            else:
                assert is_refused(response, method), (method, url, response.status_code)


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_answers_signed_in_users_who_are_not_staff_with_403(targets, route):
    client = Client()
    member = make_user(is_staff=False)
    for url in concrete_urls(route, targets):
        for method in METHODS:
            client.force_login(member)

            response = request(client, method, url)

            if route in PUBLIC:
                assert response.status_code == 200, (method, url)
                assert b'id="login-form"' in response.content
            elif route in PROBES:
                assert_probe_reveals_nothing(response, method)
            elif method == "get-html" and response.status_code == 406:
                assert b"not_acceptable" in response.content
            else:
                assert response.status_code == 403, (method, url, response.status_code)


ROLES = {
    "staff": (),
    "inspector": READ,
    "game master": GAME_MASTER,
    "game master of another world": GAME_MASTER,
    "superuser": (),
}
# Roles whose POSTs may not change anything in world alpha, where every target lives.
READ_ONLY_ROLES = {"staff", "inspector", "game master of another world"}


def user_in_role(role: str):
    user = make_user(is_staff=True, permissions=ROLES[role])
    user.is_superuser = role == "superuser"
    user.save()
    if role == "game master of another world":
        WorldMembership.objects.create(user=user, world_id="beta")
    return user


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("role", ROLES)
def test_no_route_fails_with_a_server_error_for_staff_in_any_role(targets, route, role):
    client = Client(raise_request_exception=False)
    user = user_in_role(role)
    for url in concrete_urls(route, targets):
        for method in METHODS:
            client.force_login(user)  # again: the logout route signs the user out
            before = table_state()

            response = request(client, method, url)

            assert response.status_code < 500, (method, url, response.status_code)
            if role in READ_ONLY_ROLES:
                assert table_state() == before, (method, url, response.status_code)


# API key scopes: a service account with a game master's permissions, through keys that
# narrow them. Keys open the API only, never the admin's pages.
KEY_SCOPES = {
    "read-only key": {"may_apply": False, "may_reverse": False},
    "writing key": {"may_apply": True, "may_reverse": True},
    "key of another world": {"may_apply": True, "may_reverse": True, "worlds": ["beta"]},
}
READ_ONLY_KEYS = {"read-only key", "key of another world"}
API_ROUTES = {
    route
    for route in ROUTES
    if route.startswith(("admin/characters/", "admin/events"))
    or route.endswith(("/drift", "/characters"))
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("scope", KEY_SCOPES)
def test_no_route_fails_and_no_narrow_key_writes(targets, route, scope):
    owner = make_user(is_staff=False, permissions=GAME_MASTER)
    key = api_key_for(owner, **KEY_SCOPES[scope])
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Api-Key {key}")
    for url in concrete_urls(route, targets):
        for method in METHODS:
            before = table_state()

            response = request(client, method, url)

            assert response.status_code < 500, (method, url, response.status_code)
            if scope in READ_ONLY_KEYS:
                assert table_state() == before, (method, url, response.status_code)
            if route in PROBES:
                assert_probe_reveals_nothing(response, method)
            elif route not in API_ROUTES | PUBLIC.keys() and route != "admin/logout/":
                assert (
                    is_refused(response, method)
                    or response.status_code in (200, 405)
                    and (response.get("Content-Type", "").startswith("application/"))
                ), (method, url, response.status_code)


def test_the_admin_answers_a_signed_in_user_who_is_not_staff_with_403_not_a_login_redirect(
    targets,
):
    client = Client()
    client.force_login(make_user(is_staff=False))

    response = client.get("/admin/worlds/character/")

    assert response.status_code == 403


def test_the_admin_still_sends_anonymous_visitors_to_the_login_page(targets):
    response = Client().get("/admin/worlds/character/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/worlds/character/"


def test_the_login_page_tells_a_signed_in_user_who_is_not_staff_to_switch_accounts(targets):
    client = Client()
    member = make_user(is_staff=False)
    client.force_login(member)

    response = client.get(LOGIN_URL)

    assert response.status_code == 200
    assert f"You are authenticated as {member.username}" in response.content.decode()


def test_an_inactive_staff_user_is_treated_as_anonymous(targets):
    client = Client()
    user = make_user(is_staff=True)
    client.force_login(user)
    user.is_active = False
    user.save()

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN_URL}?next=/admin/"


# Findings ------------------------------------------------------------------------------

GOOD_SECRET_KEY = "a-real-secret-for-this-test-only-" + "Qm7Xp2Lr9Vt4Wz8" * 2  # noqa: S105
SECRET_KEY_REFUSED = "django.core.exceptions.ImproperlyConfigured: SECRET_KEY must be set"


def manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``manage.py`` on a SQLite file of its own, with none of the test's own settings."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in {"SECRET_KEY", "DEBUG", "PIPEWORKS_ENV", "REDIS_URL"}
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env={
            **inherited,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "PIPEWORKS_WORLDS_DIR": str(settings.BASE_DIR / "data" / "worlds"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


ENTRY_POINTS = {
    "manage.py check": ["manage.py", "check"],
    "the WSGI application gunicorn serves": ["-c", "import pipeworks.wsgi"],
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize(
    "key",
    [None, DEV_SECRET_KEY, "x7Gq2Lm9Pz" * 4, "django-insecure-" + "x7Gq2Lm9Pz" * 5, "ab" * 40],
    ids=["no key", "development key", "short key", "django-insecure key", "4 distinct chars"],
)
def test_without_debug_the_development_or_a_weak_secret_key_stops_every_entry_point(
    tmp_path, entry_point, key
):
    """Finding: without PIPEWORKS_ENV, DEBUG=0 ran with the public development key, and a
    signed cookie forged with it put raw HTML into the admin."""
    env = {"DEBUG": "0"} | ({"SECRET_KEY": key} if key is not None else {})

    result = manage(tmp_path, *ENTRY_POINTS[entry_point], **env)

    assert result.returncode != 0
    assert SECRET_KEY_REFUSED in result.stderr


@pytest.mark.parametrize(
    "env",
    [{"DEBUG": "0", "SECRET_KEY": GOOD_SECRET_KEY}, {"DEBUG": "1"}],
    ids=["debug off with a real key", "debug on without a key"],
)
def test_a_real_key_or_debug_starts(tmp_path, env):
    result = manage(tmp_path, "manage.py", "check", **env)

    assert result.returncode == 0, result.stderr


def demo_rows(database) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        return {
            table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("characters", "event", "auth_user")
        }


def test_demo_and_bench_commands_refuse_to_run_without_debug_and_write_nothing(tmp_path):
    """Run against production, load_demo and generate_ledger would write made-up data
    (and a superuser) into the real ledger."""
    production = {"DEBUG": "0", "SECRET_KEY": GOOD_SECRET_KEY}
    for step in (["migrate", "-v0"], ["sync_policies", "-v0"]):
        assert manage(tmp_path, "manage.py", *step, DEBUG="1").returncode == 0
    commands = {
        "load_demo": ["load_demo"],
        "generate_ledger": ["generate_ledger", "--characters", "2", "--events", "4"],
    }
    empty = demo_rows(tmp_path / "db.sqlite3")
    assert empty == {"characters": 0, "event": 0, "auth_user": 0}

    for name, command in commands.items():
        refused = manage(tmp_path, "manage.py", *command, **production)

        assert refused.returncode == 1, name
        assert refused.stderr.startswith(f"CommandError: {name} writes demo or benchmark data")
        assert NOT_PRODUCTION_FLAG in refused.stderr
        assert demo_rows(tmp_path / "db.sqlite3") == empty
    for name, command in commands.items():
        allowed = manage(tmp_path, "manage.py", *command, NOT_PRODUCTION_FLAG, **production)

        assert allowed.returncode == 0, (name, allowed.stderr)
    assert all(demo_rows(tmp_path / "db.sqlite3").values())


def test_the_anonymous_login_form_refuses_a_body_over_16_kib(db):
    """Finding: the 16 MiB body limit meant for batches let anyone make the login form
    read 16 MiB; a login POST takes a few hundred bytes."""
    client = Client()
    user = make_user(is_staff=True)
    form = {"username": user.username, "password": PASSWORD, "padding": "x" * 1024 * 1024}

    response = client.post(LOGIN_URL, form)

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_login_brute_force_is_locked_out_before_the_password_is_checked(db, monkeypatch):
    """Finding: /admin/login/ had no throttling: 60 wrong passwords, then the right one,
    logged in; each guess cost PBKDF2 CPU that the API's requests waited for. Now 10
    failures lock the username: the right password gets 429, and hashes nothing."""
    import types

    import django_ratelimit.core
    from django.contrib.auth.hashers import MD5PasswordHasher
    from django.core.cache import caches

    caches["default"].clear()
    # A stopped clock: the failures cannot straddle the end of a counting window.
    stopped = types.SimpleNamespace(time=lambda: 1_800_000_000.0)
    monkeypatch.setattr(django_ratelimit.core, "time", stopped)
    hashed = []
    verify = MD5PasswordHasher.verify
    monkeypatch.setattr(
        MD5PasswordHasher, "verify", lambda self, *args: hashed.append(1) or verify(self, *args)
    )
    client = Client()
    user = make_user(is_staff=True)
    try:
        for _ in range(10):
            client.post(LOGIN_URL, {"username": user.username, "password": "wrong-guess"})
        checked = len(hashed)

        response = client.post(LOGIN_URL, {"username": user.username, "password": PASSWORD})

        assert checked == 10
        assert response.status_code == 429 and int(response["Retry-After"]) > 0
        assert "Too many failed logins for this account" in response.content.decode()
        assert "_auth_user_id" not in client.session
        assert len(hashed) == checked
    finally:
        caches["default"].clear()


# Bounded cost per request (docs/security.md) ---------------------------------------------


def test_a_wide_event_page_is_paginated(admin_client, synced, monkeypatch):
    """Finding: the admin page of one event touching 60,000 characters ran into the 30 s
    worker timeout (every delta a row); a client could write such an event (a 15 MB batch
    took 28 s and 1.17 GB). Now a client's event takes at most 1,000 deltas and a batch
    20,000, and an event's page shows one page of deltas in the queries of a small one."""
    from ledger import admin as ledger_admin
    from ledger.exceptions import LedgerError
    from ledger.services import apply_event
    from tests.admin.test_admin_bounds import delta_forms, wide_event

    monkeypatch.setattr(ledger_admin.DeltaPageFormSet, "per_page", 50)
    event = wide_event(700)  # a system event: 2,100 deltas
    response = admin_client.get(f"/admin/ledger/event/{event.pk}/change/", {"deltas_page": 2})
    assert len(delta_forms(response).forms) == 50
    assert "Deltas 51–100 of 2100" in response.content.decode()
    before = table_state()
    with pytest.raises(LedgerError, match="at most 1000 deltas"):
        apply_event(world_id="alpha", event_type="raid", deltas=event_deltas(event))
    assert table_state() == before


def event_deltas(event) -> dict[int, dict[str, float]]:
    deltas: dict[int, dict[str, float]] = {}
    for character_id, axis in event.deltas.values_list("character_id", "axis__name"):
        deltas.setdefault(character_id, {})[axis] = 0.01
    return deltas


def test_admin_actions_over_many_characters_are_bounded(admin_client, synced):
    """Finding: "verify ledger" on all characters (the changelist action) ran into the
    worker timeout. Now an action runs on at most 100 characters; past that, nothing is
    run and the message names the streaming command."""
    from ledger.generator import generate_ledger
    from tests.admin.test_admin_bounds import run_action
    from worlds.admin.characters import MAX_ACTION_CHARACTERS

    generate_ledger(world_id="alpha", characters=MAX_ACTION_CHARACTERS + 1, events=200)
    ids = list(Character.objects.values_list("pk", flat=True))
    before = table_state()

    response = run_action(admin_client, "verify_ledgers", ids[:1], across=True)

    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1 and "manage.py verify_ledger <world_id>" in messages[0]
    assert table_state() == before


def test_event_types_per_world_are_capped(admin_client, synced, settings):
    """Finding: event types were unbounded and permanent, and the event list's type
    filter listed every one (4.4 MB page after 20,000 types). Now a world holds at most
    PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD client types, and the filter lists only the
    selected one."""
    from ledger.exceptions import LedgerError
    from ledger.models import EventType
    from ledger.services import apply_event
    from worlds.models import World

    settings.PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD = 50
    alpha = World.objects.get(pk="alpha")
    EventType.objects.bulk_create(EventType(world=alpha, name=f"type_{i}") for i in range(50))
    hero = CharacterFactory()
    before = table_state()
    with pytest.raises(LedgerError) as refused:
        apply_event(world_id="alpha", event_type="one_more", deltas={hero.pk: {"wealth": 0.1}})
    assert refused.value.code == "too_many_event_types"
    assert table_state() == before
    page = admin_client.get("/admin/ledger/event/").content.decode()
    assert "type_1" not in page


# One test per finding of the security review (docs/security.md) -------------------------


def test_api_credentials_are_hashed_and_staff_cannot_mint_one_for_a_superuser(client, synced):
    """Finding 2: tokens were plain text, never expired, and a staff user with the token
    "add" permission minted and read one for a superuser."""
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    from access.models import ApiKey

    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    staff = make_user(is_staff=True, permissions=(*GAME_MASTER, "access.add_apikey"))
    client.force_login(staff)

    response = client.post(
        reverse("admin:access_apikey_add"),
        {
            "name": "stolen",
            "owner": root.pk,
            "expiry_date_0": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d"),
            "expiry_date_1": "12:00:00",
        },
    )

    assert "owner" in response.context["adminform"].form.errors
    assert not ApiKey.objects.filter(owner=root).exists()
    key = api_key_for(staff)
    stored = ApiKey.objects.filter(owner=staff).values_list().get()
    assert key.split(".")[1] not in str(stored)  # only a hash at rest
    ApiKey.objects.filter(owner=staff).update(expiry_date=timezone.now() - timedelta(seconds=1))
    expired = Client(HTTP_AUTHORIZATION=f"Api-Key {key}").get("/admin/worlds/")
    assert expired.status_code == 401


def test_staff_with_change_user_cannot_promote_themselves(client, db):
    """Finding 3: a staff user with only auth.change_user made themselves superuser and
    reset the superuser's password."""
    from django.urls import reverse

    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    helpdesk = make_user(is_staff=True, permissions=("auth.change_user", "auth.view_user"))
    client.force_login(helpdesk)
    root_password = root.password

    promote = client.post(
        reverse("admin:auth_user_change", args=[helpdesk.pk]),
        {"username": helpdesk.username, "is_superuser": "on", "is_staff": "on"},
    )
    reset = client.post(
        reverse("admin:auth_user_password_change", args=[root.pk]),
        {"password1": "taken-over-9876", "password2": "taken-over-9876"},
    )

    assert (promote.status_code, reset.status_code) == (403, 403)
    helpdesk.refresh_from_db()
    root.refresh_from_db()
    assert not helpdesk.is_superuser
    assert root.password == root_password


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    """Finding 6: YAML aliases expanded without limit (499 bytes: 17.5 s and 1.2 GB)."""
    import time

    from tests.worlds.policy_texts import load
    from tests.worlds.test_policy_yaml_limits import billion_laughs

    started = time.perf_counter()
    report = load(tmp_path, axes=billion_laughs())

    assert time.perf_counter() - started < 0.5
    assert report.policy_hash is None
    assert "anchors and aliases are not allowed" in str(report.errors[0])


@pytest.mark.sqlite
@pytest.mark.django_db
def test_insert_or_replace_cannot_rewrite_a_ledger_row(synced):
    """Finding 6: INSERT OR REPLACE rewrote a ledger row past the append-only triggers."""
    from django.db import DatabaseError, connection, transaction

    from ledger.models import Event

    hero = CharacterFactory(name="hero")
    event = apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    before = list(Event.objects.filter(pk=event.pk).values_list())

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT OR REPLACE INTO event (id, world_id, event_type_id, timestamp, "
                "request_hash) SELECT id, world_id, event_type_id, timestamp, 'forged' "
                "FROM event WHERE id = %s",
                [event.pk],
            )

    assert list(Event.objects.filter(pk=event.pk).values_list()) == before
