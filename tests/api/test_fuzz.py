"""Fuzz every operation of the OpenAPI schema with Schemathesis, in process, as staff.

The schema is the one the app serves (drf-spectacular's generator; the first test proves
the two are identical). Schemathesis generates valid and invalid requests for every
operation, the POSTs included, and sends them through ``pipeworks.wsgi.application``
with a staff token, in the test's thread and so inside the test's transaction. Every
response must be no 500 and conform to the schema: a documented status code, the
documented content type and a body matching the documented shape.

And the schema states everything the server enforces: a request the schema allows is
accepted (a 2xx), but for the refusals of ``EXPECTED_REFUSALS``, each named by its error
code with the reason no schema can rule it out (positive_data_acceptance).

Purely random ids and names would almost always meet a 404 or an unknown axis, so about
half of the valid cases are steered onto the fixture world's real characters, worlds,
axes and events, keeping everything else as generated; a steered case must be accepted
(but for an idempotency conflict), which reaches the success paths (201 and 200 bodies)
too.
"""

import json
from typing import NamedTuple

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.db.models import Min
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from axes.models import Axis
from ledger.models import Event, EventEntityAxisDelta
from ledger.serializers import MAX_BATCH_EVENTS
from ledger.services import apply_event
from pipeworks.api import API_REQUEST_TOO_LARGE, API_TOO_MANY_PARAMETERS
from tests.api import test_errors as errors
from tests.api.conftest import make_user
from tests.conftest import table_state
from tests.factories import CharacterFactory
from worlds.models import Character

WORLDS = ["alpha", "beta"]


# Refusals of requests the schema allows ------------------------------------------------


class Refusal(NamedTuple):
    status: int
    reason: str
    # Also expected of a steered case, made of the fixture worlds' real names and ids.
    steered: bool = False


# The answers positive_data_acceptance lets through, by error code, for a request the
# schema allows; anything else but a 2xx fails the test. Each depends on the data (or on
# the requests before), which no schema can state. A refusal the API gains later (a
# limit, a throttle, a conflict, a time bound) is stated in the schema, or named here
# with its reason.
EXPECTED_REFUSALS = {
    "unknown_axis": Refusal(
        400,
        "an axis name valid in no world, or not in this one: axes are each world's policy "
        "files, data the schema cannot list (it documents this 400 on deltas, axis_name "
        "and the axis filter)",
    ),
    "retired_axis": Refusal(
        400, "an axis the world's policy files dropped: data, as for unknown_axis"
    ),
    "unknown_character": Refusal(
        404, "a character id no character has: ids are rows, the schema bounds them only"
    ),
    "foreign_character": Refusal(
        400, "a character of another world than the event's: where a character lives is data"
    ),
    "unknown_world": Refusal(404, "a world id no world has: worlds are policy files and rows"),
    "world_not_synced": Refusal(400, "a world whose policy files were never synced: data"),
    "unknown_event": Refusal(
        404, "an as_of event id not in the character's world, or before the character was"
    ),
    "duplicate": Refusal(
        400,
        "a (character_id, axis_name) pair listed twice with different deltas: the schema "
        "states uniqueItems, but JSON Schema cannot compare two fields of the items",
    ),
    "idempotency_conflict": Refusal(
        409,
        "an idempotency key an earlier generated request used with another payload: the "
        "schema cannot know the requests before",
        steered=True,
    ),
    "request_too_large": Refusal(
        400,
        "a body over DATA_UPLOAD_MAX_MEMORY_SIZE (16 MiB): JSON Schema cannot bound the "
        "size of a whole document",
    ),
}

# The ids of the cases ``steered`` made: made of real names and ids.
STEERED: set[str] = set()


def error_code(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def positive_data_is_accepted(ctx, response, case):
    """Schemathesis' positive_data_acceptance, letting the expected refusals through."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        refusal = EXPECTED_REFUSALS.get(error_code(response))
        if (
            refusal is not None
            and refusal.status == response.status_code
            and (refusal.steered or case.id not in STEERED)
        ):
            return None
        raise


CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_is_accepted,
]
# A valid request is accepted: only a 2xx passes positive_data_acceptance (its default
# also passes 404, 409, 429 and 5xx, whatever the reason).
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx"]}}}
)


def generated_schema() -> dict:
    """Return the schema as ``/api/schema/`` serves it, as plain JSON types."""
    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


def wsgi_application(environ, start_response):
    """Call ``pipeworks.wsgi.application``, imported on the first request.

    Importing it logs the policy reports, which reads the database: only a test may.
    """
    from pipeworks.wsgi import application

    return application(environ, start_response)


schema = schemathesis.openapi.from_dict(generated_schema(), config=CONFIG)
schema.app = wsgi_application


@pytest.fixture
def staff_token_headers(synced) -> dict:
    """Synced fixture worlds with two alpha characters, a beta one and some history.

    Return the headers of a staff user's token.
    """
    hero = CharacterFactory(name="hero", scores={"wealth": 0.3})
    sidekick = CharacterFactory(name="sidekick")
    CharacterFactory(name="foreigner", world_id="beta")
    apply_event(
        world_id="alpha",
        event_type="tick",
        deltas={hero.pk: {"wealth": 0.1}, sidekick.pk: {"luck": -0.2}},
        metadata={"source": "fuzz"},
    )
    token = Token.objects.create(user=make_user(is_staff=True))
    return {"Authorization": f"Token {token.key}"}


@pytest.fixture
def in_process_requests():
    """Keep the test's connection across WSGI requests, as Django's test client does.

    The WSGI handler closes the connection when a request finishes; inside the test's
    transaction that would throw the transaction, and every fixture row, away.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_fuzzed_schema_is_the_served_one(staff_client):
    response = staff_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert json.loads(response.content) == generated_schema()


EVENT_TYPES = ["tick", "loot_found", "trade"]


@schema.hook
def flatmap_case(context, case):
    """Point about half the valid generated cases at real characters, worlds and axes."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return st.just(case)
    return st.one_of(st.just(case), steered(case))


@st.composite
def steered(draw, case):
    """Return the case aimed at one real world: its characters, active axes and events.

    Only the names and ids are replaced, nothing else: the event types, numbers,
    metadata and idempotency keys stay as generated, and so do the sizes (deltas naming
    one pair twice become one delta), so the case is still one the schema allows and
    must be accepted.
    """
    world = _World(draw, draw(st.sampled_from(WORLDS)))
    path = dict(case.path_parameters or {})
    if "world_id" in path:
        path["world_id"] = world.world_id
    if "character_id" in path:
        path["character_id"] = world.character()
        query = dict(case.query or {})
        if "as_of" in query:
            query["as_of"] = world.event_after(path["character_id"])
        if "axis" in query:
            query["axis"] = world.axis()
        if "event_type" in query:
            query["event_type"] = draw(st.sampled_from([query["event_type"], *EVENT_TYPES]))
        case.query = query
    case.path_parameters = path
    if case.method == "POST":
        body = json.loads(json.dumps(case.body))
        if case.path == "/admin/events:batch":
            body["world_id"] = world.world_id
            body["events"] = [world.event(event) for event in body["events"]]
        elif case.path == "/admin/events":
            body["world_id"] = world.world_id
            body = world.event(body)
        else:
            body["deltas"] = {world.axis(): delta for delta in body["deltas"].values()}
        case.body = body
    STEERED.add(case.id)
    return case


class _World:
    """Draws of one fixture world's real names and ids."""

    def __init__(self, draw, world_id: str):
        self.draw, self.world_id = draw, world_id
        self.character_ids = list(
            Character.objects.filter(world_id=world_id).values_list("pk", flat=True)
        )
        self.axes = list(
            Axis.objects.filter(world_id=world_id, is_active=True).values_list("name", flat=True)
        )

    def character(self) -> int:
        return self.draw(st.sampled_from(self.character_ids))

    def axis(self) -> str:
        return self.draw(st.sampled_from(self.axes))

    def event_after(self, character_id: int) -> int:
        """Return an event of the world from the character's creation on."""
        first = EventEntityAxisDelta.objects.filter(character_id=character_id).aggregate(
            first=Min("event_id")
        )["first"]
        events = Event.objects.filter(world_id=self.world_id, pk__gte=first)
        return self.draw(st.sampled_from(sorted(events.values_list("pk", flat=True))))

    def event(self, event: dict) -> dict:
        """Return the event with real (character_id, axis_name) pairs, each once."""
        deltas = {}
        for item in event["deltas"]:
            pair = (self.character(), self.axis())
            deltas[pair] = {**item, "character_id": pair[0], "axis_name": pair[1]}
        return {**event, "deltas": list(deltas.values())}


@schema.parametrize()
# Bounded for CI: 25 generated cases per operation (plus Schemathesis's coverage cases),
# no deadline; function-scoped fixtures are deliberate (one database per operation).
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_every_operation_answers_as_documented_and_never_500(
    case, staff_token_headers, in_process_requests
):
    case.call_and_validate(headers=staff_token_headers, checks=CHECKS)


# Regressions found by fuzzing ----------------------------------------------------------


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


# The error catalogue's codes -----------------------------------------------------------

# tests/api/test_errors.py sends every malformed request and checks the status and the
# error shape; docs/reliability.md also promises each one's code, checked here.
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
    assert (response.json()["code"], response.json()["field"]) == ("max_length", "events")
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
