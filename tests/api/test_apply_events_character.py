"""POST /admin/characters/{id}/axis-events: applied events, replays and refusals."""

import pytest

from ledger import services
from ledger.models import Event
from ledger.views import API_UNKNOWN_CHARACTER
from pipeworks.serializers import API_UNKNOWN_FIELD
from tests.api.conftest import events_url, retire_axis
from tests.api.event_requests import (
    NOT_A_NUMBER,
    NOT_A_STRING,
    NOT_BLANK,
    NOT_NULL,
    REQUIRED,
    post,
    scores_of,
)
from tests.conftest import table_state


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
