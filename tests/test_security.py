"""Every URL of the project is closed to anyone who is not staff.

The routes are enumerated from the project's URL resolver (the API's, the admin's and
every ModelAdmin's), so a route added later is checked without touching this file. Each
one is requested with GET, GET asking for HTML and POST by:

- an anonymous visitor: 401 or 403, or a redirect to the admin login page;
- a signed-in user who is not staff: 403;
- either of them asking the JSON API for HTML only: 406, before any authentication;
- a staff user without permissions and a superuser: anything but a 5xx.

Only the admin login page answers anonymous and non-staff visitors with a page: it is
the way in, and it shows no data.
"""

import re

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.authtoken.models import Token

from ledger.services import apply_event
from tests.api.conftest import make_user
from tests.factories import CharacterFactory, UserFactory
from worlds.models import Character

LOGIN_URL = "/admin/login/"
# Routes anyone may open; each maps to what it answers them.
PUBLIC = {"admin/login/": "the admin login form"}
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
    apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    Group.objects.create(name="inspectors")
    Token.objects.create(user=UserFactory(username="token-holder"))
    return {"character": hero}


def concrete_urls(route: str, targets: dict) -> list[str]:
    """Return URLs that exercise ``route``, its parameters filled with real values."""
    parts = route.split("/")
    character = targets["character"]

    def path_value(match: re.Match) -> str:
        name = match["name"]
        if name == "character_id":
            return str(character.pk)
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
            elif method == "get-html" and response.status_code == 406:
                assert b"not_acceptable" in response.content
            else:
                assert response.status_code == 403, (method, url, response.status_code)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("role", ["staff", "superuser"])
def test_no_route_fails_with_a_server_error_for_staff(targets, route, role):
    client = Client(raise_request_exception=False)
    user = make_user(is_staff=True)
    user.is_superuser = role == "superuser"
    user.save()
    for url in concrete_urls(route, targets):
        for method in METHODS:
            client.force_login(user)  # again: the logout route signs the user out

            response = request(client, method, url)

            assert response.status_code < 500, (method, url, response.status_code)


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
