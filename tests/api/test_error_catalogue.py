"""Every way to call the API wrongly gets a JSON error with a detail, never a 500.

Each case of ``tests/api/error_cases.py`` is sent by a staff client; the body must be
the one error shape with the case's code, field and detail, and a refused write must
leave every table exactly as it was.
"""

import pytest

from ledger import services
from ledger.serializers import API_DUPLICATE_DELTA, API_UNKNOWN_AXIS_FILTER
from ledger.services import apply_event
from ledger.views import API_UNKNOWN_CHARACTER
from pipeworks.api import API_JSON_TOO_DEEP
from pipeworks.serializers import API_UNKNOWN_FIELD, MAX_ID
from tests.api.error_cases import CASES, FOREIGNER, HERO, send
from tests.conftest import table_state
from worlds.views import API_UNKNOWN_WORLD

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
