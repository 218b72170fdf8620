"""The catalogue of malformed API requests, each with the status it must answer.

Sent by ``tests/api/test_error_catalogue.py`` (the whole error body) and
``tests/api/test_error_codes.py`` (the documented code), by a staff client; ``HERO`` and
``FOREIGNER`` in a URL or body are replaced by the ids of those characters.
"""

import json

from tests.api.conftest import WORLD_EVENTS_URL, WORLDS_URL, events_url, policy_url, state_url

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


def send(client, method, url, body, content_type):
    if method.isupper():
        return client.generic(method, url)
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, content_type=content_type)
