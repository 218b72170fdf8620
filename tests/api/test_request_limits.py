"""Requests over Django's upload limits get a JSON 400 (regressions found by fuzzing)."""

import json

import pytest

from pipeworks.api import API_REQUEST_TOO_LARGE, API_TOO_MANY_PARAMETERS
from tests.conftest import table_state


@pytest.mark.parametrize(
    "url", ["/admin/events", "/admin/events:batch", "/admin/characters/{hero}/axis-events"]
)
def test_a_body_over_the_upload_limit_is_a_json_400_and_writes_nothing(
    staff_client, hero, settings, url
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
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
