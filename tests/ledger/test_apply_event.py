import math
import re

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from axes.models import CharacterAxisScore
from ledger import services, statements
from ledger.exceptions import IdempotencyConflict, LedgerError
from ledger.models import EventEntityAxisDelta, EventMetadata, EventType
from ledger.services import apply_event, state
from tests.conftest import table_state
from tests.factories import CharacterFactory
from worlds.models import Character

pytestmark = pytest.mark.usefixtures("synced")


def scores_of(character) -> dict[str, float]:
    return dict(
        CharacterAxisScore.objects.filter(character=character).values_list(
            "axis__name", "axis_score"
        )
    )


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


# --- rejections: each leaves every table exactly as it was --------------------------------


@pytest.fixture
def hero():
    return CharacterFactory(scores={"wealth": 0.4})


@pytest.fixture
def foreigner():
    return CharacterFactory(world_id="beta")


REJECTIONS = [
    # (description, kwargs builder, code, field, message); a field or message that names
    # a character is a builder of (hero, foreigner) too.
    (
        "unknown world",
        lambda h, f: {"world_id": "nowhere", "deltas": {h.pk: {"wealth": 0.1}}},
        "unknown_world",
        "world_id",
        services.APPLY_EVENT_UNKNOWN_WORLD.format(world_id="nowhere"),
    ),
    (
        "unknown axis",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1, "charisma": 0.1}}},
        "unknown_axis",
        lambda h, f: f"deltas.{h.pk}.charisma",
        services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="charisma", world_id="alpha"),
    ),
    (
        "axis of another world",
        lambda h, f: {"deltas": {h.pk: {"morale": 0.1}}},
        "unknown_axis",
        lambda h, f: f"deltas.{h.pk}.morale",
        services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="morale", world_id="alpha"),
    ),
    (
        "unknown character",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}, 999999: {"wealth": 0.1}}},
        "unknown_character",
        "deltas.999999",
        services.APPLY_EVENT_UNKNOWN_CHARACTER.format(character_id=999999),
    ),
    (
        "character of another world",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}, f.pk: {"wealth": 0.1}}},
        "foreign_character",
        lambda h, f: f"deltas.{f.pk}",
        lambda h, f: services.APPLY_EVENT_FOREIGN_CHARACTER.format(
            character_id=f.pk, other="beta", world_id="alpha"
        ),
    ),
    (
        "nan delta",
        lambda h, f: {"deltas": {h.pk: {"wealth": math.nan}}},
        "invalid",
        lambda h, f: f"deltas.{h.pk}.wealth",
        services.APPLY_EVENT_BAD_DELTA.format(axis="wealth", value=math.nan),
    ),
    (
        "infinite delta",
        lambda h, f: {"deltas": {h.pk: {"wealth": math.inf}}},
        "invalid",
        lambda h, f: f"deltas.{h.pk}.wealth",
        services.APPLY_EVENT_BAD_DELTA.format(axis="wealth", value=math.inf),
    ),
    (
        "string delta",
        lambda h, f: {"deltas": {h.pk: {"wealth": "0.1"}}},
        "invalid",
        lambda h, f: f"deltas.{h.pk}.wealth",
        services.APPLY_EVENT_BAD_DELTA.format(axis="wealth", value="0.1"),
    ),
    (
        "bool delta",
        lambda h, f: {"deltas": {h.pk: {"wealth": True}}},
        "invalid",
        lambda h, f: f"deltas.{h.pk}.wealth",
        services.APPLY_EVENT_BAD_DELTA.format(axis="wealth", value=True),
    ),
    (
        "no deltas",
        lambda h, f: {"deltas": {}},
        "invalid",
        "deltas",
        services.APPLY_EVENT_NO_DELTAS,
    ),
    (
        "empty axes",
        lambda h, f: {"deltas": {h.pk: {}}},
        "invalid",
        "deltas",
        services.APPLY_EVENT_NO_DELTAS,
    ),
    (
        "deltas not a mapping",
        lambda h, f: {"deltas": [h.pk]},
        "invalid",
        "deltas",
        services.APPLY_EVENT_DELTAS_NOT_MAPPING.format(kind="list"),
    ),
    (
        "string character id",
        lambda h, f: {"deltas": {str(h.pk): {"wealth": 0.1}}},
        "invalid",
        "deltas",
        lambda h, f: services.APPLY_EVENT_BAD_CHARACTER_ID.format(value=str(h.pk)),
    ),
    (
        "bad event type",
        lambda h, f: {"event_type": "", "deltas": {h.pk: {"wealth": 0.1}}},
        "invalid",
        "event_type",
        services.APPLY_EVENT_BAD_EVENT_TYPE.format(value=""),
    ),
    (
        "reserved event type",
        lambda h, f: {"event_type": "character_created", "deltas": {h.pk: {"wealth": 0.1}}},
        "reserved_event_type",
        "event_type",
        services.APPLY_EVENT_RESERVED_EVENT_TYPE.format(value="character_created"),
    ),
    (
        "metadata value not a string",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}}, "metadata": {"n": 1}},
        "invalid",
        "metadata.n",
        services.APPLY_EVENT_BAD_METADATA_VALUE.format(key="n", kind="int"),
    ),
    (
        "metadata value too long",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}}, "metadata": {"n": "x" * 1001}},
        "invalid",
        "metadata.n",
        services.APPLY_EVENT_BAD_METADATA_VALUE.format(key="n", kind="1001 characters"),
    ),
    (
        "metadata key too long",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}}, "metadata": {"k" * 101: "v"}},
        "invalid",
        "metadata",
        services.APPLY_EVENT_BAD_METADATA_KEY.format(value="k" * 101),
    ),
    (
        "too much metadata",
        lambda h, f: {
            "deltas": {h.pk: {"wealth": 0.1}},
            "metadata": {f"k{i}": "v" for i in range(51)},
        },
        "invalid",
        "metadata",
        services.APPLY_EVENT_TOO_MUCH_METADATA,
    ),
    (
        "empty idempotency key",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}}, "idempotency_key": ""},
        "invalid",
        "idempotency_key",
        services.APPLY_EVENT_BAD_IDEMPOTENCY_KEY,
    ),
]


@pytest.mark.parametrize(
    "build, code, field, message", [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
def test_apply_event_rejection_writes_nothing(hero, foreigner, build, code, field, message):
    kwargs = {"world_id": "alpha", "event_type": "loot_found", **build(hero, foreigner)}
    before = table_state()

    with pytest.raises(LedgerError) as excinfo:
        apply_event(**kwargs)

    def expected(value):
        return value(hero, foreigner) if callable(value) else value

    assert excinfo.value.code == code
    assert excinfo.value.field == expected(field)
    assert str(excinfo.value) == expected(message)
    assert table_state() == before


def test_apply_event_rejects_a_character_of_another_world_naming_both_worlds(hero, foreigner):
    message = services.APPLY_EVENT_FOREIGN_CHARACTER.format(
        character_id=foreigner.pk, other="beta", world_id="alpha"
    )
    with pytest.raises(LedgerError, match=re.escape(message)):
        apply_event(world_id="alpha", event_type="trade", deltas={foreigner.pk: {"wealth": 0.1}})


def fail(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


FAULTS = {
    # step -> (module, function, which call fails: None for every call)
    "after the event insert": (statements, "insert_rows", EventEntityAxisDelta),
    "after the deltas": (statements, "insert_rows", EventMetadata),
    "after the score update": (state, "write_snapshots", None),
    "during the snapshot refresh": (statements, "update_rows", Character),
}


def failing(original, first_argument):
    """Wrap ``original`` so that the call whose first argument matches raises."""

    def wrapper(*args, **kwargs):
        if first_argument is None or args[0] == first_argument:
            fail()
        return original(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("step", FAULTS)
def test_a_failure_at_any_step_leaves_every_table_as_before(hero, monkeypatch, step):
    before = table_state()
    module, name, first_argument = FAULTS[step]
    monkeypatch.setattr(module, name, failing(getattr(module, name), first_argument))

    with pytest.raises(LedgerError) as excinfo:
        apply_event(
            world_id="alpha",
            event_type="brand_new_type",
            deltas={hero.pk: {"wealth": 0.1}},
            metadata={"a": "b"},
        )

    assert excinfo.value.code == "database_error"
    assert str(excinfo.value) == services.APPLY_EVENT_DATABASE_ERROR.format(
        error="OperationalError"
    )
    assert table_state() == before
    assert not EventType.objects.filter(name="brand_new_type").exists()


# --- idempotency ---------------------------------------------------------------------------


def test_retry_with_same_idempotency_key_returns_the_original_event(hero):
    kwargs = {
        "world_id": "alpha",
        "event_type": "loot_found",
        "deltas": {hero.pk: {"wealth": 0.1}},
        "metadata": {"source": "chest"},
        "idempotency_key": "req-1",
    }
    original = apply_event(**kwargs)
    before = table_state()

    retried = apply_event(**kwargs)

    assert retried.pk == original.pk
    assert table_state() == before
    assert scores_of(hero)["wealth"] == 0.5


@pytest.mark.parametrize(
    "change",
    [
        {"deltas": {"wealth": 0.2}},
        {"event_type": "taxes_paid"},
        {"metadata": {"source": "other"}},
    ],
    ids=["other delta", "other type", "other metadata"],
)
def test_reusing_an_idempotency_key_for_another_request_is_a_conflict(hero, change):
    kwargs = {
        "world_id": "alpha",
        "event_type": "loot_found",
        "deltas": {hero.pk: {"wealth": 0.1}},
        "metadata": {"source": "chest"},
        "idempotency_key": "req-1",
    }
    original = apply_event(**kwargs)
    before = table_state()
    if "deltas" in change:
        change = {"deltas": {hero.pk: change["deltas"]}}

    with pytest.raises(IdempotencyConflict) as excinfo:
        apply_event(**{**kwargs, **change})

    assert str(excinfo.value) == services.APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(
        key="req-1", event_id=original.pk
    )
    assert table_state() == before


def test_idempotency_keys_are_scoped_to_their_world(hero, foreigner):
    apply_event(
        world_id="alpha", event_type="t", deltas={hero.pk: {"wealth": 0.1}}, idempotency_key="k"
    )
    other = apply_event(
        world_id="beta", event_type="t", deltas={foreigner.pk: {"wealth": 0.1}}, idempotency_key="k"
    )
    assert other.world_id == "beta"


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


def test_apply_event_query_count_does_not_grow_with_axes_or_characters(
    django_assert_max_num_queries,
):
    one = CharacterFactory()
    many = [CharacterFactory() for _ in range(6)]

    def count(deltas):
        with CaptureQueriesContext(connection) as ctx:
            apply_event(world_id="alpha", event_type="tick", deltas=deltas)
        return len(ctx.captured_queries)

    count({one.pk: {"wealth": 0.1}})  # creates the event type: a one-off cost
    small = count({one.pk: {"wealth": 0.1}})
    large = count({c.pk: {"wealth": 0.1, "health": -0.1, "luck": 0.05} for c in many})

    assert small == large
    with django_assert_max_num_queries(12):
        apply_event(world_id="alpha", event_type="tick", deltas={one.pk: {"wealth": 0.1}})


def test_the_registry_is_read_once_whoever_asks_first(hero):
    """apply_event's raw world read and the ORM's must give the same registry cache key."""
    from axes.registry import get_world_registry
    from worlds.models import World

    apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    with CaptureQueriesContext(connection) as ctx:
        get_world_registry(World.objects.get(pk="alpha"))
        apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
        get_world_registry(World.objects.get(pk="alpha"))
    assert not [
        q for q in ctx.captured_queries if 'FROM "axis' in q["sql"] or "FROM axis" in q["sql"]
    ]


@pytest.mark.parametrize("event_type", ["tick\n", "tick\r\n", "\ntick"])
def test_an_event_type_with_a_line_break_is_refused(hero, event_type):
    before = table_state()

    with pytest.raises(LedgerError) as excinfo:
        apply_event(world_id="alpha", event_type=event_type, deltas={hero.pk: {"wealth": 0.1}})

    assert (excinfo.value.code, excinfo.value.field, excinfo.value.message) == (
        "invalid",
        "event_type",
        services.APPLY_EVENT_BAD_EVENT_TYPE.format(value=event_type),
    )
    assert table_state() == before
