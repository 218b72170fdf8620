"""POST /admin/events:batch: a world tick, all or nothing."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger import services
from ledger.models import Event
from ledger.verification import verify_ledger
from tests.conftest import table_state
from tests.factories import CharacterFactory

BATCH_URL = "/admin/events:batch"


def post(client, body):
    return client.post(BATCH_URL, json.dumps(body), content_type="application/json")


def tick(characters, *, key_prefix=None):
    return [
        {
            "event_type": "tick",
            "deltas": [{"character_id": c.pk, "axis_name": "wealth", "delta": 0.1}],
            "metadata": {"n": str(i)},
            **({"idempotency_key": f"{key_prefix}-{i}"} if key_prefix else {}),
        }
        for i, c in enumerate(characters)
    ]


@pytest.fixture
def characters(synced):
    return [CharacterFactory(scores={"wealth": 0.5}) for _ in range(4)]


def test_a_batch_applies_every_event_in_order_and_answers_201(staff_client, characters):
    response = post(staff_client, {"world_id": "alpha", "events": tick(characters)})

    assert response.status_code == 201
    events = response.json()["events"]
    assert [e["deltas"][0]["character_id"] for e in events] == [c.pk for c in characters]
    assert [e["metadata"]["n"] for e in events] == ["0", "1", "2", "3"]
    assert [e["deltas"][0]["new_score"] for e in events] == [0.6] * 4
    assert verify_ledger().clean


def test_a_retried_batch_answers_200_with_the_original_events(staff_client, characters):
    body = {"world_id": "alpha", "events": tick(characters, key_prefix="t1")}
    first = post(staff_client, body)
    before = table_state()

    again = post(staff_client, body)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert table_state() == before


def test_one_refused_event_writes_nothing_and_names_its_position(staff_client, characters):
    events = tick(characters)
    events[2]["deltas"][0]["axis_name"] = "charisma"
    before = table_state()

    response = post(staff_client, {"world_id": "alpha", "events": events})

    assert response.status_code == 400
    assert response.json() == {
        "detail": "event 2: "
        + services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="charisma", world_id="alpha"),
        "code": "unknown_axis",
        "field": "events.2.deltas.0.axis_name",
    }
    assert table_state() == before


@pytest.mark.parametrize(
    "body, status, field, code, detail",
    [
        (
            {
                "world_id": "gamma",
                "events": [
                    {
                        "event_type": "t",
                        "deltas": [{"character_id": 1, "axis_name": "wealth", "delta": 0.1}],
                    }
                ],
            },
            404,
            "world_id",
            "unknown_world",
            services.APPLY_EVENT_UNKNOWN_WORLD.format(world_id="gamma"),
        ),
        (
            {"world_id": "alpha", "events": []},
            400,
            "events",
            "empty",
            "events: This list may not be empty.",
        ),
        ({"world_id": "alpha"}, 400, "events", "required", "events: This field is required."),
        (
            {"world_id": "alpha", "events": [{"event_type": "t"}]},
            400,
            "events.0.deltas",
            "required",
            "events.0.deltas: This field is required.",
        ),
        (
            {"world_id": "alpha", "events": "tick"},
            400,
            "events",
            "not_a_list",
            'events: Expected a list of items but got type "str".',
        ),
    ],
    ids=["unknown world", "empty", "missing", "event without deltas", "not a list"],
)
def test_malformed_batches_are_4xx_and_write_nothing(
    staff_client, characters, body, status, field, code, detail
):
    before = table_state()

    response = post(staff_client, body)

    assert response.status_code == status
    error = response.json()
    assert (error["field"], error["code"], error["detail"]) == (field, code, detail)
    assert table_state() == before


def test_a_batch_is_a_fixed_number_of_queries_whatever_its_size(staff_client, synced):
    many = [CharacterFactory() for _ in range(30)]
    post(staff_client, {"world_id": "alpha", "events": tick(many[:2])})  # event type exists

    def queries(characters):
        with CaptureQueriesContext(connection) as ctx:
            assert (
                post(staff_client, {"world_id": "alpha", "events": tick(characters)}).status_code
                == 201
            )
        return len(ctx.captured_queries)

    assert queries(many[:3]) == queries(many)


def test_anonymous_and_non_staff_cannot_post_a_batch(anonymous_client, member_client, characters):
    body = {"world_id": "alpha", "events": tick(characters)}
    assert post(anonymous_client, body).status_code == 401
    assert post(member_client, body).status_code == 403
    assert not Event.objects.filter(event_type__name="tick").exists()


def test_an_unknown_character_in_a_batch_names_its_event(staff_client, characters):
    events = tick(characters)
    events[2]["deltas"][0]["character_id"] = 999_999
    before = table_state()

    response = post(staff_client, {"world_id": "alpha", "events": events})

    assert response.status_code == 404
    assert response.json() == {
        "detail": "event 2: " + services.APPLY_EVENT_UNKNOWN_CHARACTER.format(character_id=999_999),
        "code": "unknown_character",
        "field": "events.2.deltas.0.character_id",
    }
    assert table_state() == before
