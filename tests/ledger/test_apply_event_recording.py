"""apply_event records the event, its deltas and metadata, and keeps scores and snapshots."""

import pytest

from ledger.models import EventEntityAxisDelta, EventType
from ledger.services import apply_event
from tests.factories import CharacterFactory
from tests.ledger.scores import scores_of
from worlds.models import Character

pytestmark = pytest.mark.usefixtures("synced")


def test_apply_event_records_event_deltas_metadata_and_updates_score():
    hero = CharacterFactory(scores={"wealth": 0.3})

    event = apply_event(
        world_id="alpha",
        event_type="loot_found",
        deltas={hero.pk: {"wealth": 0.2}},
        metadata={"source": "treasure_chest"},
    )

    assert event.world_id == "alpha"
    assert event.event_type.name == "loot_found"
    delta = event.deltas.get()
    assert (delta.character_id, delta.axis.name) == (hero.pk, "wealth")
    assert (delta.old_score, delta.new_score, delta.delta, delta.requested_delta) == (
        0.3,
        0.5,
        0.2,
        0.2,
    )
    assert dict(event.metadata_entries.values_list("key", "value")) == {"source": "treasure_chest"}
    assert scores_of(hero)["wealth"] == 0.5


def test_apply_event_touches_several_characters_in_one_event():
    buyer = CharacterFactory(scores={"wealth": 0.6})
    seller = CharacterFactory(scores={"wealth": 0.2})

    event = apply_event(
        world_id="alpha",
        event_type="trade",
        deltas={buyer.pk: {"wealth": -0.1}, seller.pk: {"wealth": 0.1, "health": -0.05}},
    )

    assert event.deltas.count() == 3
    assert scores_of(buyer)["wealth"] == 0.5
    assert scores_of(seller)["wealth"] == 0.3
    assert scores_of(seller)["health"] == 0.75


def test_apply_event_refreshes_snapshot_and_bumps_state_seed():
    hero = CharacterFactory(scores={"wealth": 0.1})
    assert hero.state_seed == 0

    apply_event(world_id="alpha", event_type="loot_found", deltas={hero.pk: {"wealth": 0.5}})
    apply_event(world_id="alpha", event_type="loot_found", deltas={hero.pk: {"wealth": 0.1}})

    hero.refresh_from_db()
    assert hero.state_seed == 2
    assert hero.state_version == hero.world.policy_hash
    assert hero.current_state_json == {
        "world_id": "alpha",
        "seed": 2,
        "policy_hash": hero.world.policy_hash,
        "axes": {
            "health": {"score": 0.8, "label": "hale"},
            "luck": {"score": 0.25, "label": None},
            "wealth": {"score": 0.7, "label": "wealthy"},
        },
    }
    assert hero.base_state_json["axes"]["wealth"] == {"score": 0.1, "label": "poor"}


def test_apply_event_leaves_untouched_characters_alone():
    hero = CharacterFactory()
    bystander = CharacterFactory()
    before = Character.objects.get(pk=bystander.pk)

    apply_event(world_id="alpha", event_type="loot_found", deltas={hero.pk: {"wealth": 0.1}})

    after = Character.objects.get(pk=bystander.pk)
    assert (after.state_seed, after.current_state_json, after.state_updated_at) == (
        before.state_seed,
        before.current_state_json,
        before.state_updated_at,
    )


def test_apply_event_clamps_at_both_ends_and_keeps_the_requested_delta():
    hero = CharacterFactory(scores={"wealth": 0.9, "health": 0.1})

    event = apply_event(
        world_id="alpha",
        event_type="windfall_and_plague",
        deltas={hero.pk: {"wealth": 0.5, "health": -0.7}},
    )

    deltas = {d.axis.name: d for d in event.deltas.select_related("axis")}
    assert (deltas["wealth"].new_score, deltas["wealth"].delta) == (1.0, 0.1)
    assert deltas["wealth"].requested_delta == 0.5
    assert (deltas["health"].new_score, deltas["health"].delta) == (0.0, -0.1)
    assert deltas["health"].requested_delta == -0.7
    assert scores_of(hero) == {"wealth": 1.0, "health": 0.0, "luck": 0.25}


def test_eight_tenths_add_up_to_exactly_point_eight_and_label_decadent():
    hero = CharacterFactory(scores={"wealth": 0.0})

    for _ in range(8):
        apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})

    assert scores_of(hero)["wealth"] == 0.8
    hero.refresh_from_db()
    assert hero.current_state_json["axes"]["wealth"] == {"score": 0.8, "label": "decadent"}


def test_scores_are_kept_at_a_precision_of_one_millionth():
    hero = CharacterFactory(scores={"wealth": 0.5})

    event = apply_event(
        world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1234567891}}
    )

    delta = event.deltas.get()
    assert delta.new_score == 0.623457
    assert delta.delta == 0.123457
    assert delta.requested_delta == 0.1234567891


def test_each_delta_chains_from_the_previous_new_score():
    hero = CharacterFactory(scores={"wealth": 0.5})
    for change in (0.3, 0.4, -0.25, -2.0, 0.05):
        apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": change}})

    chain = list(
        EventEntityAxisDelta.objects.filter(character=hero, axis__name="wealth")
        .order_by("event_id")
        .values_list("old_score", "new_score", "delta")
    )
    assert chain[0][0] == 0.0  # the genesis event starts from zero
    for (_, previous_new, _), (old, new, delta) in zip(chain, chain[1:], strict=False):
        assert old == previous_new
        assert delta == round(new - old, 6)
    assert [new for _, new, _ in chain] == [0.5, 0.8, 1.0, 0.75, 0.0, 0.05]
    assert scores_of(hero)["wealth"] == chain[-1][1]


def test_event_type_is_created_on_first_use_and_reused():
    hero = CharacterFactory()
    first = apply_event(world_id="alpha", event_type="rested", deltas={hero.pk: {"health": 0.1}})
    second = apply_event(world_id="alpha", event_type="rested", deltas={hero.pk: {"health": 0.1}})

    assert first.event_type_id == second.event_type_id
    assert EventType.objects.filter(world_id="alpha", name="rested").count() == 1


def test_events_are_ordered_by_monotonic_id():
    hero = CharacterFactory()
    ids = [
        apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.01}}).pk
        for _ in range(5)
    ]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


# --- isolation and snapshots -------------------------------------------------------------


def test_worlds_with_the_same_axis_names_stay_isolated(hero, foreigner):
    apply_event(world_id="alpha", event_type="loot_found", deltas={hero.pk: {"wealth": 0.35}})
    apply_event(world_id="beta", event_type="loot_found", deltas={foreigner.pk: {"wealth": 0.65}})

    hero.refresh_from_db()
    foreigner.refresh_from_db()
    # Same axis name, each world's own bands and event types.
    assert hero.current_state_json["axes"]["wealth"] == {"score": 0.75, "label": "wealthy"}
    assert foreigner.current_state_json["axes"]["wealth"] == {"score": 0.75, "label": "flush"}
    assert set(foreigner.current_state_json["axes"]) == {"wealth", "morale"}
    assert EventType.objects.filter(name="loot_found").count() == 2


def test_a_corrupted_snapshot_decides_nothing(hero):
    Character.objects.filter(pk=hero.pk).update(
        current_state_json={"axes": {"wealth": {"score": 0.99, "label": "decadent"}}, "seed": 77}
    )

    event = apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})

    delta = event.deltas.get()
    assert (delta.old_score, delta.new_score) == (0.4, 0.5)
    hero.refresh_from_db()
    assert hero.current_state_json["axes"]["wealth"] == {"score": 0.5, "label": "well-kept"}
    assert hero.current_state_json["seed"] == 1
