import random

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from axes.models import CharacterAxisScore
from ledger import services
from ledger.exceptions import IdempotencyConflict, LedgerError
from ledger.models import EventEntityAxisDelta, EventMetadata
from ledger.services import apply_event, apply_events
from ledger.verification import verify_ledger
from tests.conftest import table_state
from tests.factories import CharacterFactory
from worlds.models import Character

pytestmark = pytest.mark.usefixtures("synced")


class Rollback(Exception):
    pass


def ledger_outcome():
    """What the events did, without ids and clocks: deltas, metadata, scores, snapshots."""
    deltas = list(
        EventEntityAxisDelta.objects.filter(event__event_type__name__startswith="t")
        .order_by("event_id", "character_id", "axis_id")
        .values_list(
            "event__event_type__name",
            "character_id",
            "axis_id",
            "old_score",
            "new_score",
            "delta",
            "requested_delta",
        )
    )
    metadata = list(EventMetadata.objects.order_by("event_id", "key").values_list("key", "value"))
    scores = sorted(CharacterAxisScore.objects.values_list("character_id", "axis_id", "axis_score"))
    snapshots = sorted(Character.objects.values_list("pk", "state_seed", "current_state_json"))
    return deltas, metadata, scores, snapshots


def tick(characters, count, seed=3):
    rng = random.Random(seed)
    return [
        {
            "event_type": rng.choice(["tick", "trade"]),
            "deltas": {
                c.pk: {
                    axis: round(rng.uniform(-0.6, 0.6), 3)
                    for axis in rng.sample(["wealth", "health", "luck"], 2)
                }
                for c in rng.sample(characters, 2)
            },
            "metadata": {"n": str(i)},
        }
        for i in range(count)
    ]


def test_a_batch_writes_what_the_same_events_one_by_one_write():
    characters = [CharacterFactory() for _ in range(25)]
    events = tick(characters, 30)
    try:
        with transaction.atomic():
            for event in events:
                apply_event(world_id="alpha", **event)
            one_by_one = ledger_outcome()
            raise Rollback
    except Rollback:
        pass

    result = apply_events(world_id="alpha", events=events)

    assert [e.event_type.name for e in result] == [e["event_type"] for e in events]
    assert [e.pk for e in result] == sorted(e.pk for e in result)
    assert ledger_outcome() == one_by_one
    assert verify_ledger().clean


def test_a_batch_runs_the_same_number_of_statements_whatever_its_size():
    characters = [CharacterFactory() for _ in range(6)]
    apply_events(world_id="alpha", events=tick(characters, 2))  # event types exist now

    def count(events):
        with CaptureQueriesContext(connection) as ctx:
            apply_events(world_id="alpha", events=events)
        return len(ctx.captured_queries)

    assert count(tick(characters, 3, seed=1)) == count(tick(characters, 60, seed=2))


def test_one_bad_event_means_nothing_is_written():
    characters = [CharacterFactory() for _ in range(3)]
    events = tick(characters, 5)
    events[3]["deltas"] = {characters[0].pk: {"charisma": 0.1}}
    before = table_state()

    with pytest.raises(LedgerError) as excinfo:
        apply_events(world_id="alpha", events=events)

    assert excinfo.value.code == "unknown_axis"
    assert excinfo.value.field == f"events.3.deltas.{characters[0].pk}.charisma"
    assert str(excinfo.value) == "event 3: " + services.APPLY_EVENT_UNKNOWN_AXIS.format(
        axis="charisma", world_id="alpha"
    )
    assert table_state() == before


@pytest.mark.parametrize(
    "events, code, field, message",
    [
        ([], "invalid", "events", services.APPLY_EVENTS_EMPTY),
        ("tick", "invalid", "events", services.APPLY_EVENTS_EMPTY),
        (
            [{"event_type": "tick", "deltas": {}}],
            "invalid",
            "events.0.deltas",
            "event 0: " + services.APPLY_EVENT_NO_DELTAS,
        ),
        (["not an event"], "invalid", "events.0", "event 0: " + services.APPLY_EVENTS_NOT_MAPPING),
        (
            [{"event_type": "tick", "deltas": {1: {"wealth": 0.1}}, "colour": "red"}],
            "invalid",
            "events.0",
            "event 0: " + services.APPLY_EVENTS_UNKNOWN_KEYS.format(keys="colour"),
        ),
        (
            [{"event_type": "character_created", "deltas": {1: {"wealth": 0.1}}}],
            "reserved_event_type",
            "events.0.event_type",
            "event 0: "
            + services.APPLY_EVENT_RESERVED_EVENT_TYPE.format(value="character_created"),
        ),
    ],
    ids=["empty", "not a list", "no deltas", "not a mapping", "unknown key", "reserved type"],
)
def test_malformed_batches_are_refused_naming_the_event(events, code, field, message):
    before = table_state()
    with pytest.raises(LedgerError) as excinfo:
        apply_events(world_id="alpha", events=events)
    assert excinfo.value.code == code
    assert excinfo.value.field == field
    assert str(excinfo.value) == message
    assert table_state() == before


def test_idempotency_keys_replay_within_and_across_batches():
    hero = CharacterFactory(scores={"wealth": 0.5})
    first = {"event_type": "tick", "deltas": {hero.pk: {"wealth": 0.1}}, "idempotency_key": "a"}
    second = {"event_type": "tick", "deltas": {hero.pk: {"wealth": 0.2}}, "idempotency_key": "b"}

    result = apply_events(world_id="alpha", events=[first, second, first])

    assert result[2].pk == result[0].pk
    assert hero.scores.get(axis__name="wealth").axis_score == 0.8
    again = apply_events(world_id="alpha", events=[second, first])
    assert [e.pk for e in again] == [result[1].pk, result[0].pk]
    assert all(e.replayed for e in again)
    assert hero.scores.get(axis__name="wealth").axis_score == 0.8


def test_a_key_reused_for_another_request_in_a_batch_is_a_conflict():
    hero = CharacterFactory()
    before = table_state()
    events = [
        {"event_type": "tick", "deltas": {hero.pk: {"wealth": 0.1}}, "idempotency_key": "a"},
        {"event_type": "tick", "deltas": {hero.pk: {"wealth": 0.3}}, "idempotency_key": "a"},
    ]
    with pytest.raises(IdempotencyConflict) as excinfo:
        apply_events(world_id="alpha", events=events)
    assert excinfo.value.code == "idempotency_conflict"
    assert excinfo.value.field == "events.1.idempotency_key"
    assert str(excinfo.value) == services.APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(
        key="a", event_id="in this batch"
    )
    assert table_state() == before
