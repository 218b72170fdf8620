"""Every error docs/reliability.md catalogues answers its documented status and code."""

import json

import pytest

from ledger.serializers import MAX_BATCH_EVENTS
from ledger.services import apply_event
from tests.api import error_cases as errors
from tests.conftest import table_state

# tests/api/test_error_catalogue.py sends every malformed request of error_cases.CASES and
# checks the status and the error shape; docs/reliability.md also promises each one's
# code, checked here.
CATALOGUE_CODES = {
    "unknown character state": (404, "unknown_character"),
    "non-numeric character state": (404, "unknown_character"),
    "negative character state": (404, "unknown_character"),
    "huge character id": (404, "unknown_character"),
    "NUL in character id": (404, "unknown_character"),
    "unknown character events": (404, "unknown_character"),
    "as_of not a number": (400, "invalid"),
    "as_of zero": (400, "min_value"),
    "as_of empty": (400, "invalid"),
    "as_of beyond BIGINT": (400, "max_value"),
    "as_of unknown event": (404, "unknown_event"),
    "limit zero": (400, "min_value"),
    "limit negative": (400, "invalid"),
    "limit too big": (400, "max_value"),
    "limit text": (400, "invalid"),
    "limit empty": (400, "invalid"),
    "limit huge": (400, "invalid"),
    "before text": (400, "invalid"),
    "before zero": (400, "min_value"),
    "before beyond BIGINT": (400, "invalid"),
    "empty event_type filter": (400, "blank"),
    "NUL in event_type filter": (400, "null_characters_not_allowed"),
    "long event_type filter": (400, "max_length"),
    "unknown axis filter": (400, "unknown_axis"),
    "NUL in axis filter": (400, "null_characters_not_allowed"),
    "unknown world policy": (404, "unknown_world"),
    "NUL in world id": (404, "unknown_world"),
    "non-ASCII world id": (404, "unknown_world"),
    "not JSON": (400, "parse_error"),
    "truncated JSON": (400, "parse_error"),
    "empty body": (400, "required"),
    "JSON null": (400, "null"),
    "JSON array": (400, "invalid"),
    "JSON string": (400, "invalid"),
    "JSON number": (400, "invalid"),
    "invalid UTF-8": (400, "parse_error"),
    "deeply nested JSON": (400, "parse_error"),
    "deeply nested delta": (400, "invalid"),
    "form-encoded body": (415, "unsupported_media_type"),
    "text body": (415, "unsupported_media_type"),
    "NaN delta": (400, "parse_error"),
    "Infinity delta": (400, "parse_error"),
    "overflowing float": (400, "invalid"),
    "huge integer delta": (400, "overflow"),
    "integer beyond digit limit": (400, "parse_error"),
    "string delta": (400, "invalid"),
    "boolean delta": (400, "invalid"),
    "object delta": (400, "invalid"),
    "missing event_type": (400, "required"),
    "missing deltas": (400, "required"),
    "unknown field": (400, "unknown_field"),
    "numeric event_type": (400, "invalid"),
    "list event_type": (400, "invalid"),
    "bad event_type": (400, "invalid"),
    "NUL in event_type": (400, "null_characters_not_allowed"),
    "reserved event_type": (400, "reserved_event_type"),
    "unknown axis": (400, "unknown_axis"),
    "another world's axis": (400, "unknown_axis"),
    "NUL in axis": (400, "null_characters_not_allowed"),
    "empty deltas": (400, "empty"),
    "metadata list": (400, "not_a_dict"),
    "metadata number value": (400, "invalid"),
    "metadata nested value": (400, "invalid"),
    "metadata NUL key": (400, "null_characters_not_allowed"),
    "metadata NUL value": (400, "null_characters_not_allowed"),
    "metadata empty key": (400, "invalid"),
    "metadata too long": (400, "invalid"),
    "NUL in idempotency_key": (400, "null_characters_not_allowed"),
    "object idempotency_key": (400, "invalid"),
    "unknown character write": (404, "unknown_character"),
    "non-numeric character write": (404, "unknown_character"),
    "unknown world": (404, "unknown_world"),
    "NUL in world_id": (400, "null_characters_not_allowed"),
    "another world's character": (400, "foreign_character"),
    "unknown character in list": (404, "unknown_character"),
    "character id beyond BIGINT": (400, "max_value"),
    "deltas not a list": (400, "not_a_list"),
    "delta item not an object": (400, "invalid"),
    "duplicate pair": (400, "duplicate"),
    "world body not JSON": (400, "parse_error"),
    "world body deeply nested": (400, "parse_error"),
    "PUT state": (405, "method_not_allowed"),
    "POST state": (405, "method_not_allowed"),
    "DELETE events": (405, "method_not_allowed"),
    "PATCH events": (405, "method_not_allowed"),
    "GET world events": (405, "method_not_allowed"),
    "DELETE world events": (405, "method_not_allowed"),
    "POST worlds": (405, "method_not_allowed"),
    "PUT world policy": (405, "method_not_allowed"),
    "unknown method": (405, "method_not_allowed"),
    "TRACE": (405, "method_not_allowed"),
}


def test_every_catalogued_error_has_its_code_listed():
    assert set(CATALOGUE_CODES) == {case[0] for case in errors.CASES}


@pytest.mark.parametrize("case", errors.CASES, ids=[case[0] for case in errors.CASES])
def test_every_catalogued_error_answers_its_documented_code(staff_client, hero, foreigner, case):
    name, method, url, body, content_type, _ = case
    apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    url = url.replace(errors.HERO, str(hero.pk))
    if isinstance(body, str):
        body = body.replace(errors.HERO, str(hero.pk)).replace(errors.FOREIGNER, str(foreigner.pk))

    response = errors.send(staff_client, method, url, body, content_type)

    assert (response.status_code, response.json()["code"]) == CATALOGUE_CODES[name]


# Cases of docs/reliability.md that no other test sends ---------------------------------


def test_a_batch_of_more_than_5000_events_is_400_and_writes_nothing(staff_client, hero):
    event = {
        "event_type": "tick",
        "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.0}],
    }
    before = table_state()

    response = staff_client.post(
        "/admin/events:batch",
        json.dumps({"world_id": "alpha", "events": [event] * (MAX_BATCH_EVENTS + 1)}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("batch_too_large", "events")
    assert table_state() == before


def test_a_batch_reusing_an_idempotency_key_for_another_request_is_409(staff_client, hero):
    def batch(delta: float) -> str:
        event = {
            "event_type": "tick",
            "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": delta}],
            "idempotency_key": "tick-1",
        }
        return json.dumps({"world_id": "alpha", "events": [event]})

    staff_client.post("/admin/events:batch", batch(0.1), content_type="application/json")
    before = table_state()

    response = staff_client.post("/admin/events:batch", batch(0.2), content_type="application/json")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert response.json()["field"] == "events.0.idempotency_key"
    assert table_state() == before
