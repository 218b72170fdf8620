"""Errors outside the request catalogue: content negotiation, HEAD and OPTIONS, outages.

A client accepting only HTML gets a JSON 406; HEAD and OPTIONS answer without error; a
database failure during a write is a 503 that writes nothing.
"""

from ledger import services
from pipeworks.api import API_RETRY_MAY_REPEAT
from tests.api.conftest import events_url, state_url
from tests.api.error_cases import JSON, event_body
from tests.conftest import table_state


def test_a_client_accepting_only_html_gets_a_json_406(staff_client, hero):
    response = staff_client.get(state_url(hero.pk), HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert response.json() == {
        "detail": "Could not satisfy the request Accept header.",
        "code": "not_acceptable",
        "field": None,
    }


def test_head_and_options_answer_without_error(staff_client, hero):
    assert staff_client.head(state_url(hero.pk)).status_code == 200
    assert staff_client.options(events_url(hero.pk)).status_code == 200


def test_a_database_failure_while_writing_is_503_and_writes_nothing(
    staff_client, hero, monkeypatch
):
    from django.db import OperationalError

    from ledger.services import state

    def fail(*args, **kwargs):
        raise OperationalError("connection lost")

    monkeypatch.setattr(state, "write_event_state", fail)
    before = table_state()

    response = staff_client.post(events_url(hero.pk), event_body(), content_type=JSON)

    assert response.status_code == 503
    assert response.json() == {
        "detail": services.APPLY_EVENT_DATABASE_ERROR.format(error="OperationalError")
        + " "
        + API_RETRY_MAY_REPEAT,
        "code": "database_error",
        "field": None,
    }
    assert table_state() == before
