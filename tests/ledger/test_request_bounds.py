"""Bounded cost per request: deltas per event, events and deltas per batch, event types.

Each bound is tried at the limit (accepted) and one past it (refused with a code naming
the limit, nothing written). The product's own events (character creation, the axis
backfill of ``sync_policies``) are exempt: they are bounded by the world's size.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.exceptions import LedgerError
from ledger.generator import generate_ledger
from ledger.models import Event, EventEntityAxisDelta, EventType
from ledger.services import apply_event, apply_events, record_system_event, reverse_event
from ledger.services.validation import (
    AXES_ADDED,
    MAX_BATCH_DELTAS,
    MAX_BATCH_EVENTS,
    MAX_DELTAS_PER_EVENT,
)
from tests.conftest import table_state
from tests.factories import CharacterFactory
from worlds.models import Character
from worlds.services import sync_world_policies

AXES = ("health", "luck", "wealth")  # the axes of the fixture world alpha


def wide_deltas(pairs: int, delta: float = 0.001) -> dict[int, dict[str, float]]:
    """Return deltas of ``pairs`` (character, axis) pairs over alpha's characters."""
    ids = list(Character.objects.filter(world="alpha").order_by("pk").values_list("pk", flat=True))
    assert len(ids) * len(AXES) >= pairs, "not enough characters"
    deltas: dict[int, dict[str, float]] = {}
    for index in range(pairs):
        deltas.setdefault(ids[index // len(AXES)], {})[AXES[index % len(AXES)]] = delta
    return deltas


@pytest.fixture
def crowd(synced):
    """World alpha with enough characters for 1,002 (character, axis) pairs."""
    generate_ledger(world_id="alpha", characters=334, events=334)


def test_an_event_of_the_most_deltas_is_applied_and_one_more_is_refused(crowd):
    event = apply_event(
        world_id="alpha", event_type="raid", deltas=wide_deltas(MAX_DELTAS_PER_EVENT)
    )
    assert event.deltas.count() == MAX_DELTAS_PER_EVENT
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        apply_event(
            world_id="alpha", event_type="raid", deltas=wide_deltas(MAX_DELTAS_PER_EVENT + 1)
        )

    assert (refused.value.code, refused.value.field) == ("too_many_deltas", "deltas")
    assert f"at most {MAX_DELTAS_PER_EVENT} deltas" in refused.value.message
    assert table_state() == before


def test_a_batch_of_the_most_events_is_applied_and_one_more_is_refused(synced):
    hero = CharacterFactory()
    event = {"event_type": "tick", "deltas": {hero.pk: {"wealth": 0.0}}}
    applied = apply_events(world_id="alpha", events=[event] * MAX_BATCH_EVENTS)
    assert len(applied) == MAX_BATCH_EVENTS
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        apply_events(world_id="alpha", events=[event] * (MAX_BATCH_EVENTS + 1))

    assert (refused.value.code, refused.value.field) == ("batch_too_large", "events")
    assert f"at most {MAX_BATCH_EVENTS} events (got {MAX_BATCH_EVENTS + 1})" in (
        refused.value.message
    )
    assert table_state() == before


def test_a_batch_of_the_most_deltas_is_applied_and_one_more_is_refused(crowd):
    per_event = MAX_BATCH_DELTAS // 20
    full = [{"event_type": "tick", "deltas": wide_deltas(per_event)}] * 20
    applied = apply_events(world_id="alpha", events=full)
    assert sum(event.deltas.count() for event in applied) == MAX_BATCH_DELTAS
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        apply_events(
            world_id="alpha",
            events=[*full, {"event_type": "tick", "deltas": wide_deltas(1)}],
        )

    assert (refused.value.code, refused.value.field) == ("batch_too_large", "events")
    assert f"at most {MAX_BATCH_DELTAS} deltas in all" in refused.value.message
    assert table_state() == before


def test_an_event_of_a_batch_over_the_most_deltas_is_named(crowd):
    events = [
        {"event_type": "tick", "deltas": wide_deltas(1)},
        {"event_type": "tick", "deltas": wide_deltas(MAX_DELTAS_PER_EVENT + 1)},
    ]
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        apply_events(world_id="alpha", events=events)

    assert (refused.value.code, refused.value.field) == ("too_many_deltas", "events.1.deltas")
    assert table_state() == before


def test_system_events_are_exempt_and_their_reversal_is_refused(crowd):
    pairs = MAX_DELTAS_PER_EVENT + 2
    backfill = record_system_event(
        world_id="alpha", event_type=AXES_ADDED, deltas=wide_deltas(pairs)
    )
    assert backfill.deltas.count() == pairs
    before = table_state()

    # Reversing it would be a client's event of more deltas than allowed.
    with pytest.raises(LedgerError) as refused:
        reverse_event(event_id=backfill.pk, reason="undo the backfill")

    assert refused.value.code == "too_many_deltas"
    assert table_state() == before


def test_an_axis_added_to_a_world_of_more_characters_than_the_limit_is_backfilled(
    synced, worlds_dir
):
    many = MAX_DELTAS_PER_EVENT + 1
    generate_ledger(world_id="alpha", characters=many, events=many)
    with open(worlds_dir / "alpha/policies/axes.yaml", "a") as f:
        f.write("  charm:\n    default: 0.65\n    ordering:\n      type: numeric\n")

    sync_world_policies()

    backfill = Event.objects.get(event_type__name=AXES_ADDED)
    characters = Character.objects.filter(world="alpha").count()
    assert characters > MAX_DELTAS_PER_EVENT
    assert backfill.deltas.count() == characters


# Event types per world -------------------------------------------------------------------


@pytest.fixture
def three_types(synced, settings):
    """A limit of 3 client types per world, all used in alpha by ``hero``."""
    settings.PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD = 3
    hero = CharacterFactory()
    for name in ("loot_found", "trade", "combat"):
        apply_event(world_id="alpha", event_type=name, deltas={hero.pk: {"wealth": 0.01}})
    return hero


def test_a_new_event_type_past_the_limit_is_refused_naming_the_limit_and_world(three_types):
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        apply_event(world_id="alpha", event_type="dance", deltas={three_types.pk: {"wealth": 0.1}})

    assert (refused.value.code, refused.value.field) == ("too_many_event_types", "event_type")
    assert refused.value.message == (
        "event_type 'dance' would be a new event type of world 'alpha', which has 3 of the 3 "
        "allowed (PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD); reuse an existing type"
    )
    assert table_state() == before


def test_types_in_use_reserved_types_and_other_worlds_are_not_held_back(three_types):
    # The reserved character_created of alpha does not count; existing types go on.
    assert EventType.objects.filter(world="alpha").count() == 4
    apply_event(world_id="alpha", event_type="trade", deltas={three_types.pk: {"wealth": 0.1}})
    CharacterFactory()  # a character_created event
    outsider = CharacterFactory(world_id="beta")
    apply_event(world_id="beta", event_type="dance", deltas={outsider.pk: {"wealth": 0.1}})
    reversal = reverse_event(event_id=Event.objects.latest("id").pk, reason="a typo")
    assert reversal.event_type.name == "reversal"


def test_a_batch_naming_new_types_past_the_limit_is_refused_at_the_first_one_too_many(
    synced, settings
):
    settings.PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD = 2
    hero = CharacterFactory()
    events = [
        {"event_type": name, "deltas": {hero.pk: {"wealth": 0.01}}}
        for name in ("a_one", "a_two", "a_one", "a_three", "a_four")
    ]
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        apply_events(world_id="alpha", events=events)

    assert (refused.value.code, refused.value.field) == (
        "too_many_event_types",
        "events.3.event_type",
    )
    assert table_state() == before
    apply_events(world_id="alpha", events=events[:3])


def test_the_type_count_is_read_only_when_a_new_type_is_made(three_types):
    with CaptureQueriesContext(connection) as known:
        apply_event(world_id="alpha", event_type="trade", deltas={three_types.pk: {"luck": 0.1}})

    assert not [q for q in known.captured_queries if "COUNT(" in q["sql"].upper()]
    assert EventEntityAxisDelta.objects.filter(character=three_types, axis__name="luck").exists()
