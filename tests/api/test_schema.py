"""The OpenAPI schema: valid, warning-free, complete, and true to the actual responses."""

import copy
import json

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator

from ledger.services import apply_event
from tests.api.conftest import WORLD_EVENTS_URL, WORLDS_URL, events_url, policy_url, state_url

STATE = "/admin/characters/{character_id}/axis-state"
EVENTS = "/admin/characters/{character_id}/axis-events"


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
        "/admin/worlds/": ["get"],
        "/admin/worlds/{world_id}/policy": ["get"],
    }


def parameters(operation: dict) -> dict[str, dict]:
    return {p["name"]: p for p in operation["parameters"]}


def test_schema_documents_every_parameter(schema):
    events = parameters(schema["paths"][EVENTS]["get"])
    assert set(events) == {"character_id", "limit", "before", "event_type", "axis"}
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
    }
    assert sorted(components["ApplyEventDeltaRequest"]["required"]) == [
        "axis_name",
        "character_id",
        "delta",
    ]
    assert components["ApplyCharacterEventRequest"]["properties"]["deltas"]["type"] == "object"


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        (STATE, "get", {"200", "400", "401", "403", "404"}),
        (EVENTS, "get", {"200", "400", "401", "403", "404"}),
        (EVENTS, "post", {"200", "201", "400", "401", "403", "404", "409", "503"}),
        ("/admin/events", "post", {"200", "201", "400", "401", "403", "404", "409", "503"}),
        ("/admin/worlds/", "get", {"200", "401", "403"}),
        ("/admin/worlds/{world_id}/policy", "get", {"200", "401", "403", "404"}),
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
            assert operation["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]


def test_schema_endpoint_serves_the_same_schema_to_staff(staff_client, schema):
    response = staff_client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert set(json.loads(response.content)["paths"]) == set(schema["paths"])


# The actual responses match the documented ones ---------------------------------------


def to_json_schema(node):
    """Turn OpenAPI 3.0 into JSON Schema: nullable -> null type; objects closed."""
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
    ]
    for response, status, path, method in cases:
        assert str(response.status_code) == status, (path, response.content)
        assert_matches(schema, response, status=status, path=path, method=method)
