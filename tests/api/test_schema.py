"""The OpenAPI schema: valid, warning-free, complete, and true to the actual responses."""

import copy
import json

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator

from ledger.serializers import MAX_BATCH_EVENTS
from ledger.services import apply_event
from ledger.services.validation import (
    EVENT_TYPE_PATTERN,
    MAX_DELTAS_PER_EVENT,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_VALUE_LENGTH,
    SYSTEM_EVENT_TYPES,
)
from pipeworks.serializers import MAX_FLOAT, MAX_ID, NO_NUL_PATTERN
from tests.api.conftest import WORLD_EVENTS_URL, WORLDS_URL, events_url, policy_url, state_url

STATE = "/admin/characters/{character_id}/axis-state"
EVENTS = "/admin/characters/{character_id}/axis-events"
CHARACTERS = "/admin/worlds/{world_id}/characters"


@pytest.fixture(scope="module")
def schema() -> dict:
    GENERATOR_STATS.reset()
    generated = SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, "schema generation emitted warnings or errors"
    return json.loads(json.dumps(generated))


def test_schema_is_valid_openapi_3_without_warnings(schema):
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_schema_command_validates_and_fails_on_no_warning(tmp_path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert "/admin/events:" in target.read_text()


def test_schema_lists_every_endpoint_and_method(schema):
    assert {path: sorted(ops) for path, ops in schema["paths"].items()} == {
        STATE: ["get"],
        EVENTS: ["get", "post"],
        "/admin/events": ["post"],
        "/admin/events:batch": ["post"],
        "/admin/events/{event_id}": ["get"],
        "/admin/events/{event_id}/reverse": ["post"],
        "/admin/worlds/": ["get"],
        "/admin/worlds/{world_id}/policy": ["get"],
        "/admin/worlds/{world_id}/policy/impact": ["get"],
        "/admin/worlds/{world_id}/drift": ["post"],
        "/admin/worlds/{world_id}/characters": ["get", "post"],
        "/admin/worlds/{world_id}/events": ["get"],
        "/admin/worlds/{world_id}/stats": ["get"],
        "/admin/characters/{character_id}/history.jsonl": ["get"],
    }


def parameters(operation: dict) -> dict[str, dict]:
    return {p["name"]: p for p in operation["parameters"]}


def test_schema_documents_every_parameter(schema):
    events = parameters(schema["paths"][EVENTS]["get"])
    assert set(events) == {
        "character_id",
        "limit",
        "before",
        "event_type",
        "axis",
        "actor",
        "source",
        "reversal",
        "reversed",
        "since",
        "until",
        "occurred_since",
        "occurred_until",
    }
    assert events["character_id"]["in"] == "path"
    assert events["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 500,
        "default": 50,
    }
    assert events["before"]["schema"]["minimum"] == 1
    state = parameters(schema["paths"][STATE]["get"])
    assert set(state) == {"character_id", "as_of"}
    assert state["as_of"]["in"] == "query"
    policy = parameters(schema["paths"]["/admin/worlds/{world_id}/policy"]["get"])
    assert policy["world_id"]["in"] == "path"
    feed = parameters(schema["paths"]["/admin/worlds/{world_id}/events"]["get"])
    assert set(feed) == {
        "world_id",
        "after",
        "limit",
        "since",
        "until",
        "occurred_since",
        "occurred_until",
    }
    assert feed["after"]["schema"]["minimum"] == 0


def test_schema_documents_the_request_bodies(schema):
    components = schema["components"]["schemas"]
    character = schema["paths"][EVENTS]["post"]["requestBody"]["content"]["application/json"]
    world = schema["paths"]["/admin/events"]["post"]["requestBody"]["content"]["application/json"]
    assert character["schema"] == {"$ref": "#/components/schemas/ApplyCharacterEventRequest"}
    assert world["schema"] == {"$ref": "#/components/schemas/ApplyEventRequest"}
    body = components["ApplyEventRequest"]
    assert sorted(body["required"]) == ["deltas", "event_type", "world_id"]
    assert set(body["properties"]) == {
        "world_id",
        "event_type",
        "deltas",
        "metadata",
        "idempotency_key",
        "occurred_at",
    }
    assert components["ReverseEventRequest"]["required"] == ["reason"]
    assert sorted(components["ApplyEventDeltaRequest"]["required"]) == [
        "axis_name",
        "character_id",
        "delta",
    ]
    assert components["ApplyCharacterEventRequest"]["properties"]["deltas"]["type"] == "object"


# The schema states every rule of a request that does not depend on the data: a request
# it allows is accepted (tests/api/test_fuzz.py fuzzes that), so these are the server's.

REQUEST_BODIES = ["ApplyCharacterEventRequest", "ApplyEventRequest", "BatchEventRequest"]


def test_schema_is_openapi_3_1_to_state_the_rules_of_object_keys(schema):
    assert schema["openapi"] == "3.1.0"


@pytest.mark.parametrize(
    "name",
    [*REQUEST_BODIES, "ApplyEventDeltaRequest", "ApplyEventsRequest"],
)
def test_schema_closes_every_request_body_to_unknown_keys(schema, name):
    assert schema["components"]["schemas"][name]["additionalProperties"] is False


@pytest.mark.parametrize("name", REQUEST_BODIES)
def test_schema_states_the_event_rules_of_the_service(schema, name):
    properties = schema["components"]["schemas"][name]["properties"]
    event_type = properties["event_type"]
    assert event_type["pattern"] == EVENT_TYPE_PATTERN.pattern
    assert event_type["not"] == {"enum": sorted(SYSTEM_EVENT_TYPES)}
    assert event_type["maxLength"] == 100
    metadata = properties["metadata"]
    assert metadata["maxProperties"] == MAX_METADATA_ENTRIES
    assert metadata["propertyNames"] == {
        "pattern": NO_NUL_PATTERN,
        "minLength": 1,
        "maxLength": MAX_METADATA_KEY_LENGTH,
    }
    assert metadata["additionalProperties"]["oneOf"] == [
        {
            "type": "string",
            "pattern": NO_NUL_PATTERN,
            "minLength": 1,
            "maxLength": MAX_METADATA_VALUE_LENGTH,
        },
        {"type": "string", "maxLength": 0},
    ]
    key = properties["idempotency_key"]
    assert key["type"] == ["string", "null"]
    assert (key["minLength"], key["maxLength"]) == (1, MAX_IDEMPOTENCY_KEY_LENGTH)
    assert key["pattern"] == NO_NUL_PATTERN


def test_schema_states_that_deltas_and_events_are_never_empty(schema):
    components = schema["components"]["schemas"]
    character = components["ApplyCharacterEventRequest"]["properties"]["deltas"]
    assert (character["minProperties"], character["maxProperties"]) == (1, MAX_DELTAS_PER_EVENT)
    assert character["propertyNames"] == {"pattern": NO_NUL_PATTERN, "minLength": 1}
    assert character["additionalProperties"]["maximum"] == MAX_FLOAT
    assert character["additionalProperties"]["minimum"] == -MAX_FLOAT
    for name in ["ApplyEventRequest", "BatchEventRequest"]:
        deltas = components[name]["properties"]["deltas"]
        assert (deltas["minItems"], deltas["uniqueItems"]) == (1, True)
        assert deltas["maxItems"] == MAX_DELTAS_PER_EVENT
    events = components["ApplyEventsRequest"]["properties"]["events"]
    assert (events["minItems"], events["maxItems"]) == (1, MAX_BATCH_EVENTS)
    delta = components["ApplyEventDeltaRequest"]["properties"]
    assert (delta["character_id"]["minimum"], delta["character_id"]["maximum"]) == (1, MAX_ID)
    assert delta["axis_name"]["pattern"] == NO_NUL_PATTERN


def test_schema_bounds_the_ids_and_strings_of_the_urls(schema):
    for path in [STATE, EVENTS]:
        for operation in schema["paths"][path].values():
            character_id = parameters(operation)["character_id"]["schema"]
            assert (character_id["minimum"], character_id["maximum"]) == (1, MAX_ID)
    events = parameters(schema["paths"][EVENTS]["get"])
    for name in ["event_type", "axis"]:
        assert events[name]["schema"]["pattern"] == NO_NUL_PATTERN


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        (STATE, "get", {"200", "400", "401", "403", "404"}),
        (EVENTS, "get", {"200", "400", "401", "403", "404"}),
        (EVENTS, "post", {"200", "201", "400", "401", "403", "404", "409", "429", "503"}),
        ("/admin/events", "post", {"200", "201", "400", "401", "403", "404", "409", "429", "503"}),
        (
            "/admin/events/{event_id}/reverse",
            "post",
            {"200", "201", "400", "401", "403", "404", "409", "429", "503"},
        ),
        ("/admin/worlds/", "get", {"200", "401", "403"}),
        ("/admin/worlds/{world_id}/policy", "get", {"200", "401", "403", "404"}),
        ("/admin/worlds/{world_id}/policy/impact", "get", {"200", "401", "403", "404", "409"}),
        (
            "/admin/worlds/{world_id}/drift",
            "post",
            {"200", "400", "401", "403", "404", "429", "503"},
        ),
        ("/admin/worlds/{world_id}/events", "get", {"200", "400", "401", "403", "404", "503"}),
        ("/admin/worlds/{world_id}/stats", "get", {"200", "400", "401", "403", "404"}),
        (CHARACTERS, "get", {"200", "400", "401", "403", "404"}),
        (
            CHARACTERS,
            "post",
            {"200", "201", "400", "401", "403", "404", "409", "429", "503"},
        ),
    ],
)
def test_schema_documents_every_status_with_the_error_shape(schema, path, method, statuses):
    responses = schema["paths"][path][method]["responses"]

    assert set(responses) == statuses
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            content = response["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/Error"}
            assert response["description"]


def test_schema_requires_staff_authentication(schema):
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert operation["security"] == [{"apiKey": []}, {"cookieAuth": []}]


def test_schema_endpoint_serves_the_same_schema_to_staff(staff_client, schema):
    response = staff_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert set(json.loads(response.content)["paths"]) == set(schema["paths"])


# The actual responses match the documented ones ---------------------------------------


def to_json_schema(node):
    """Turn the schema's components into JSON Schema with every object closed.

    OpenAPI 3.1 schemas are JSON Schema already; an OpenAPI 3.0 ``nullable`` would
    become the null type.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: to_json_schema(value) for key, value in node.items()}
    if "properties" in node:
        node.setdefault("additionalProperties", False)
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


def assert_matches(schema: dict, response, *, status: str, path: str, method: str):
    documented = schema["paths"][path][method]["responses"][status]
    ref = documented["content"]["application/json"]["schema"]
    root = {**ref, "components": to_json_schema(copy.deepcopy(schema["components"]))}
    errors = sorted(Draft202012Validator(root).iter_errors(response.json()), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_every_response_matches_its_documented_schema(schema, staff_client, hero, foreigner):
    apply_event(
        world_id="alpha",
        event_type="loot_found",
        deltas={hero.pk: {"wealth": 0.2}},
        metadata={"source": "chest"},
    )
    body = {"event_type": "t", "deltas": {"wealth": 0.1}, "idempotency_key": "k"}
    post = staff_client.post(events_url(hero.pk), body, format="json")
    replay = staff_client.post(events_url(hero.pk), body, format="json")
    conflict = staff_client.post(
        events_url(hero.pk), {**body, "deltas": {"wealth": 0.2}}, format="json"
    )

    def create(client, body):
        return client.post(CHARACTERS.format(world_id="alpha"), body, format="json")

    world_body = {
        "world_id": "alpha",
        "event_type": "t",
        "deltas": [{"character_id": hero.pk, "axis_name": "luck", "delta": 0.1}],
    }
    cases = [
        (staff_client.get(state_url(hero.pk)), "200", STATE, "get"),
        (
            staff_client.get(state_url(hero.pk), {"as_of": post.json()["event_id"]}),
            "200",
            STATE,
            "get",
        ),
        (staff_client.get(state_url(hero.pk), {"as_of": "x"}), "400", STATE, "get"),
        (staff_client.get(state_url(hero.pk), {"as_of": 10**6}), "404", STATE, "get"),
        (staff_client.get(events_url(hero.pk), {"limit": 1}), "200", EVENTS, "get"),
        (staff_client.get(events_url(hero.pk), {"limit": 0}), "400", EVENTS, "get"),
        (staff_client.get(events_url(999999)), "404", EVENTS, "get"),
        (post, "201", EVENTS, "post"),
        (replay, "200", EVENTS, "post"),
        (conflict, "409", EVENTS, "post"),
        (staff_client.post(events_url(hero.pk), {}, format="json"), "400", EVENTS, "post"),
        (
            staff_client.post(WORLD_EVENTS_URL, world_body, format="json"),
            "201",
            "/admin/events",
            "post",
        ),
        (staff_client.get(WORLDS_URL), "200", "/admin/worlds/", "get"),
        (staff_client.get(policy_url("alpha")), "200", "/admin/worlds/{world_id}/policy", "get"),
        (staff_client.get(policy_url("nowhere")), "404", "/admin/worlds/{world_id}/policy", "get"),
        (create(staff_client, {"name": "Ada", "idempotency_key": "a"}), "201", CHARACTERS, "post"),
        (create(staff_client, {"name": "Ada", "idempotency_key": "a"}), "200", CHARACTERS, "post"),
        (create(staff_client, {"name": "Ada"}), "409", CHARACTERS, "post"),
        (create(staff_client, {"name": 5}), "400", CHARACTERS, "post"),
        (
            staff_client.get(CHARACTERS.format(world_id="alpha"), {"ids": f"{hero.pk},9"}),
            "200",
            CHARACTERS,
            "get",
        ),
        (staff_client.get(CHARACTERS.format(world_id="alpha")), "200", CHARACTERS, "get"),
        (
            staff_client.get(CHARACTERS.format(world_id="alpha"), {"ids": "x"}),
            "400",
            CHARACTERS,
            "get",
        ),
        (staff_client.get(CHARACTERS.format(world_id="nowhere")), "404", CHARACTERS, "get"),
    ]
    for response, status, path, method in cases:
        assert str(response.status_code) == status, (path, response.content)
        assert_matches(schema, response, status=status, path=path, method=method)
