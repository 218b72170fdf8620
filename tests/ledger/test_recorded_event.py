"""apply_event returns an Event that behaves as loaded and carries what it wrote."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.models import Event
from ledger.selectors import serialize_event, serialize_events
from ledger.services import apply_event, apply_events
from tests.factories import CharacterFactory

pytestmark = pytest.mark.usefixtures("synced")


def test_the_returned_event_is_a_loaded_instance_equal_to_the_stored_row():
    hero, partner = CharacterFactory(scores={"wealth": 0.95}), CharacterFactory()

    event = apply_event(
        world_id="alpha",
        event_type="trade",
        deltas={hero.pk: {"wealth": 0.1, "health": -0.2}, partner.pk: {"wealth": -0.1}},
        metadata={"source": "market", "npc": "Odo"},
        idempotency_key="trade-1",
    )

    stored = Event.objects.get(pk=event.pk)
    assert event == stored
    assert not event._state.adding
    assert event._state.db == "default"
    fields = ["world_id", "event_type_id", "timestamp", "idempotency_key", "request_hash"]
    assert [getattr(event, name) for name in fields] == [getattr(stored, name) for name in fields]
    assert event.replayed is False


def test_the_answer_built_from_the_returned_event_equals_the_one_read_back_and_reads_nothing():
    hero, partner = CharacterFactory(scores={"wealth": 0.95}), CharacterFactory()
    event = apply_event(
        world_id="alpha",
        event_type="trade",
        deltas={hero.pk: {"wealth": 0.1, "health": -0.2}, partner.pk: {"wealth": -0.1}},
        metadata={"source": "market", "npc": "Odo"},
    )

    with CaptureQueriesContext(connection) as ctx:
        answer = serialize_event(event)

    assert ctx.captured_queries == []
    assert [answer] == serialize_events([event.pk])
    clamped = next(d for d in answer["deltas"] if d["character_id"] == hero.pk and d["delta"] > 0)
    assert (clamped["requested_delta"], clamped["delta"], clamped["new_label"]) == (
        0.1,
        0.05,
        "decadent",
    )


def test_a_retry_returns_the_original_with_its_record_and_marked_replayed():
    hero = CharacterFactory()
    kwargs = {
        "world_id": "alpha",
        "event_type": "loot",
        "deltas": {hero.pk: {"wealth": 0.2}},
        "idempotency_key": "loot-1",
    }
    first = apply_event(**kwargs)

    again = apply_event(**kwargs)

    assert (again.pk, again.replayed, first.replayed) == (first.pk, True, False)
    assert serialize_event(again) == serialize_event(first)


def test_a_key_repeated_in_a_batch_returns_the_same_event_twice():
    hero = CharacterFactory()
    item = {"event_type": "tick", "deltas": {hero.pk: {"health": -0.1}}, "idempotency_key": "t"}

    first, second = apply_events(world_id="alpha", events=[item, item])

    assert second is first
    assert Event.objects.filter(idempotency_key="t").count() == 1
