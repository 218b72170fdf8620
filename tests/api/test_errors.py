"""Every way to call the API wrongly gets a JSON error with a detail, never a 500.

Each case is sent by a staff client; the body must be the one error shape, and a refused
write must leave every table exactly as it was.
"""

import json

import pytest

from ledger import services
from ledger.serializers import API_DUPLICATE_DELTA, API_UNKNOWN_AXIS_FILTER
from ledger.services import apply_event
from ledger.views import API_UNKNOWN_CHARACTER
from pipeworks.api import API_JSON_TOO_DEEP
from pipeworks.serializers import API_UNKNOWN_FIELD, MAX_ID
from tests.api.conftest import WORLD_EVENTS_URL, WORLDS_URL, events_url, policy_url, state_url
from tests.conftest import table_state
from worlds.views import API_UNKNOWN_WORLD

HERO = "{hero}"  # replaced by the hero's id
FOREIGNER = "{foreigner}"

STATE = f"/admin/characters/{HERO}/axis-state"
EVENTS = f"/admin/characters/{HERO}/axis-events"


def event_body(**changes) -> str:
    return json.dumps({"event_type": "tick", "deltas": {"wealth": 0.1}, **changes})


def world_body(**changes) -> str:
    body = {
        "world_id": "alpha",
        "event_type": "tick",
        "deltas": [{"character_id": "HERO", "axis_name": "wealth", "delta": 0.1}],
        **changes,
    }
    return json.dumps(body).replace('"HERO"', HERO)


DEEP = "[" * 100_000 + "]" * 100_000
JSON = "application/json"

# (name, method, url, raw body or None, content type, expected status)
CASES = [
    # Reads: ids, query parameters.
    ("unknown character state", "get", state_url(999_999), None, None, 404),
    ("non-numeric character state", "get", state_url("abc"), None, None, 404),
    ("negative character state", "get", state_url("-1"), None, None, 404),
    ("huge character id", "get", state_url("9" * 40), None, None, 404),
    ("NUL in character id", "get", state_url("1%00"), None, None, 404),
    ("unknown character events", "get", events_url(999_999), None, None, 404),
    ("as_of not a number", "get", STATE + "?as_of=abc", None, None, 400),
    ("as_of zero", "get", STATE + "?as_of=0", None, None, 400),
    ("as_of empty", "get", STATE + "?as_of=", None, None, 400),
    ("as_of beyond BIGINT", "get", STATE + "?as_of=9223372036854775808", None, None, 400),
    ("as_of unknown event", "get", STATE + "?as_of=999999", None, None, 404),
    ("limit zero", "get", EVENTS + "?limit=0", None, None, 400),
    ("limit negative", "get", EVENTS + "?limit=-1", None, None, 400),
    ("limit too big", "get", EVENTS + "?limit=501", None, None, 400),
    ("limit text", "get", EVENTS + "?limit=abc", None, None, 400),
    ("limit empty", "get", EVENTS + "?limit=", None, None, 400),
    ("limit huge", "get", EVENTS + "?limit=" + "9" * 5000, None, None, 400),
    ("before text", "get", EVENTS + "?before=abc", None, None, 400),
    ("before zero", "get", EVENTS + "?before=0", None, None, 400),
    ("before beyond BIGINT", "get", EVENTS + "?before=" + "9" * 30, None, None, 400),
    ("empty event_type filter", "get", EVENTS + "?event_type=", None, None, 400),
    ("NUL in event_type filter", "get", EVENTS + "?event_type=a%00b", None, None, 400),
    ("long event_type filter", "get", EVENTS + "?event_type=" + "x" * 101, None, None, 400),
    ("unknown axis filter", "get", EVENTS + "?axis=charisma", None, None, 400),
    ("NUL in axis filter", "get", EVENTS + "?axis=wealth%00", None, None, 400),
    ("unknown world policy", "get", policy_url("nowhere"), None, None, 404),
    ("NUL in world id", "get", policy_url("alpha%00"), None, None, 404),
    ("non-ASCII world id", "get", policy_url("w%C3%B6rld"), None, None, 404),
    # Writes: the body is not a JSON object.
    ("not JSON", "post", EVENTS, "{not json", JSON, 400),
    ("truncated JSON", "post", EVENTS, '{"event_type": "tick", ', JSON, 400),
    ("empty body", "post", EVENTS, "", JSON, 400),
    ("JSON null", "post", EVENTS, "null", JSON, 400),
    ("JSON array", "post", EVENTS, "[]", JSON, 400),
    ("JSON string", "post", EVENTS, '"tick"', JSON, 400),
    ("JSON number", "post", EVENTS, "42", JSON, 400),
    ("invalid UTF-8", "post", EVENTS, b'{"event_type": "\xff\xfe"}', JSON, 400),
    ("deeply nested JSON", "post", EVENTS, DEEP, JSON, 400),
    ("deeply nested delta", "post", EVENTS, event_body(deltas={"wealth": [[[[[]]]]]}), JSON, 400),
    (
        "form-encoded body",
        "post",
        EVENTS,
        "event_type=tick",
        "application/x-www-form-urlencoded",
        415,
    ),
    ("text body", "post", EVENTS, event_body(), "text/plain", 415),
    # Writes: numbers.
    ("NaN delta", "post", EVENTS, '{"event_type": "t", "deltas": {"wealth": NaN}}', JSON, 400),
    (
        "Infinity delta",
        "post",
        EVENTS,
        '{"event_type": "t", "deltas": {"wealth": Infinity}}',
        JSON,
        400,
    ),
    (
        "overflowing float",
        "post",
        EVENTS,
        '{"event_type": "t", "deltas": {"wealth": 1e999}}',
        JSON,
        400,
    ),
    (
        "huge integer delta",
        "post",
        EVENTS,
        event_body(deltas={"wealth": 10**300 * 10**100}),
        JSON,
        400,
    ),
    (
        "integer beyond digit limit",
        "post",
        EVENTS,
        '{"event_type": "t", "deltas": {"wealth": ' + "9" * 5000 + "}}",
        JSON,
        400,
    ),
    ("string delta", "post", EVENTS, event_body(deltas={"wealth": "0.1"}), JSON, 400),
    ("boolean delta", "post", EVENTS, event_body(deltas={"wealth": True}), JSON, 400),
    ("object delta", "post", EVENTS, event_body(deltas={"wealth": {"by": 0.1}}), JSON, 400),
    # Writes: fields.
    ("missing event_type", "post", EVENTS, json.dumps({"deltas": {"wealth": 0.1}}), JSON, 400),
    ("missing deltas", "post", EVENTS, json.dumps({"event_type": "tick"}), JSON, 400),
    ("unknown field", "post", EVENTS, event_body(force=True), JSON, 400),
    ("numeric event_type", "post", EVENTS, event_body(event_type=5), JSON, 400),
    ("list event_type", "post", EVENTS, event_body(event_type=["tick"]), JSON, 400),
    ("bad event_type", "post", EVENTS, event_body(event_type="two words"), JSON, 400),
    ("NUL in event_type", "post", EVENTS, event_body(event_type="ti\x00ck"), JSON, 400),
    ("reserved event_type", "post", EVENTS, event_body(event_type="character_created"), JSON, 400),
    ("unknown axis", "post", EVENTS, event_body(deltas={"charisma": 0.1}), JSON, 400),
    ("another world's axis", "post", EVENTS, event_body(deltas={"morale": 0.1}), JSON, 400),
    ("NUL in axis", "post", EVENTS, event_body(deltas={"wealth\x00": 0.1}), JSON, 400),
    ("empty deltas", "post", EVENTS, event_body(deltas={}), JSON, 400),
    ("metadata list", "post", EVENTS, event_body(metadata=["a"]), JSON, 400),
    ("metadata number value", "post", EVENTS, event_body(metadata={"a": 1}), JSON, 400),
    ("metadata nested value", "post", EVENTS, event_body(metadata={"a": {"b": "c"}}), JSON, 400),
    ("metadata NUL key", "post", EVENTS, event_body(metadata={"a\x00": "b"}), JSON, 400),
    ("metadata NUL value", "post", EVENTS, event_body(metadata={"a": "b\x00"}), JSON, 400),
    ("metadata empty key", "post", EVENTS, event_body(metadata={"": "b"}), JSON, 400),
    ("metadata too long", "post", EVENTS, event_body(metadata={"a": "b" * 1001}), JSON, 400),
    ("NUL in idempotency_key", "post", EVENTS, event_body(idempotency_key="k\x00"), JSON, 400),
    ("object idempotency_key", "post", EVENTS, event_body(idempotency_key={}), JSON, 400),
    ("unknown character write", "post", events_url(999_999), event_body(), JSON, 404),
    ("non-numeric character write", "post", events_url("abc"), event_body(), JSON, 404),
    # World events.
    ("unknown world", "post", WORLD_EVENTS_URL, world_body(world_id="nowhere"), JSON, 404),
    ("NUL in world_id", "post", WORLD_EVENTS_URL, world_body(world_id="alpha\x00"), JSON, 400),
    (
        "another world's character",
        "post",
        WORLD_EVENTS_URL,
        world_body().replace(HERO, FOREIGNER),
        JSON,
        400,
    ),
    (
        "unknown character in list",
        "post",
        WORLD_EVENTS_URL,
        world_body().replace(HERO, "999999"),
        JSON,
        404,
    ),
    (
        "character id beyond BIGINT",
        "post",
        WORLD_EVENTS_URL,
        world_body().replace(HERO, "9" * 30),
        JSON,
        400,
    ),
    ("deltas not a list", "post", WORLD_EVENTS_URL, world_body(deltas={"a": 1}), JSON, 400),
    ("delta item not an object", "post", WORLD_EVENTS_URL, world_body(deltas=[[]]), JSON, 400),
    (
        "duplicate pair",
        "post",
        WORLD_EVENTS_URL,
        world_body(deltas=[{"character_id": 1, "axis_name": "wealth", "delta": 0.1}] * 2),
        JSON,
        400,
    ),
    ("world body not JSON", "post", WORLD_EVENTS_URL, "nope", JSON, 400),
    ("world body deeply nested", "post", WORLD_EVENTS_URL, DEEP, JSON, 400),
    # Methods.
    ("PUT state", "put", STATE, "{}", JSON, 405),
    ("POST state", "post", STATE, event_body(), JSON, 405),
    ("DELETE events", "delete", EVENTS, None, None, 405),
    ("PATCH events", "patch", EVENTS, "{}", JSON, 405),
    ("GET world events", "get", WORLD_EVENTS_URL, None, None, 405),
    ("DELETE world events", "delete", WORLD_EVENTS_URL, None, None, 405),
    ("POST worlds", "post", WORLDS_URL, "{}", JSON, 405),
    ("PUT world policy", "put", policy_url("alpha"), "{}", JSON, 405),
    ("unknown method", "FOO", EVENTS, None, None, 405),
    ("TRACE", "TRACE", STATE, None, None, 405),
]


# DRF's messages for a field or a request it refused.
INTEGER = "A valid integer is required."
AT_LEAST_1 = "Ensure this value is greater than or equal to 1."
AT_MOST_MAX_ID = f"Ensure this value is less than or equal to {MAX_ID}."
REQUIRED = "This field is required."
NOT_A_STRING = "Not a valid string."
NUL = "Null characters are not allowed."  # StrictCharField's and StrictDictField's
NUMBER = "A finite number is required."  # StrictFloatField's
PARSE = "JSON parse error - "


def unknown_character(character_id) -> tuple:
    return ("unknown_character", None, API_UNKNOWN_CHARACTER.format(character_id=character_id))


def unknown_world(world_id: str) -> tuple:
    return ("unknown_world", None, API_UNKNOWN_WORLD.format(world_id=world_id))


def not_allowed(method: str) -> tuple:
    return ("method_not_allowed", None, f'Method "{method}" not allowed.')


# name -> the (code, field, detail) of the error each case of CASES answers with.
ERRORS = {
    "unknown character state": unknown_character(999_999),
    "non-numeric character state": unknown_character("abc"),
    "negative character state": unknown_character("-1"),
    "huge character id": unknown_character("9" * 40),
    "NUL in character id": unknown_character("1\x00"),
    "unknown character events": unknown_character(999_999),
    "as_of not a number": ("invalid", "as_of", f"as_of: {INTEGER}"),
    "as_of zero": ("min_value", "as_of", f"as_of: {AT_LEAST_1}"),
    "as_of empty": ("invalid", "as_of", f"as_of: {INTEGER}"),
    "as_of beyond BIGINT": ("max_value", "as_of", f"as_of: {AT_MOST_MAX_ID}"),
    "as_of unknown event": ("unknown_event", "as_of", "no event 999999 in world 'alpha'"),
    "limit zero": ("min_value", "limit", f"limit: {AT_LEAST_1}"),
    "limit negative": ("invalid", "limit", f"limit: {INTEGER}"),
    "limit too big": (
        "max_value",
        "limit",
        "limit: Ensure this value is less than or equal to 500.",
    ),
    "limit text": ("invalid", "limit", f"limit: {INTEGER}"),
    "limit empty": ("invalid", "limit", f"limit: {INTEGER}"),
    "limit huge": ("invalid", "limit", f"limit: {INTEGER}"),
    "before text": ("invalid", "before", f"before: {INTEGER}"),
    "before zero": ("min_value", "before", f"before: {AT_LEAST_1}"),
    "before beyond BIGINT": ("invalid", "before", f"before: {INTEGER}"),
    "empty event_type filter": (
        "blank",
        "event_type",
        "event_type: This field may not be blank.",
    ),
    "NUL in event_type filter": ("null_characters_not_allowed", "event_type", f"event_type: {NUL}"),
    "long event_type filter": (
        "max_length",
        "event_type",
        "event_type: Ensure this field has no more than 100 characters.",
    ),
    "unknown axis filter": (
        "unknown_axis",
        "axis",
        "axis: " + API_UNKNOWN_AXIS_FILTER.format(axis="charisma", world_id="alpha"),
    ),
    "NUL in axis filter": ("null_characters_not_allowed", "axis", f"axis: {NUL}"),
    "unknown world policy": unknown_world("nowhere"),
    "NUL in world id": unknown_world("alpha\x00"),
    "non-ASCII world id": unknown_world("wörld"),
    "not JSON": (
        "parse_error",
        None,
        PARSE + "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ),
    "truncated JSON": (
        "parse_error",
        None,
        PARSE + "Expecting property name enclosed in double quotes: line 1 column 24 (char 23)",
    ),
    "empty body": ("required", "event_type", f"event_type: {REQUIRED}"),
    "JSON null": ("null", None, "No data provided"),
    "JSON array": ("invalid", None, "Invalid data. Expected a dictionary, but got list."),
    "JSON string": ("invalid", None, "Invalid data. Expected a dictionary, but got str."),
    "JSON number": ("invalid", None, "Invalid data. Expected a dictionary, but got int."),
    "invalid UTF-8": (
        "parse_error",
        None,
        PARSE + "'utf-8' codec can't decode byte 0xff in position 16: invalid start byte",
    ),
    "deeply nested JSON": ("parse_error", None, API_JSON_TOO_DEEP),
    "deeply nested delta": ("invalid", "deltas.wealth", f"deltas.wealth: {NUMBER}"),
    "form-encoded body": (
        "unsupported_media_type",
        None,
        'Unsupported media type "application/x-www-form-urlencoded" in request.',
    ),
    "text body": (
        "unsupported_media_type",
        None,
        'Unsupported media type "text/plain" in request.',
    ),
    "NaN delta": (
        "parse_error",
        None,
        PARSE + "Out of range float values are not JSON compliant: 'NaN'",
    ),
    "Infinity delta": (
        "parse_error",
        None,
        PARSE + "Out of range float values are not JSON compliant: 'Infinity'",
    ),
    "overflowing float": ("invalid", "deltas.wealth", f"deltas.wealth: {NUMBER}"),
    "huge integer delta": (
        "overflow",
        "deltas.wealth",
        "deltas.wealth: Integer value too large to convert to float",
    ),
    "integer beyond digit limit": (
        "parse_error",
        None,
        PARSE + "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 "
        "digits; use sys.set_int_max_str_digits() to increase the limit",
    ),
    "string delta": ("invalid", "deltas.wealth", f"deltas.wealth: {NUMBER}"),
    "boolean delta": ("invalid", "deltas.wealth", f"deltas.wealth: {NUMBER}"),
    "object delta": ("invalid", "deltas.wealth", f"deltas.wealth: {NUMBER}"),
    "missing event_type": ("required", "event_type", f"event_type: {REQUIRED}"),
    "missing deltas": ("required", "deltas", f"deltas: {REQUIRED}"),
    "unknown field": ("unknown_field", "force", f"force: {API_UNKNOWN_FIELD}"),
    "numeric event_type": ("invalid", "event_type", f"event_type: {NOT_A_STRING}"),
    "list event_type": ("invalid", "event_type", f"event_type: {NOT_A_STRING}"),
    "bad event_type": (
        "invalid",
        "event_type",
        services.APPLY_EVENT_BAD_EVENT_TYPE.format(value="two words"),
    ),
    "NUL in event_type": ("null_characters_not_allowed", "event_type", f"event_type: {NUL}"),
    "reserved event_type": (
        "reserved_event_type",
        "event_type",
        services.APPLY_EVENT_RESERVED_EVENT_TYPE.format(value="character_created"),
    ),
    "unknown axis": (
        "unknown_axis",
        "deltas.charisma",
        services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="charisma", world_id="alpha"),
    ),
    "another world's axis": (
        "unknown_axis",
        "deltas.morale",
        services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="morale", world_id="alpha"),
    ),
    "NUL in axis": ("null_characters_not_allowed", "deltas", f"deltas: {NUL}"),
    "empty deltas": ("empty", "deltas", "deltas: This dictionary may not be empty."),
    "metadata list": (
        "not_a_dict",
        "metadata",
        'metadata: Expected a dictionary of items but got type "list".',
    ),
    "metadata number value": ("invalid", "metadata.a", f"metadata.a: {NOT_A_STRING}"),
    "metadata nested value": ("invalid", "metadata.a", f"metadata.a: {NOT_A_STRING}"),
    "metadata NUL key": ("null_characters_not_allowed", "metadata", f"metadata: {NUL}"),
    "metadata NUL value": ("null_characters_not_allowed", "metadata.a", f"metadata.a: {NUL}"),
    "metadata empty key": (
        "invalid",
        "metadata",
        services.APPLY_EVENT_BAD_METADATA_KEY.format(value=""),
    ),
    "metadata too long": (
        "invalid",
        "metadata.a",
        services.APPLY_EVENT_BAD_METADATA_VALUE.format(key="a", kind="1001 characters"),
    ),
    "NUL in idempotency_key": (
        "null_characters_not_allowed",
        "idempotency_key",
        f"idempotency_key: {NUL}",
    ),
    "object idempotency_key": ("invalid", "idempotency_key", f"idempotency_key: {NOT_A_STRING}"),
    "unknown character write": unknown_character(999_999),
    "non-numeric character write": unknown_character("abc"),
    "unknown world": (
        "unknown_world",
        "world_id",
        services.APPLY_EVENT_UNKNOWN_WORLD.format(world_id="nowhere"),
    ),
    "NUL in world_id": ("null_characters_not_allowed", "world_id", f"world_id: {NUL}"),
    "another world's character": (
        "foreign_character",
        "deltas.0.character_id",
        services.APPLY_EVENT_FOREIGN_CHARACTER.format(
            character_id=FOREIGNER, other="beta", world_id="alpha"
        ),
    ),
    "unknown character in list": (
        "unknown_character",
        "deltas.0.character_id",
        services.APPLY_EVENT_UNKNOWN_CHARACTER.format(character_id=999_999),
    ),
    "character id beyond BIGINT": (
        "max_value",
        "deltas.0.character_id",
        f"deltas.0.character_id: {AT_MOST_MAX_ID}",
    ),
    "deltas not a list": (
        "not_a_list",
        "deltas",
        'deltas: Expected a list of items but got type "dict".',
    ),
    "delta item not an object": (
        "invalid",
        "deltas.0",
        "deltas.0: Invalid data. Expected a dictionary, but got list.",
    ),
    "duplicate pair": (
        "duplicate",
        "deltas.1.axis_name",
        "deltas.1.axis_name: " + API_DUPLICATE_DELTA.format(character_id=1, axis="wealth", first=0),
    ),
    "world body not JSON": (
        "parse_error",
        None,
        PARSE + "Expecting value: line 1 column 1 (char 0)",
    ),
    "world body deeply nested": ("parse_error", None, API_JSON_TOO_DEEP),
    "PUT state": not_allowed("PUT"),
    "POST state": not_allowed("POST"),
    "DELETE events": not_allowed("DELETE"),
    "PATCH events": not_allowed("PATCH"),
    "GET world events": not_allowed("GET"),
    "DELETE world events": not_allowed("DELETE"),
    "POST worlds": not_allowed("POST"),
    "PUT world policy": not_allowed("PUT"),
    "unknown method": not_allowed("FOO"),
    "TRACE": not_allowed("TRACE"),
}


def test_every_case_states_its_error():
    assert list(ERRORS) == [case[0] for case in CASES]


def send(client, method, url, body, content_type):
    if method.isupper():
        return client.generic(method, url)
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, content_type=content_type)


@pytest.mark.parametrize(
    ("method", "url", "body", "content_type", "status", "expected"),
    [(*case[1:], ERRORS.get(case[0])) for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_every_error_is_a_json_4xx_with_a_detail_and_writes_nothing(
    staff_client, hero, foreigner, method, url, body, content_type, status, expected
):
    apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    url = url.replace(HERO, str(hero.pk))
    if isinstance(body, str):
        body = body.replace(HERO, str(hero.pk)).replace(FOREIGNER, str(foreigner.pk))
    before = table_state()

    response = send(staff_client, method, url, body, content_type)

    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    error = response.json()
    assert set(error) <= {"detail", "code", "field", "errors"}
    assert {"detail", "code", "field"} <= set(error)
    code, field, detail = expected
    detail = detail.replace(FOREIGNER, str(foreigner.pk))
    assert (error["code"], error["field"], error["detail"]) == (code, field, detail)
    assert table_state() == before


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

    monkeypatch.setattr(state, "write_snapshots", fail)
    before = table_state()

    response = staff_client.post(events_url(hero.pk), event_body(), content_type=JSON)

    assert response.status_code == 503
    assert response.json() == {
        "detail": services.APPLY_EVENT_DATABASE_ERROR.format(error="OperationalError"),
        "code": "database_error",
        "field": None,
    }
    assert table_state() == before
