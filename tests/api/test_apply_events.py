"""POST /admin/characters/{id}/axis-events and POST /admin/events."""

import json

import pytest

from axes.models import CharacterAxisScore
from ledger import services
from ledger.models import Event
from ledger.serializers import API_DUPLICATE_DELTA
from ledger.views import API_UNKNOWN_CHARACTER
from pipeworks.serializers import API_UNKNOWN_FIELD
from tests.api.conftest import WORLD_EVENTS_URL, events_url, retire_axis
from tests.conftest import table_state
from tests.factories import CharacterFactory


def scores_of(character) -> dict[str, float]:
    return dict(
        CharacterAxisScore.objects.filter(character=character).values_list(
            "axis__name", "axis_score"
        )
    )


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


# POST /admin/characters/{id}/axis-events -------------------------------------------------


def test_posting_a_character_event_applies_it_and_answers_201_with_the_event(staff_client, hero):
    response = post(
        staff_client,
        events_url(hero.pk),
        {
            "event_type": "loot_found",
            "deltas": {"wealth": 0.2, "health": -0.1},
            "metadata": {"source": "treasure_chest"},
        },
    )

    assert response.status_code == 201
    body = response.json()
    event = Event.objects.get(pk=body["event_id"])
    assert body["event_type"] == "loot_found"
    assert body["world_id"] == "alpha"
    assert body["metadata"] == {"source": "treasure_chest"}
    assert [(d["axis_name"], d["old_score"], d["new_score"]) for d in body["deltas"]] == [
        ("health", 0.8, 0.7),
        ("wealth", 0.3, 0.5),
    ]
    assert body["timestamp"] == event.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert scores_of(hero) == {"health": 0.7, "luck": 0.25, "wealth": 0.5}
    # The same event, as the history shows it.
    assert staff_client.get(events_url(hero.pk)).json()["events"][0] == body


def test_posting_a_character_event_without_metadata_stores_none(staff_client, hero):
    response = post(
        staff_client, events_url(hero.pk), {"event_type": "tick", "deltas": {"luck": 1}}
    )

    assert response.status_code == 201
    assert response.json()["metadata"] == {}
    assert scores_of(hero)["luck"] == 1.0


def test_replaying_a_character_event_answers_200_with_the_original(staff_client, hero):
    request = {"event_type": "trade", "deltas": {"wealth": 0.1}, "idempotency_key": "trade-7781"}
    first = post(staff_client, events_url(hero.pk), request)
    before = table_state()

    again = post(staff_client, events_url(hero.pk), request)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert table_state() == before
    assert scores_of(hero)["wealth"] == 0.4


def test_reusing_an_idempotency_key_for_another_payload_is_409(staff_client, hero):
    key = {"idempotency_key": "trade-7781"}
    post(
        staff_client, events_url(hero.pk), {"event_type": "trade", "deltas": {"wealth": 0.1}, **key}
    )
    before = table_state()

    response = post(
        staff_client, events_url(hero.pk), {"event_type": "trade", "deltas": {"wealth": 0.2}, **key}
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "idempotency_conflict"
    assert body["field"] == "idempotency_key"
    assert body["detail"] == services.APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(
        key="trade-7781", event_id=Event.objects.get(idempotency_key="trade-7781").pk
    )
    assert table_state() == before


def test_a_null_idempotency_key_means_none(staff_client, hero):
    request = {"event_type": "tick", "deltas": {"wealth": 0.1}, "idempotency_key": None}

    statuses = [post(staff_client, events_url(hero.pk), request).status_code for _ in range(2)]

    assert statuses == [201, 201]
    assert scores_of(hero)["wealth"] == 0.5


# DRF's messages for a field it refused.
REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
NOT_BLANK = "This field may not be blank."
NOT_A_STRING = "Not a valid string."
NOT_A_NUMBER = "A finite number is required."  # StrictFloatField's
NOT_AN_INTEGER = "A valid integer is required."


@pytest.mark.parametrize(
    ("body", "field", "code", "detail"),
    [
        (
            {"event_type": "tick", "deltas": {"charisma": 0.1}},
            "deltas.charisma",
            "unknown_axis",
            services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="charisma", world_id="alpha"),
        ),
        (
            {"event_type": "tick", "deltas": {"morale": 0.1}},
            "deltas.morale",
            "unknown_axis",
            services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="morale", world_id="alpha"),
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": "0.1"}},
            "deltas.wealth",
            "invalid",
            f"deltas.wealth: {NOT_A_NUMBER}",
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": True}},
            "deltas.wealth",
            "invalid",
            f"deltas.wealth: {NOT_A_NUMBER}",
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": None}},
            "deltas.wealth",
            "null",
            f"deltas.wealth: {NOT_NULL}",
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": 10**400}},
            "deltas.wealth",
            "overflow",
            "deltas.wealth: Integer value too large to convert to float",
        ),
        (
            {"event_type": "tick", "deltas": {}},
            "deltas",
            "empty",
            "deltas: This dictionary may not be empty.",
        ),
        (
            {"event_type": "tick", "deltas": [0.1]},
            "deltas",
            "not_a_dict",
            'deltas: Expected a dictionary of items but got type "list".',
        ),
        (
            {"event_type": "tick", "deltas": {"": 0.1}},
            "deltas",
            "invalid",
            services.APPLY_EVENT_BAD_AXIS_NAME.format(value=""),
        ),
        ({"event_type": "tick"}, "deltas", "required", f"deltas: {REQUIRED}"),
        ({"deltas": {"wealth": 0.1}}, "event_type", "required", f"event_type: {REQUIRED}"),
        (
            {"event_type": 7, "deltas": {"wealth": 0.1}},
            "event_type",
            "invalid",
            f"event_type: {NOT_A_STRING}",
        ),
        (
            {"event_type": "", "deltas": {"wealth": 0.1}},
            "event_type",
            "blank",
            f"event_type: {NOT_BLANK}",
        ),
        (
            {"event_type": "no spaces", "deltas": {"wealth": 0.1}},
            "event_type",
            "invalid",
            services.APPLY_EVENT_BAD_EVENT_TYPE.format(value="no spaces"),
        ),
        (
            {"event_type": "x" * 101, "deltas": {"wealth": 0.1}},
            "event_type",
            "max_length",
            "event_type: Ensure this field has no more than 100 characters.",
        ),
        (
            {"event_type": "character_created", "deltas": {"wealth": 0.1}},
            "event_type",
            "reserved_event_type",
            services.APPLY_EVENT_RESERVED_EVENT_TYPE.format(value="character_created"),
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": 0.1}, "metadata": {"k": 1}},
            "metadata.k",
            "invalid",
            f"metadata.k: {NOT_A_STRING}",
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": 0.1}, "metadata": ["k"]},
            "metadata",
            "not_a_dict",
            'metadata: Expected a dictionary of items but got type "list".',
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": 0.1}, "metadata": {"": "v"}},
            "metadata",
            "invalid",
            services.APPLY_EVENT_BAD_METADATA_KEY.format(value=""),
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": 0.1}, "metadata": {"k": "v" * 1001}},
            "metadata.k",
            "invalid",
            services.APPLY_EVENT_BAD_METADATA_VALUE.format(key="k", kind="1001 characters"),
        ),
        (
            {
                "event_type": "tick",
                "deltas": {"wealth": 0.1},
                "metadata": {f"k{i}": "v" for i in range(51)},
            },
            "metadata",
            "invalid",
            services.APPLY_EVENT_TOO_MUCH_METADATA,
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": 0.1}, "idempotency_key": ""},
            "idempotency_key",
            "blank",
            f"idempotency_key: {NOT_BLANK}",
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": 0.1}, "idempotency_key": "k" * 201},
            "idempotency_key",
            "invalid",
            services.APPLY_EVENT_BAD_IDEMPOTENCY_KEY,
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": 0.1}, "idempotency_key": 5},
            "idempotency_key",
            "invalid",
            f"idempotency_key: {NOT_A_STRING}",
        ),
        (
            {"event_type": "tick", "deltas": {"wealth": 0.1}, "world_id": "beta"},
            "world_id",
            "unknown_field",
            f"world_id: {API_UNKNOWN_FIELD}",
        ),
        (
            {"event_type": "tick", "delta": {"wealth": 0.1}},
            "delta",
            "unknown_field",
            f"delta: {API_UNKNOWN_FIELD}",
        ),
    ],
)
def test_a_refused_character_event_is_400_naming_the_field_and_writes_nothing(
    staff_client, hero, body, field, code, detail
):
    before = table_state()

    response = post(staff_client, events_url(hero.pk), body)

    assert response.status_code == 400, response.json()
    error = response.json()
    assert (error["field"], error["code"], error["detail"]) == (field, code, detail)
    assert table_state() == before


def test_a_retired_axis_takes_no_deltas(staff_client, hero, worlds_dir):
    retire_axis(worlds_dir, "alpha", "luck")
    before = table_state()

    response = post(staff_client, events_url(hero.pk), {"event_type": "t", "deltas": {"luck": 0.1}})

    assert response.status_code == 400
    assert response.json() == {
        "detail": "axis 'luck' is retired in world 'alpha' and takes no deltas",
        "code": "retired_axis",
        "field": "deltas.luck",
    }
    assert table_state() == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_literals_in_the_body_are_400(staff_client, hero, literal):
    before = table_state()

    response = staff_client.post(
        events_url(hero.pk),
        f'{{"event_type": "tick", "deltas": {{"wealth": {literal}}}}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"JSON parse error - Out of range float values are not JSON compliant: "
        f"{literal!r}",
        "code": "parse_error",
        "field": None,
    }
    assert table_state() == before


def test_a_number_too_large_for_a_float_is_400_naming_the_delta(staff_client, hero):
    response = staff_client.post(
        events_url(hero.pk),
        '{"event_type": "tick", "deltas": {"wealth": 1e999}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"deltas.wealth: {NOT_A_NUMBER}",
        "code": "invalid",
        "field": "deltas.wealth",
        "errors": {"deltas": {"wealth": [NOT_A_NUMBER]}},
    }


def test_posting_to_an_unknown_character_is_404_and_writes_nothing(staff_client, synced):
    before = table_state()

    response = post(staff_client, events_url(424242), {"event_type": "t", "deltas": {"wealth": 1}})

    assert response.status_code == 404
    assert response.json() == {
        "detail": API_UNKNOWN_CHARACTER.format(character_id=424242),
        "code": "unknown_character",
        "field": None,
    }
    assert table_state() == before


# POST /admin/events ----------------------------------------------------------------------


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
