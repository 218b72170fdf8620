"""POST /admin/events: applied world events, replays and refusals."""

import pytest

from ledger import services
from ledger.serializers import API_DUPLICATE_DELTA
from pipeworks.serializers import API_UNKNOWN_FIELD
from tests.api.conftest import WORLD_EVENTS_URL, events_url
from tests.api.event_requests import (
    NOT_A_NUMBER,
    NOT_A_STRING,
    NOT_AN_INTEGER,
    NOT_NULL,
    REQUIRED,
    post,
    scores_of,
)
from tests.conftest import table_state
from tests.factories import CharacterFactory


def test_posting_a_world_event_applies_it_to_every_character(staff_client, hero):
    partner = CharacterFactory(name="partner", scores={"wealth": 0.6})

    response = post(
        staff_client,
        WORLD_EVENTS_URL,
        {
            "world_id": "alpha",
            "event_type": "trade",
            "deltas": [
                {"character_id": partner.pk, "axis_name": "wealth", "delta": -0.1},
                {"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1},
                {"character_id": hero.pk, "axis_name": "health", "delta": -0.05},
            ],
            "metadata": {"deal": "sword"},
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["world_id"] == "alpha"
    assert body["metadata"] == {"deal": "sword"}
    assert [(d["axis_name"], d["character_id"], d["new_score"]) for d in body["deltas"]] == [
        ("health", hero.pk, 0.75),
        ("wealth", hero.pk, 0.4),
        ("wealth", partner.pk, 0.5),
    ]
    assert scores_of(hero)["wealth"] == 0.4
    assert scores_of(partner)["wealth"] == 0.5


def test_replaying_a_world_event_answers_200_and_a_changed_payload_409(staff_client, hero):
    request = {
        "world_id": "alpha",
        "event_type": "trade",
        "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1}],
        "idempotency_key": "k-1",
    }
    first = post(staff_client, WORLD_EVENTS_URL, request)
    before = table_state()

    replay = post(staff_client, WORLD_EVENTS_URL, request)
    conflict = post(staff_client, WORLD_EVENTS_URL, {**request, "metadata": {"a": "b"}})

    assert (first.status_code, replay.status_code, conflict.status_code) == (201, 200, 409)
    assert replay.json() == first.json()
    assert conflict.json() == {
        "detail": services.APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(
            key="k-1", event_id=first.json()["event_id"]
        ),
        "code": "idempotency_conflict",
        "field": "idempotency_key",
    }
    assert table_state() == before


def test_the_same_key_on_both_endpoints_replays_the_same_event(staff_client, hero):
    first = post(
        staff_client,
        events_url(hero.pk),
        {"event_type": "t", "deltas": {"wealth": 0.1}, "idempotency_key": "shared"},
    )
    replay = post(
        staff_client,
        WORLD_EVENTS_URL,
        {
            "world_id": "alpha",
            "event_type": "t",
            "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1}],
            "idempotency_key": "shared",
        },
    )

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json()["event_id"] == first.json()["event_id"]


def world_event(hero_id: int, **changes) -> dict:
    body = {
        "world_id": "alpha",
        "event_type": "tick",
        "deltas": [{"character_id": hero_id, "axis_name": "wealth", "delta": 0.1}],
    }
    body.update(changes)
    return body


def one_delta(character_id=None, axis_name="wealth", delta=0.1) -> list[dict]:
    return [{"character_id": character_id, "axis_name": axis_name, "delta": delta}]


def foreign(h, f) -> str:
    return services.APPLY_EVENT_FOREIGN_CHARACTER.format(
        character_id=f, other="beta", world_id="alpha"
    )


@pytest.mark.parametrize(
    ("build", "status", "field", "code", "detail"),
    [
        # A detail that names a character is a builder of (hero id, foreigner id) too.
        (
            lambda h, f: world_event(h, world_id="nowhere"),
            404,
            "world_id",
            "unknown_world",
            services.APPLY_EVENT_UNKNOWN_WORLD.format(world_id="nowhere"),
        ),
        (
            lambda h, f: world_event(h, world_id=3),
            400,
            "world_id",
            "invalid",
            f"world_id: {NOT_A_STRING}",
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(424242)),
            404,
            "deltas.0.character_id",
            "unknown_character",
            services.APPLY_EVENT_UNKNOWN_CHARACTER.format(character_id=424242),
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(f)),
            400,
            "deltas.0.character_id",
            "foreign_character",
            foreign,
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(h, "charisma")),
            400,
            "deltas.0.axis_name",
            "unknown_axis",
            services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="charisma", world_id="alpha"),
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(h, delta="x")),
            400,
            "deltas.0.delta",
            "invalid",
            f"deltas.0.delta: {NOT_A_NUMBER}",
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(h, delta=None)),
            400,
            "deltas.0.delta",
            "null",
            f"deltas.0.delta: {NOT_NULL}",
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta("1")),
            400,
            "deltas.0.character_id",
            "invalid",
            f"deltas.0.character_id: {NOT_AN_INTEGER}",
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(0)),
            400,
            "deltas.0.character_id",
            "min_value",
            "deltas.0.character_id: Ensure this value is greater than or equal to 1.",
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(True)),
            400,
            "deltas.0.character_id",
            "invalid",
            f"deltas.0.character_id: {NOT_AN_INTEGER}",
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(2**63)),
            400,
            "deltas.0.character_id",
            "max_value",
            f"deltas.0.character_id: Ensure this value is less than or equal to {2**63 - 1}.",
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(1.5)),
            400,
            "deltas.0.character_id",
            "invalid",
            f"deltas.0.character_id: {NOT_AN_INTEGER}",
        ),
        (
            lambda h, f: world_event(h, deltas=[]),
            400,
            "deltas",
            "empty",
            "deltas: This list may not be empty.",
        ),
        (
            lambda h, f: world_event(h, deltas={"wealth": 0.1}),
            400,
            "deltas",
            "not_a_list",
            'deltas: Expected a list of items but got type "dict".',
        ),
        (
            lambda h, f: world_event(h, deltas=[5]),
            400,
            "deltas.0",
            "invalid",
            "deltas.0: Invalid data. Expected a dictionary, but got int.",
        ),
        (
            lambda h, f: world_event(h, deltas=[{"character_id": h, "axis_name": "wealth"}]),
            400,
            "deltas.0.delta",
            "required",
            f"deltas.0.delta: {REQUIRED}",
        ),
        (
            lambda h, f: world_event(h, deltas=[{**one_delta(h)[0], "note": "x"}]),
            400,
            "deltas.0.note",
            "unknown_field",
            f"deltas.0.note: {API_UNKNOWN_FIELD}",
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(h) + one_delta(h, delta=0.2)),
            400,
            "deltas.1.axis_name",
            "duplicate",
            lambda h, f: (
                "deltas.1.axis_name: "
                + API_DUPLICATE_DELTA.format(character_id=h, axis="wealth", first=0)
            ),
        ),
        (
            lambda h, f: world_event(h, deltas=one_delta(h) + [{**one_delta(f)[0]}]),
            400,
            "deltas.1.character_id",
            "foreign_character",
            foreign,
        ),
        (
            lambda h, f: world_event(h, metadata={"source": ["chest"]}),
            400,
            "metadata.source",
            "invalid",
            f"metadata.source: {NOT_A_STRING}",
        ),
        (
            lambda h, f: world_event(h, metadata=None),
            400,
            "metadata",
            "null",
            f"metadata: {NOT_NULL}",
        ),
        (
            lambda h, f: {"world_id": "alpha"},
            400,
            "event_type",
            "required",
            f"event_type: {REQUIRED}",
        ),
        (
            lambda h, f: [world_event(h)],
            400,
            None,
            "invalid",
            "Invalid data. Expected a dictionary, but got list.",
        ),
        (
            lambda h, f: "alpha",
            400,
            None,
            "invalid",
            "Invalid data. Expected a dictionary, but got str.",
        ),
        (lambda h, f: None, 400, None, "null", "No data provided"),
    ],
)
def test_a_refused_world_event_names_the_field_and_writes_nothing(
    staff_client, hero, foreigner, build, status, field, code, detail
):
    before = table_state()

    response = post(staff_client, WORLD_EVENTS_URL, build(hero.pk, foreigner.pk))

    assert response.status_code == status, response.json()
    error = response.json()
    if callable(detail):
        detail = detail(hero.pk, foreigner.pk)
    assert (error["field"], error["code"], error["detail"]) == (field, code, detail)
    assert table_state() == before


def test_a_foreign_character_error_names_both_worlds(staff_client, hero, foreigner):
    response = post(
        staff_client,
        WORLD_EVENTS_URL,
        world_event(hero.pk, deltas=one_delta(foreigner.pk)),
    )

    assert response.json()["detail"] == (
        f"character {foreigner.pk} belongs to world 'beta', not 'alpha'"
    )
