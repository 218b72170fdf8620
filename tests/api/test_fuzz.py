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
from ledger.services import apply_event
from tests.api.conftest import GAME_MASTER, api_key_for, make_user
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
    "idempotency_key_mismatch": Refusal(
        400,
        "an Idempotency-Key header and a body idempotency_key that differ: a rule across two "
        "parts of the request, which no schema can state",
        steered=True,
    ),
    "already_reversed": Refusal(
        409,
        "an event an earlier generated request already reversed: the schema cannot know "
        "the requests before",
        steered=True,
    ),
    "not_reversible": Refusal(
        400, "an event id that is itself a reversal: what an event is, is data", steered=True
    ),
    "occurred_at_in_future": Refusal(
        400,
        "an occurred_at later than the server's clock allows: the schema cannot know the "
        "time of the request (steering keeps the generated time)",
        steered=True,
    ),
    "until_in_future": Refusal(
        400,
        "a drift until later than the server's clock allows: the schema cannot know the "
        "time of the request",
        steered=True,
    ),
    "batch_too_large": Refusal(
        400,
        "a batch of more than 20,000 deltas in all: the schema bounds the events (5,000) "
        "and each event's deltas (1,000), but JSON Schema cannot sum across items",
    ),
    "too_many_event_types": Refusal(
        400,
        "a new event type in a world that holds PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD "
        "already: how many types a world has is data (the requests before made them)",
        steered=True,
    ),
    "duplicate_name": Refusal(
        409,
        "a character name the world has already (the fixture's, or one an earlier "
        "generated request created): names are data, and the schema cannot know the "
        "requests before",
        steered=True,
    ),
    "ids_with_paging": Refusal(
        400,
        "ids together with after or limit: a rule across two query parameters, which no "
        "schema can state (steering sends ids alone)",
    ),
    "request_too_large": Refusal(
        400,
        "a body over its endpoint's limit (2.5 MiB, 16 MiB for events:batch): JSON Schema "
        "cannot bound the size of a whole document",
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
    key = api_key_for(make_user(is_staff=True, permissions=GAME_MASTER))
    return {"Authorization": f"Api-Key {key}"}


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
    must be accepted. A read of characters by ids drops the paging parameters beside
    them, which the API refuses with ids (ids_with_paging).
    """
    world = _World(draw, draw(st.sampled_from(WORLDS)))
    path = dict(case.path_parameters or {})
    if "world_id" in path:
        path["world_id"] = world.world_id
    if "event_id" in path:
        path["event_id"] = world.event_after(world.character())
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
    if case.path == "/admin/worlds/{world_id}/characters" and case.method == "GET":
        query = dict(case.query or {})
        if "ids" in query:
            # As many ids as generated, each a real character of the world (or of the
            # other world: missing), and no paging parameters beside them.
            ids = [world.character_or_foreigner() for _ in query["ids"].split(",")]
            query = {"ids": ",".join(map(str, ids))}
        case.query = query
    case.path_parameters = path
    if case.method == "POST" and isinstance(case.body, dict) and not case.path.endswith("/reverse"):
        body = json.loads(json.dumps(case.body))
        if case.path == "/admin/events:batch":
            body["world_id"] = world.world_id
            body["events"] = [world.event(event) for event in body["events"]]
        elif case.path == "/admin/events":
            body["world_id"] = world.world_id
            body = world.event(body)
        elif case.path.endswith("/axis-events"):
            body["deltas"] = {world.axis(): delta for delta in body["deltas"].values()}
        elif case.path.endswith("/characters") and "scores" in body:
            body["scores"] = {world.axis(): score for score in body["scores"].values()}
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

    def character_or_foreigner(self) -> int:
        """Return a character of this world, or now and then one of another world."""
        others = Character.objects.exclude(world_id=self.world_id).values_list("pk", flat=True)
        return self.draw(st.sampled_from([*self.character_ids, *others]))

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
