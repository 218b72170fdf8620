"""Who may use the API: staff only, by admin session (with CSRF on writes) or by token."""

import json

import pytest
from rest_framework.test import APIClient

from access.authentication import API_KEY_INVALID, API_KEY_MALFORMED, API_KEY_OWNER_INACTIVE
from tests.api.conftest import (
    PASSWORD,
    WORLD_EVENTS_URL,
    WORLDS_URL,
    api_key_for,
    events_url,
    make_user,
    policy_url,
    state_url,
)
from tests.conftest import table_state

SCHEMA_URL = "/api/schema/"
DOCS_URL = "/api/docs/"


def character_event(hero) -> dict:
    return {"event_type": "tick", "deltas": {"wealth": 0.1}}


def world_event(hero) -> dict:
    return {
        "world_id": "alpha",
        "event_type": "tick",
        "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1}],
    }


def world_tick(hero) -> dict:
    event = world_event(hero)
    return {"world_id": event.pop("world_id"), "events": [event]}


# (method, url(hero), body(hero) or None, success status)
ENDPOINTS = {
    "axis-state": ("get", lambda h: state_url(h.pk), None, 200),
    "axis-events": ("get", lambda h: events_url(h.pk), None, 200),
    "apply-character-event": ("post", lambda h: events_url(h.pk), character_event, 201),
    "apply-event": ("post", lambda h: WORLD_EVENTS_URL, world_event, 201),
    "apply-events": ("post", lambda h: WORLD_EVENTS_URL + ":batch", world_tick, 201),
    "worlds": ("get", lambda h: WORLDS_URL, None, 200),
    "world-policy": ("get", lambda h: policy_url("alpha"), None, 200),
    "world-policy-impact": ("get", lambda h: policy_url("alpha") + "/impact", None, 200),
    "schema": ("get", lambda h: SCHEMA_URL, None, 200),
    "docs": ("get", lambda h: DOCS_URL, None, 200),
}
JSON_ENDPOINTS = [name for name in ENDPOINTS if name not in ("schema", "docs")]


def refusal(detail: str, code: str) -> dict:
    """The API's error body for a refused authentication or permission (DRF's messages)."""
    return {"detail": detail, "code": code, "field": None}


NOT_STAFF = refusal("the API is for staff only", "permission_denied")


def call(client, name, hero):
    method, url, body, _ = ENDPOINTS[name]
    if body is None:
        return getattr(client, method)(url(hero))
    return getattr(client, method)(
        url(hero), json.dumps(body(hero)), content_type="application/json"
    )


def admin_login(client, user) -> str:
    """Log in through the admin login form, as a person would; return the CSRF token."""
    client.get("/admin/login/")
    response = client.post(
        "/admin/login/",
        {
            "username": user.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
            "next": "/admin/",
        },
    )
    assert response.status_code == 302, "the admin login failed"
    return client.cookies["csrftoken"].value  # rotated by the login


@pytest.mark.parametrize("name", ENDPOINTS)
def test_anonymous_requests_are_401_and_ask_for_a_token(anonymous_client, hero, name):
    before = table_state()

    response = call(anonymous_client, name, hero)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert table_state() == before


@pytest.mark.parametrize("name", JSON_ENDPOINTS)
def test_anonymous_error_body_is_the_json_error_shape(anonymous_client, hero, name):
    response = call(anonymous_client, name, hero)

    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
        "field": None,
    }


@pytest.mark.parametrize("name", ENDPOINTS)
def test_logged_in_users_who_are_not_staff_are_403(member_client, hero, name):
    before = table_state()

    response = call(member_client, name, hero)

    assert response.status_code == 403
    assert table_state() == before
    if name in JSON_ENDPOINTS:
        assert response.json() == NOT_STAFF


@pytest.mark.parametrize("name", ENDPOINTS)
def test_staff_with_an_admin_session_may_use_every_endpoint(hero, staff_user, name):
    client = APIClient(enforce_csrf_checks=True)
    csrf = admin_login(client, staff_user)
    client.credentials(HTTP_X_CSRFTOKEN=csrf)

    response = call(client, name, hero)

    assert response.status_code == ENDPOINTS[name][3]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_staff_with_a_token_may_use_every_endpoint(token_client, hero, name):
    response = call(token_client, name, hero)

    assert response.status_code == ENDPOINTS[name][3]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_a_key_of_a_user_without_permissions_is_403(hero, name):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(make_user(is_staff=False))}")

    assert call(client, name, hero).status_code == 403


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Api-Key not-a-real-key", API_KEY_INVALID),
        ("Api-Key abcdefgh.wrong-secret", API_KEY_INVALID),
        ("Token 0123456789abcdef0123456789abcdef01234567", API_KEY_INVALID),
        ("Api-Key", API_KEY_MALFORMED),
        ("Api-Key a b", API_KEY_MALFORMED),
    ],
)
def test_a_bad_token_is_401(hero, header, detail):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(state_url(hero.pk))

    assert response.status_code == 401
    assert response.json() == refusal(detail, "authentication_failed")


def test_the_token_of_a_deactivated_user_is_401(token_client, staff_user, hero):
    staff_user.is_active = False
    staff_user.save()

    response = token_client.get(state_url(hero.pk))

    assert response.status_code == 401
    assert response.json() == refusal(API_KEY_OWNER_INACTIVE, "authentication_failed")


@pytest.mark.parametrize("name", ["apply-character-event", "apply-event"])
def test_a_session_write_without_the_csrf_token_is_403_and_writes_nothing(hero, staff_user, name):
    client = APIClient(enforce_csrf_checks=True)
    admin_login(client, staff_user)
    before = table_state()

    response = call(client, name, hero)

    assert response.status_code == 403
    assert response.json() == refusal("CSRF Failed: CSRF token missing.", "permission_denied")
    assert table_state() == before


@pytest.mark.parametrize("name", ["apply-character-event", "apply-event"])
def test_a_session_write_with_a_wrong_csrf_token_is_403(hero, staff_user, name):
    client = APIClient(enforce_csrf_checks=True)
    admin_login(client, staff_user)
    client.credentials(HTTP_X_CSRFTOKEN="x" * 32)

    response = call(client, name, hero)

    assert response.status_code == 403
    assert response.json() == refusal(
        "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
        "permission_denied",
    )


@pytest.mark.parametrize("name", ["apply-character-event", "apply-event"])
def test_a_session_write_with_the_csrf_token_is_201(hero, staff_user, name):
    client = APIClient(enforce_csrf_checks=True)
    csrf = admin_login(client, staff_user)
    client.credentials(HTTP_X_CSRFTOKEN=csrf)

    assert call(client, name, hero).status_code == 201


def test_the_swagger_ui_is_served_from_the_sidecar_without_a_cdn(staff_client):
    response = staff_client.get(DOCS_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert "/api/schema/" in page
