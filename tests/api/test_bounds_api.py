"""Bounded cost per request through the API: each limit at its bound and one past it.

A request past a limit is a 400 naming the limit (``too_many_deltas``,
``batch_too_large``, ``too_many_event_types``) and the field, refused before its items
are validated one by one, and nothing is written.
"""

import json

import pytest

from ledger.generator import generate_ledger
from ledger.services.validation import (
    MAX_BATCH_DELTAS,
    MAX_BATCH_EVENTS,
    MAX_DELTAS_PER_EVENT,
)
from tests.api.conftest import WORLD_EVENTS_URL, events_url
from tests.conftest import table_state
from worlds.models import Character

BATCH_URL = "/admin/events:batch"
AXES = ("health", "luck", "wealth")


def delta_items(pairs: int) -> list[dict]:
    """Return ``pairs`` delta items over alpha's characters, each pair once."""
    ids = list(Character.objects.filter(world="alpha").order_by("pk").values_list("pk", flat=True))
    return [
        {"character_id": ids[i // len(AXES)], "axis_name": AXES[i % len(AXES)], "delta": 0.001}
        for i in range(pairs)
    ]


def post(client, url: str, body: dict):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def crowd(synced):
    generate_ledger(world_id="alpha", characters=334, events=334)


def test_an_event_of_the_most_deltas_is_201_and_one_more_is_400(staff_client, crowd):
    event = {"world_id": "alpha", "event_type": "raid"}
    accepted = post(staff_client, WORLD_EVENTS_URL, {**event, "deltas": delta_items(1000)})
    assert accepted.status_code == 201
    assert len(accepted.json()["deltas"]) == MAX_DELTAS_PER_EVENT == 1000
    before = table_state()

    refused = post(staff_client, WORLD_EVENTS_URL, {**event, "deltas": delta_items(1001)})

    assert refused.status_code == 400
    body = refused.json()
    assert (body["code"], body["field"]) == ("too_many_deltas", "deltas")
    assert "at most 1000 deltas" in body["detail"]
    assert table_state() == before


def test_a_character_event_of_more_axes_than_the_most_deltas_is_400(staff_client, hero):
    before = table_state()

    refused = post(
        staff_client,
        events_url(hero.pk),
        {"event_type": "tick", "deltas": {f"axis{i}": 0.1 for i in range(1001)}},
    )

    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["field"]) == ("too_many_deltas", "deltas")
    assert table_state() == before


def test_a_batch_of_the_most_deltas_is_201_and_one_more_is_400(staff_client, crowd):
    full = [{"event_type": "tick", "deltas": delta_items(1000)}] * 20
    assert 20 * 1000 == MAX_BATCH_DELTAS
    accepted = post(staff_client, BATCH_URL, {"world_id": "alpha", "events": full})
    assert accepted.status_code == 201
    before = table_state()

    one_more = [*full, {"event_type": "tick", "deltas": delta_items(1)}]
    refused = post(staff_client, BATCH_URL, {"world_id": "alpha", "events": one_more})

    assert refused.status_code == 400
    body = refused.json()
    assert (body["code"], body["field"]) == ("batch_too_large", "events")
    assert f"at most {MAX_BATCH_DELTAS} deltas in all" in body["detail"]
    assert table_state() == before


def test_a_batch_event_over_the_most_deltas_is_400_naming_it(staff_client, crowd):
    events = [
        {"event_type": "tick", "deltas": delta_items(1)},
        {"event_type": "tick", "deltas": delta_items(1001)},
    ]
    before = table_state()

    refused = post(staff_client, BATCH_URL, {"world_id": "alpha", "events": events})

    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["field"]) == (
        "too_many_deltas",
        "events.1.deltas",
    )
    assert table_state() == before


def test_a_batch_of_more_than_the_most_events_is_400_before_reading_them(staff_client, hero):
    # Items that are not even events: counted before any is validated.
    before = table_state()

    refused = post(staff_client, BATCH_URL, {"world_id": "alpha", "events": [0] * 5001})

    assert refused.status_code == 400
    body = refused.json()
    assert (body["code"], body["field"]) == ("batch_too_large", "events")
    assert f"at most {MAX_BATCH_EVENTS} events (got 5001)" in body["detail"]
    assert table_state() == before


def test_a_new_event_type_past_the_world_limit_is_400(staff_client, hero, settings):
    settings.PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD = 1
    first = post(staff_client, events_url(hero.pk), {"event_type": "t1", "deltas": {"luck": 0.1}})
    assert first.status_code == 201
    before = table_state()

    refused = post(staff_client, events_url(hero.pk), {"event_type": "t2", "deltas": {"luck": 0.1}})
    batch = post(
        staff_client,
        BATCH_URL,
        {
            "world_id": "alpha",
            "events": [
                {
                    "event_type": "t1",
                    "deltas": [{"character_id": hero.pk, "axis_name": "luck", "delta": 0.1}],
                },
                {
                    "event_type": "t3",
                    "deltas": [{"character_id": hero.pk, "axis_name": "luck", "delta": 0.1}],
                },
            ],
        },
    )

    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["field"]) == (
        "too_many_event_types",
        "event_type",
    )
    assert "which has 1 of the 1 allowed" in refused.json()["detail"]
    assert batch.status_code == 400
    assert (batch.json()["code"], batch.json()["field"]) == (
        "too_many_event_types",
        "events.1.event_type",
    )
    assert table_state() == before
