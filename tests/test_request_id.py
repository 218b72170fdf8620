"""Every response carries an X-Request-ID, and every log line of its request shows it."""

import io
import logging
import re

import pytest
from django.http import HttpResponse
from django.urls import path

from pipeworks.request_id import (
    MAX_REQUEST_ID_LENGTH,
    NO_REQUEST_ID,
    RequestIdFilter,
    RequestIdMiddleware,
    current_request_id,
)

GENERATED = re.compile(r"[0-9a-f]{32}")
VIEW_LOG_LINE = "the view was here"

# What each kind of response looks like anonymously: the admin's page, a 404, the API.
RESPONSES = {
    "admin page": ("/admin/login/", 200, "text/html; charset=utf-8"),
    "not found": ("/nowhere/", 404, "text/html; charset=utf-8"),
    "api": ("/admin/characters/1/axis-state", 401, "application/json"),
}

HOSTILE = {
    "10 kB": "x" * 10_000,
    "NUL": "abc\x00def",
    "newline": "abc\ndef: forged log line",
    "carriage return": "abc\rdef",
    "DEL": "abc\x7f",
    "tab": "abc\tdef",
    "non-ASCII": "caf\xe9",
    "empty": "",
    "blank": "   ",
}


def logging_view(request):
    logging.getLogger("pipeworks.tests").warning(VIEW_LOG_LINE)
    return HttpResponse("ok")


def failing_view(request):
    raise RuntimeError("the view failed")


urlpatterns = [path("log", logging_view), path("fail", failing_view)]


@pytest.fixture
def console(monkeypatch):
    """The text the project's console log handler writes, instead of stderr.

    The handler is found by its filter; pytest adds its own capturing handlers beside it.
    """
    (handler,) = [
        handler
        for handler in logging.getLogger("pipeworks").handlers
        if any(isinstance(item, RequestIdFilter) for item in handler.filters)
    ]
    assert handler in logging.getLogger("django.request").handlers
    monkeypatch.setattr(handler, "stream", io.StringIO())
    return handler.stream


def get(client, url, request_id=None, **kwargs):
    headers = {} if request_id is None else {"X-Request-ID": request_id}
    return client.get(url, headers=headers, **kwargs)


@pytest.mark.parametrize("kind", RESPONSES)
def test_a_sane_request_id_is_echoed_on_every_kind_of_response(client, kind):
    url, status, content_type = RESPONSES[kind]

    response = get(client, url, "client-trace 42/a:b")

    assert (response.status_code, response["Content-Type"]) == (status, content_type)
    assert response["X-Request-ID"] == "client-trace 42/a:b"


@pytest.mark.urls(__name__)
def test_a_server_error_carries_the_request_id_too(client):
    client.raise_request_exception = False

    response = get(client, "/fail", "trace-500")

    assert response.status_code == 500
    assert response["X-Request-ID"] == "trace-500"


@pytest.mark.parametrize("kind", RESPONSES)
def test_a_missing_request_id_is_generated_and_differs_per_request(client, kind):
    url, status, _ = RESPONSES[kind]

    first, second = get(client, url), get(client, url)

    assert first.status_code == second.status_code == status
    assert GENERATED.fullmatch(first["X-Request-ID"])
    assert GENERATED.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_request_id_is_replaced_by_a_generated_one(client, kind):
    response = get(client, RESPONSES["api"][0], HOSTILE[kind])

    assert GENERATED.fullmatch(response["X-Request-ID"])


def test_the_longest_request_id_is_kept_and_one_longer_is_replaced(client):
    longest = "a" * MAX_REQUEST_ID_LENGTH
    url = RESPONSES["not found"][0]

    assert get(client, url, longest)["X-Request-ID"] == longest
    assert GENERATED.fullmatch(get(client, url, longest + "a")["X-Request-ID"])


@pytest.mark.urls(__name__)
def test_a_log_line_of_the_request_shows_its_id(client, console):
    get(client, "/log", "trace-log")

    assert f" WARNING pipeworks.tests [trace-log]: {VIEW_LOG_LINE}\n" in console.getvalue()


@pytest.mark.urls(__name__)
def test_djangos_request_error_lines_show_the_id(client, console):
    client.raise_request_exception = False

    get(client, "/nowhere", "trace-404")
    get(client, "/fail", "trace-500")

    lines = console.getvalue()
    # The 404 is logged after the middleware has returned, the 500 while it runs.
    assert " WARNING django.request [trace-404]: Not Found: /nowhere\n" in lines
    assert " ERROR django.request [trace-500]: Internal Server Error: /fail\n" in lines


def test_the_filter_gives_records_the_id_of_the_current_request_only(rf):
    seen = {}

    def get_response(request):
        record = logging.LogRecord("pipeworks", logging.INFO, __file__, 1, "inside", (), None)
        assert RequestIdFilter().filter(record)
        seen.update(record=record.request_id, current=current_request_id())
        return HttpResponse("ok")

    request = rf.get("/", headers={"X-Request-ID": "trace-unit"})
    response = RequestIdMiddleware(get_response)(request)

    assert seen == {"record": "trace-unit", "current": "trace-unit"}
    assert request.request_id == response["X-Request-ID"] == "trace-unit"
    assert current_request_id() is None
    outside = logging.LogRecord("pipeworks", logging.INFO, __file__, 1, "outside", (), None)
    assert RequestIdFilter().filter(outside)
    assert outside.request_id == NO_REQUEST_ID


def test_the_request_id_is_reset_when_the_view_raises(rf):
    def get_response(request):
        raise RuntimeError("the view failed")

    with pytest.raises(RuntimeError, match="the view failed"):
        RequestIdMiddleware(get_response)(rf.get("/"))

    assert current_request_id() is None
