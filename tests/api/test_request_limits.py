"""Requests over the body and parameter limits get a JSON 400 (regressions found by fuzzing).

Each endpoint's body limit is tested at the bound: a body of exactly the limit is
accepted, one byte more is refused and writes nothing (``pipeworks/request_limits.py``).
"""

import json
from io import BytesIO
from urllib.parse import urlencode

import pytest
from django.core.handlers.asgi import ASGIRequest
from django.test import Client
from django.urls import resolve

from pipeworks.api import API_REQUEST_TOO_LARGE, API_TOO_MANY_PARAMETERS
from pipeworks.request_limits import RequestBodyLimitMiddleware
from tests.api.conftest import PASSWORD, make_user
from tests.conftest import table_state

MIB = 1024 * 1024
DEFAULT_LIMIT = 2_621_440  # Django's 2.5 MiB: every endpoint but the batch
BATCH_LIMIT = 16 * MIB  # POST /admin/events:batch


@pytest.mark.parametrize(
    "url", ["/admin/events", "/admin/events:batch", "/admin/characters/{hero}/axis-events"]
)
def test_a_body_over_the_upload_limit_is_a_json_400_and_writes_nothing(
    staff_client, hero, settings, url
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.PIPEWORKS_REQUEST_BODY_LIMITS = {
        **settings.PIPEWORKS_REQUEST_BODY_LIMITS,
        "api-events-batch": 1000,
    }
    before = table_state()

    response = staff_client.post(
        url.format(hero=hero.pk),
        json.dumps({"event_type": "tick", "padding": "x" * 1000}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": API_REQUEST_TOO_LARGE.format(limit=1000),
        "code": "request_too_large",
        "field": None,
    }
    assert table_state() == before


@pytest.mark.parametrize(
    "url", ["/admin/characters/{hero}/axis-state", "/admin/worlds/", "/admin/events"]
)
def test_too_many_query_parameters_are_a_json_400(staff_client, hero, url):
    query = "&".join(f"p{index}=1" for index in range(1001))

    response = staff_client.generic(
        "POST" if url == "/admin/events" else "GET", f"{url.format(hero=hero.pk)}?{query}"
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": API_TOO_MANY_PARAMETERS.format(limit=1000),
        "code": "too_many_parameters",
        "field": None,
    }


def padded(document: dict, size: int) -> bytes:
    """Return ``document`` as JSON padded with trailing whitespace to exactly ``size`` bytes."""
    body = json.dumps(document).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def valid_request(url: str, hero) -> dict:
    if url == "/admin/events:batch":
        return {
            "world_id": "alpha",
            "events": [{"event_type": "tick", "deltas": [_delta(hero)]}] * 3,
        }
    if url == "/admin/events":
        return {"world_id": "alpha", "event_type": "tick", "deltas": [_delta(hero)]}
    return {"event_type": "tick", "deltas": {"wealth": 0.01}}


def _delta(hero) -> dict:
    return {"character_id": hero.pk, "axis_name": "wealth", "delta": 0.01}


@pytest.mark.parametrize(
    "url, limit",
    [
        ("/admin/events", DEFAULT_LIMIT),
        ("/admin/characters/{hero}/axis-events", DEFAULT_LIMIT),
        ("/admin/events:batch", BATCH_LIMIT),
    ],
    ids=["events", "character events", "batch"],
)
def test_an_api_body_of_exactly_its_limit_is_accepted_and_one_byte_more_is_refused(
    staff_client, hero, url, limit
):
    url = url.format(hero=hero.pk)

    at_limit = staff_client.post(
        url, padded(valid_request(url, hero), limit), content_type="application/json"
    )
    before = table_state()
    over_limit = staff_client.post(
        url, padded(valid_request(url, hero), limit + 1), content_type="application/json"
    )

    assert at_limit.status_code == 201, at_limit.content[:300]
    assert over_limit.status_code == 400
    assert over_limit["Content-Type"] == "application/json"
    assert over_limit.json() == {
        "detail": API_REQUEST_TOO_LARGE.format(limit=limit),
        "code": "request_too_large",
        "field": None,
    }
    assert table_state() == before


def test_a_body_longer_than_its_declared_length_is_refused_by_what_is_read(rf, settings):
    """ASGI spools a chunked body, with no Content-Length, whatever its length."""
    settings.PIPEWORKS_REQUEST_BODY_LIMITS = {"api-events-batch": 100}
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/admin/events:batch",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    middleware = RequestBodyLimitMiddleware(lambda request: None)

    def process(body: bytes):
        request = ASGIRequest(scope, BytesIO(body))
        request.resolver_match = match = resolve(scope["path"])
        return request, middleware.process_view(request, match.func, (), {})

    request, at_limit = process(b" " * 100)
    _, over_limit = process(b" " * 101)

    assert at_limit is None and request.body == b" " * 100
    assert over_limit.status_code == 400
    assert json.loads(over_limit.content)["code"] == "request_too_large"


LOGIN_URL = "/admin/login/"
LOGIN_LIMIT = 16 * 1024


def login_body(client, username: str, size: int) -> str:
    """Return a real login POST (with the CSRF token) padded to exactly ``size`` bytes."""
    client.get(LOGIN_URL)
    fields = {
        "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        "username": username,
        "password": PASSWORD,
        "next": "/admin/",
    }
    body = urlencode(fields) + "&padding="
    assert len(body) <= size
    return body + "x" * (size - len(body))


def test_the_admin_login_accepts_a_body_of_exactly_16_kib_and_refuses_one_byte_more(db):
    user = make_user(is_staff=True)
    refused, accepted = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    form = "application/x-www-form-urlencoded"

    over_limit = refused.post(
        LOGIN_URL, login_body(refused, user.username, LOGIN_LIMIT + 1), content_type=form
    )
    user.refresh_from_db()
    signed_in_after_refusal = user.last_login is not None
    at_limit = accepted.post(
        LOGIN_URL, login_body(accepted, user.username, LOGIN_LIMIT), content_type=form
    )

    assert over_limit.status_code == 400
    assert not signed_in_after_refusal
    assert "_auth_user_id" not in refused.session
    assert at_limit.status_code == 302 and at_limit["Location"] == "/admin/"
    assert "_auth_user_id" in accepted.session
